"""The audit "now" says what the projections say, for random histories on a real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from touchlog.domain.application import TouchpointLog
from touchlog.domain.contact import Contact, FollowUpPlan
from touchlog.domain.errors import TouchlogError
from touchlog.domain.settings import Settings
from touchlog.domain.values import Stage
from touchlog.projections.audit.replay import reconstruct
from touchlog.projections.engine.runner import Projector
from touchlog.projections.queries.reads import Queries

days = st.integers(min_value=1, max_value=28).map(lambda d: datetime(2018, 3, d, tzinfo=UTC))
pick = st.integers(min_value=0, max_value=20)
steps = st.lists(st.one_of(
    st.tuples(st.just("contact"), days, st.none() | st.sampled_from(list(Stage)), st.booleans()),
    st.tuples(st.just("retract"), pick),
    st.tuples(st.just("stage"), st.sampled_from(list(Stage)), days),
    st.tuples(st.just("complete"), pick, days),
    st.tuples(st.just("cancel"), pick),
    st.tuples(st.just("reschedule"), pick, days),
), min_size=1, max_size=12)


def apply(app: TouchpointLog, step: tuple[Any, ...], counter: list[int]) -> None:
    kind, *args = step
    customer = app.customer("ACME") if kind != "contact" else None
    contacts = sorted(customer.contact_ids - customer.retracted) if customer else []
    follow_ups = sorted(customer.open_follow_ups) if customer else []
    n = args[0] if isinstance(args[0], int) else 0
    if kind == "contact":
        counter[0] += 1
        plan = FollowUpPlan(due_at=args[0], owner="ann") if args[2] else None
        app.log_contact("ACME", Contact(occurred_at=args[0], channel="phone", actor="ann",
                                        stage_signal=args[1], summary=f"#{counter[0]}"),
                        follow_up=plan)
    elif kind == "retract" and contacts:
        app.retract_contact("ACME", contacts[n % len(contacts)], "invalid", actor="ann")
    elif kind == "stage":
        app.change_stage("ACME", args[0], "decided", "ann", at=args[1])
    elif kind == "complete" and follow_ups:
        app.complete_follow_up("ACME", follow_ups[n % len(follow_ups)], at=args[1])
    elif kind == "cancel" and follow_ups:
        app.cancel_follow_up("ACME", follow_ups[n % len(follow_ups)], "no need")
    elif kind == "reschedule" and follow_ups:
        app.reschedule_follow_up("ACME", follow_ups[n % len(follow_ups)], args[1])


@settings(max_examples=25, deadline=None)
@given(steps)
def test_audit_now_agrees_with_the_projections(history: list[Any]) -> None:
    with TemporaryDirectory() as folder:
        app = TouchpointLog(Settings(db=str(Path(folder) / "touchlog.db")))
        app.register("ACME", at="2018-03-01")
        counter = [0]
        for step in history:
            try:
                apply(app, step, counter)
            except TouchlogError:
                pass  # refused: nothing recorded
        queries = Queries(app)
        try:
            state = reconstruct(app.history("ACME"))
            stage = queries.stage("ACME")
            archive = queries.archive("ACME")[0]
            scheduled = {f["follow_up_id"]: f["due_at"] for f in queries.followups()
                         if f["kind"] == "scheduled" and f["customer"] == "ACME"}
        finally:
            queries.close()
            app.close()

    assert (state["stage"]["stage"], state["stage"]["cycle"]) == (stage["stage"], stage["cycle"])
    assert datetime.fromisoformat(state["stage"]["since"]) == datetime.fromisoformat(
        stage["since"])
    assert len(state["contacts"]) == archive["contacts"]
    assert {f["follow_up_id"]: datetime.fromisoformat(f["due_at"])
            for f in state["open_follow_ups"]} == {
        k: datetime.fromisoformat(v) for k, v in scheduled.items()}


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def projected(projector: Projector) -> dict[str, Any]:
    """ACME as the projection tables hold it: stage, contact cards, open follow-ups."""
    snap = projector.snapshot()
    # (the report summaries have no customer column: they count over every customer)
    rows = {t: [r for r in snap[t] if r.get("customer") == "ACME"] for t in snap}
    stage = rows["stage_current"][0]
    return {
        "stage": (stage["stage"], stage["cycle"], instant(stage["since"])),
        "contacts": sorted((r["contact_id"], instant(r["occurred_at"]), r["summary"],
                            bool(r["retracted"])) for r in rows["archive_contacts"]),
        "live_contacts": rows["archive_customers"][0]["contacts"],
        "open": {r["follow_up_id"]: instant(r["due_at"])
                 for r in rows["followup_items"] if r["status"] == "open"},
    }


def audited(state: dict[str, Any]) -> dict[str, Any]:
    """The same facts from the audit's reconstruction."""
    stage = state["stage"]
    cards = [(c, False) for c in state["contacts"]] + [
        (c, True) for c in state["retracted_contacts"]]
    return {
        "stage": (stage["stage"], stage["cycle"], instant(stage["since"])),
        "contacts": sorted((c["contact_id"], instant(c["occurred_at"]), c["summary"], gone)
                           for c, gone in cards),
        "live_contacts": len(state["contacts"]),
        "open": {f["follow_up_id"]: instant(f["due_at"]) for f in state["open_follow_ups"]},
    }


def after_the_clock_moves_past(moment: datetime) -> None:
    """Makes the next recorded event strictly later than ``moment``: boundaries stay exact."""
    while datetime.now(UTC) <= moment:
        pass


@settings(max_examples=20, deadline=None)
@given(steps, st.data())
def test_audit_known_at_t_equals_what_the_projections_held_at_t(history: list[Any],
                                                                 data: st.DataObject) -> None:
    """After each step the projections catch up; their rows then are the audit as of then.

    For every step, T is the recorded time of its last event (exactly on the boundary) and
    a random instant before the next step's first event.
    """
    with TemporaryDirectory() as folder:
        app = TouchpointLog(Settings(db=str(Path(folder) / "touchlog.db")))
        projector = Projector(app)
        try:
            app.register("ACME", at="2018-03-01")
            held: list[tuple[datetime, dict[str, Any]]] = []  # (T, rows) after each step
            counter = [0]
            for step in [None, *history]:
                if step is not None:
                    try:
                        apply(app, step, counter)
                    except TouchlogError:
                        pass  # refused: nothing recorded, the previous rows still hold
                projector.catch_up()
                last = app.history("ACME")[-1].timestamp
                held.append((last, projected(projector)))
                after_the_clock_moves_past(last)
            events = app.history("ACME")
        finally:
            projector.close()
            app.close()

    times = [e.timestamp for e in events]
    assert times == sorted(times)
    for k, (moment, rows) in enumerate(held):
        later = [t for t in times if t > moment]
        # Any instant from the step's last event up to (excluding) the next step's first.
        gap = (later[0] - moment) // timedelta(microseconds=1) if later else 10**9
        share = data.draw(st.integers(0, 999_999), label=f"T{k} (millionths of the gap)")
        inside = moment + timedelta(microseconds=gap * share // 1_000_000)
        for t in (moment, inside):
            assert audited(reconstruct(events, known_at=t)) == rows, (k, t)
