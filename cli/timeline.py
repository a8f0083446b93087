"""``touchlog timeline``: a customer's history in the order it happened."""

from __future__ import annotations

from typing import Any

import click

from touchlog.cli.attributes import attr_option, attribute_filter
from touchlog.cli.render import (
    chosen_format,
    emit,
    listed,
    listing_options,
    output_format,
    short_instant,
)
from touchlog.cli.services import Services


@click.command()
@click.argument("customer")
@click.option("--since", help="Only entries at or after this time.")
@click.option("--until", help="Only entries at or before this time; a date alone "
              "(2017-02-08) includes that whole day.")
@click.option("--channel", help="Only contacts through this channel.")
@click.option("--include-retracted", is_flag=True, help="Show contacts found invalid too.")
@attr_option("Only contacts with this attribute value (utm_campaign=spring); repeatable: "
             "all must hold.")
@click.option("--sources", is_flag=True,
              help="Name the import and line each contact and follow-up came from.")
@listing_options
@output_format
@click.pass_obj
def timeline(services: Services, customer: str, since: str | None, until: str | None,
             channel: str | None, include_retracted: bool, attrs: tuple[str, ...],
             sources: bool, limit: int | None, reverse: bool, fmt: str | None) -> None:
    """Show a customer's contacts, stage changes and follow-ups, oldest first (--reverse:
    newest first).

    Example: touchlog timeline ACME --since 2018-01-01 --format json

    Example: touchlog timeline ACME --attr utm_campaign=spring
    """
    from touchlog.domain.values import parse_instant, upper_bound
    from touchlog.projections.queries.timeline import (
        TimelineFilter,
        build_timeline,
        customer_events,
    )

    window = TimelineFilter(
        since=parse_instant(since, "since") if since else None,
        until=upper_bound(until, "until") if until else None,
        channel=channel, include_retracted=include_retracted,
        attributes=attribute_filter(services.settings.contact_attributes, attrs, "contact"),
    )
    entries = listed(build_timeline(customer_events(services.log(create=False), customer),
                                    window, sources=sources), limit, reverse)
    emit(for_people(entries, sources) if chosen_format(fmt) == "table" else entries, fmt)


def for_people(entries: list[dict[str, Any]], sources: bool = False) -> list[dict[str, Any]]:
    """One short line per entry (at, type, channel, actor, detail, and with ``sources`` the
    source); JSON and CSV keep all."""
    return [{"at": e["at"], "type": e["type"],
             "channel": e.get("channel"), "actor": e.get("actor") or e.get("owner"),
             "detail": _detail(e), **({"source": e.get("source")} if sources else {})}
            for e in entries]


def _detail(e: dict[str, Any]) -> str:
    kind = e["type"]
    if kind == "contact":
        person = e["person"] or {}
        parts = [e["purpose"], e["summary"], e["outcome"],
                 e["amount"] and f"amount {e['amount']}",
                 e["purchase"] and not e["amount"] and "purchase",
                 e["rating"] and f"rated {e['rating']}",
                 " ".join(p for p in (person.get("name"), person.get("email") and
                                      f"<{person['email']}>") if p),
                 *(f"{name}={value}" for name, value in e["attributes"].items()),
                 e["stage_signal"] and f"signals {e['stage_signal']}",
                 e["reason_category"] and f"why: {e['reason_category']}",
                 e["retracted"] and f"RETRACTED: {e['retraction_reason']}"]
        return "; ".join(str(p) for p in parts if p) or e["contact_id"]
    if kind == "merged":
        return f"customer {e['merged']} merged into this one: {e['reason']}"
    if kind == "stage_changed":
        signal = e["reason"].startswith("stage signal")  # the contact line above says why
        why = "" if signal else f": {e['reason']}"
        category = f" ({e['reason_category']})" if e["reason_category"] and not signal else ""
        return f"{e['from']} → {e['to']}{why}{category}"
    note = e.get("purpose") or e.get("reason")
    due = f"due {short_instant(e['due_at'])}" if e.get("due_at") else e["follow_up_id"]
    return due + (f": {note}" if note else "")
