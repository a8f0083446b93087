"""The audit "now" says what the projections say, for random histories on a real store."""

from __future__ import annotations

from datetime import UTC, datetime
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
from touchlog.projections.audit import reconstruct
from touchlog.projections.queries import Queries

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
                                        stage_signal=args[1], summary=f"#{counter[0]}"), plan)
    elif kind == "retract" and contacts:
        app.retract_contact("ACME", contacts[n % len(contacts)], "invalid", "ann")
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
