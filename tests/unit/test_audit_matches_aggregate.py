"""For any history, the audit "now" is exactly the aggregate's own state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from touchlog.domain.customer import Customer
from touchlog.domain.errors import TouchlogError
from touchlog.domain.values import Stage
from touchlog.projections.audit.replay import reconstruct

FAR = datetime(9999, 1, 1, tzinfo=UTC)
days = st.integers(min_value=1, max_value=28).map(
    lambda d: datetime(2018, 2, d, tzinfo=UTC).isoformat())
signals = st.none() | st.sampled_from([s.value for s in Stage])
pick = st.integers(min_value=0, max_value=50)
steps = st.lists(st.one_of(
    st.tuples(st.just("contact"), days, signals),
    st.tuples(st.just("amend"), pick, days),
    st.tuples(st.just("retract"), pick),
    st.tuples(st.just("stage"), st.sampled_from(list(Stage)), days),
    st.tuples(st.just("schedule"), pick, days, st.booleans()),
    st.tuples(st.just("complete"), pick, days),
    st.tuples(st.just("cancel"), pick, days),
    st.tuples(st.just("reschedule"), pick, days),
    st.tuples(st.just("profile"), st.sampled_from(["name", "owner"]), st.text(max_size=3)),
), max_size=25)


def card(contact_id: str, occurred_at: str, stage_signal: str | None) -> dict[str, Any]:
    return {"contact_id": contact_id, "occurred_at": occurred_at, "channel": "phone",
            "initiated_by": "company", "purpose": None, "summary": None, "place": None,
            "actor": "ann", "outcome": None, "rating": None, "amount": None,
            "stage_signal": stage_signal, "reason_category": None,
            "deliberate": True, "hard": False, "active": True}


def run(customer: Customer, step: tuple[Any, ...]) -> None:
    kind, *args = step
    contacts = sorted(customer.contact_ids)
    follow_ups = sorted(customer.follow_ups)
    n = args[0] if isinstance(args[0], int) else 0
    chosen_contact = contacts[n % len(contacts)] if contacts else ""
    chosen_follow_up = follow_ups[n % len(follow_ups)] if follow_ups else "none"
    if kind == "contact":
        customer.log_contact(card(f"c-{len(contacts)}", args[0], args[1]))
    elif kind == "amend":
        customer.amend_contact(chosen_contact, {"occurred_at": args[1]}, actor="ann")
    elif kind == "retract":
        customer.retract_contact(chosen_contact, "invalid", actor="ann")
    elif kind == "stage":
        customer.change_stage(args[0], args[1], "decided", "ann")
    elif kind == "schedule":
        linked = chosen_contact if args[2] and chosen_contact else None
        customer.schedule_follow_up(f"f-{len(follow_ups)}", args[1], "ann", at=args[1],
                                    contact_id=linked)
    elif kind == "complete":
        customer.complete_follow_up(chosen_follow_up, args[1], actor="ann")
    elif kind == "cancel":
        customer.cancel_follow_up(chosen_follow_up, args[1], "no need", actor="ann")
    elif kind == "reschedule":
        customer.reschedule_follow_up(chosen_follow_up, args[1], at=args[1], actor="ann")
    else:
        customer.update_profile({args[0]: args[1]})


@settings(max_examples=150, deadline=None)
@given(steps)
def test_audit_now_equals_the_aggregate_for_random_histories(history: list[Any]) -> None:
    customer = Customer(reference="ACME", at="2018-02-01T00:00:00+00:00")
    for step in history:
        try:
            run(customer, step)
        except TouchlogError:
            pass  # a refused command records nothing; the history goes on
    events = list(customer.collect_events())

    state = reconstruct(events)

    assert state["stage"]["stage"] == customer.stage.value
    assert state["stage"]["cycle"] == customer.cycle
    assert state["stage"]["since"] == customer.stage_since
    assert {c["contact_id"] for c in state["contacts"]} == customer.contact_ids - customer.retracted
    assert {c["contact_id"] for c in state["retracted_contacts"]} == customer.retracted
    assert {f["follow_up_id"]: f["due_at"] for f in state["open_follow_ups"]} == {
        key: f.due_at for key, f in customer.open_follow_ups.items()}
    assert state["profile"] == customer.profile
    assert state["head"] == {"version": customer.version, "link": customer.chain_head}
    assert reconstruct(events, as_of=FAR, known_at=FAR) | {"as_of": None, "known_at": None} \
        == state
