"""``touchlog timeline``: a customer's history in the order it happened."""

from __future__ import annotations

from typing import Any

import click

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
@click.option("--sources", is_flag=True,
              help="Name the import and line each contact and follow-up came from.")
@listing_options
@output_format
@click.pass_obj
def timeline(services: Services, customer: str, since: str | None, until: str | None,
             channel: str | None, include_retracted: bool, sources: bool, limit: int | None,
             reverse: bool, fmt: str | None) -> None:
    """Show a customer's contacts, stage changes and follow-ups, oldest first (--reverse:
    newest first).

    Example: touchlog timeline ACME --since 2018-01-01 --format json
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
        parts = [e["purpose"], e["summary"], e["outcome"],
                 e["amount"] and f"amount {e['amount']}", e["rating"] and f"rated {e['rating']}",
                 e["stage_signal"] and f"signals {e['stage_signal']}",
                 e["reason_category"] and f"why: {e['reason_category']}",
                 e["retracted"] and f"RETRACTED: {e['retraction_reason']}"]
        return "; ".join(str(p) for p in parts if p) or e["contact_id"]
    if kind == "stage_changed":
        signal = e["reason"].startswith("stage signal")  # the contact line above says why
        why = "" if signal else f": {e['reason']}"
        category = f" ({e['reason_category']})" if e["reason_category"] and not signal else ""
        return f"{e['from']} → {e['to']}{why}{category}"
    note = e.get("purpose") or e.get("reason")
    due = f"due {short_instant(e['due_at'])}" if e.get("due_at") else e["follow_up_id"]
    return due + (f": {note}" if note else "")
