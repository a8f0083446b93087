"""``touchlog demo``: a realistic, reproducible sample log, and what a user looks at first."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from touchlog.cli.render import emit
from touchlog.cli.services import Services

if TYPE_CHECKING:
    from touchlog.domain.application import ContactEntry, TouchpointLog

# Fixed dates, not "now": the same seed must give the same contacts (and ids) every day.
START = datetime(2025, 1, 6, 9, tzinfo=UTC)
DAYS = 680
STAFF = ("ann", "bob", "chen", "dana", "emil")
NAMES = ("Acme", "Birch", "Cobalt", "Delta", "Ember", "Fjord", "Granite", "Harbor", "Iris",
         "Juniper", "Kestrel", "Lumen", "Maple", "Nimbus", "Orchid", "Pioneer")
KINDS = ("Ltd", "GmbH", "Trading", "Foods", "Works", "Studio", "Labs", "Clinic")
CHANNELS = ("phone", "email", "meeting", "personal", "store", "web", "chat", "sms", "letter",
            "advertising", "public_relations", "after_sales", "call_center", "social", "club",
            "word_of_mouth", "delegated", "alliance", "random", "media", "fax")
WEIGHTS = (14, 14, 8, 8, 10, 10, 6, 4, 2, 4, 2, 5, 4, 3, 2, 2, 1, 1, 1, 2, 1)
NOTES = (None, None, "asked about delivery times", "wants a volume discount",
         "happy with the last order", "compared us with a competitor", "referred a colleague",
         "reported a late delivery", "requested a catalogue")
PURPOSES = ("introduction", "needs analysis", "product demo", "quote", "purchase",
            "delivery check", "complaint", "service visit", "renewal", "satisfaction survey")
JOURNEYS = (  # stage signals in order; dissolution then a signal is a win-back
    ("exploration",), ("exploration", "expansion"), ("exploration", "expansion", "commitment"),
    ("exploration", "dissolution"), ("exploration", "expansion", "dissolution", "exploration"),
    (),
)
JOURNEY_WEIGHTS = (30, 30, 20, 8, 5, 7)
# Why customers leave, by the design documents' shares (docs/domain.md).
WHY = ("staff_attitude", "product_dissatisfaction", "competition", "another_supplier",
       "moved_away", "died")
WHY_WEIGHTS = (68, 14, 9, 5, 3, 1)


@click.command()
@click.option("--customers", type=click.IntRange(1, 100_000), default=300, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--force", is_flag=True,
              help="Add the sample to a database that already holds customers.")
@click.pass_obj
def demo(services: Services, customers: int, seed: int, force: bool) -> None:
    """Fill a new database with a sample log, then show it; a database that already holds
    customers is refused unless --force (running it again with --force adds nothing).

    Example: touchlog --db demo.db demo --customers 300 --seed 7
    """
    from touchlog.domain.storage.events import registered_references

    log = services.log()
    held = len(registered_references(log))
    if held and not force:
        raise click.ClickException(
            f"{log.location.redacted} already holds {held:,} customer(s); the demo would add "
            f"{customers:,} sample customers (CUST-0001 …) to it, whose references may be "
            "real ones. Name a new database (touchlog --db demo.db demo), or add the sample "
            "anyway with --force")
    fresh = _record(log, customers, random.Random(seed))
    if fresh and customers >= 2:
        _corrections(log, customers)
    _show(log)


def _record(log: TouchpointLog, customers: int, rnd: random.Random) -> bool:
    entries = [e for i in range(1, customers + 1) for e in _customer(f"CUST-{i:04d}", rnd)]
    logged = False
    for start in range(0, len(entries), 2_000):  # one transaction per batch
        logged |= any(r.logged for r in log.log_contacts(entries[start:start + 2_000]))
    profiles = random.Random(rnd.random())
    for i in range(1, customers + 1):
        log.update_profile(f"CUST-{i:04d}", {
            "name": f"{profiles.choice(NAMES)} {profiles.choice(KINDS)} {i}",
            "email": f"contact{i}@example.com", "owner": profiles.choice(STAFF)})
    return logged


def _customer(reference: str, rnd: random.Random) -> Iterator[ContactEntry]:
    from touchlog.domain.application import ContactEntry
    from touchlog.domain.contact import Contact, FollowUpPlan

    count = rnd.randint(4, 16)
    first = rnd.uniform(0, DAYS * 0.6)
    minutes = sorted(int(rnd.uniform(first, DAYS) * 1440) for _ in range(count))
    journey = rnd.choices(JOURNEYS, JOURNEY_WEIGHTS)[0]
    signal_at = {round((k + 1) * count / (len(journey) + 1)): s for k, s in enumerate(journey)}
    actor = rnd.choice(STAFF)
    why = random.Random(reference).choices(WHY, WHY_WEIGHTS)[0]  # keeps rnd's draws as they were
    for n, minute in enumerate(minutes):
        channel = rnd.choices(CHANNELS, WEIGHTS)[0]
        purpose = rnd.choice(PURPOSES)
        at = START + timedelta(minutes=minute)
        buys = purpose == "purchase" or (channel in ("store", "web") and rnd.random() < 0.6)
        card: dict[str, Any] = {
            "occurred_at": at, "channel": channel, "purpose": purpose, "actor": actor,
            "initiated_by": rnd.choice(("company", "company", "customer", "third_party")),
            "outcome": rnd.choice(("positive", "positive", "neutral", "negative")),
            "rating": rnd.choice((None, 3, 4, 5, 5, 2)),
            "amount": f"{rnd.randint(20, 4000)}.{rnd.randint(0, 99):02d}" if buys else None,
            "stage_signal": signal_at.get(n), "summary": rnd.choice(NOTES),
        }
        if card["stage_signal"] == "dissolution":
            card["reason_category"] = why
        plan = None
        if n == count - 1 and rnd.random() < 0.5:
            plan = FollowUpPlan(due_at=at + timedelta(days=rnd.randint(7, 120)),
                                purpose=rnd.choice(("call back", "send quote", "visit")))
        yield ContactEntry(reference, Contact(**card), plan)


def _corrections(log: TouchpointLog, customers: int) -> None:
    """One of each correction a real log has: an amendment, a retraction, settled follow-ups."""
    from touchlog.domain.contact import ContactChanges

    first, second = log.customer("CUST-0001"), log.customer("CUST-0002")
    amended = sorted(first.contact_ids)[0]
    log.amend_contact("CUST-0001", amended, ContactChanges(summary="corrected: visit on site"),
                      reason="summary typed into the wrong card", actor="ann")
    log.retract_contact("CUST-0002", sorted(second.contact_ids)[0],
                        reason="logged for the wrong customer", actor="bob")
    settle = [(c.reference, fid, f.scheduled_at) for c in (log.customer(f"CUST-{i:04d}")
                                                         for i in range(1, min(customers, 40) + 1))
              for fid, f in c.open_follow_ups.items()]
    for n, (reference, fid, scheduled_at) in enumerate(settle[:9]):
        if n % 3 == 0:  # done two days after it was scheduled (a fixed time, as the contacts)
            assert scheduled_at is not None
            done = datetime.fromisoformat(scheduled_at) + timedelta(days=2)
            log.complete_follow_up(reference, fid, actor="ann", at=done)
        elif n % 3 == 1:
            log.cancel_follow_up(reference, fid, reason="customer asked for no calls")
        else:
            log.reschedule_follow_up(reference, fid, due_at="2026-12-15", reason="on holiday")


def _show(log: TouchpointLog) -> None:
    from touchlog.cli.timeline import for_people
    from touchlog.projections.queries.reads import Queries
    from touchlog.projections.queries.timeline import build_timeline, customer_events

    queries = Queries(log)
    stages = Counter(record["stage"] for record in queries.archive())
    queue = queries.followups(status="overdue")
    click.echo(f"Sample log in {log.location.redacted}. Timeline of CUST-0001:\n")
    emit(for_people(build_timeline(customer_events(log, "CUST-0001"))), "table")
    click.echo("\nCustomers per stage:\n")
    emit([{"stage": s, "customers": n} for s, n in sorted(stages.items())], "table")
    click.echo(f"\nOverdue follow-ups ({len(queue)}; first 10):\n")
    emit(queue[:10], "table")
    click.echo("\nNext: touchlog timeline CUST-0002 · touchlog archive · touchlog followups")
    click.echo(f"Every report in one file: touchlog --db {log.location.redacted} report html "
               "-o report.html")
