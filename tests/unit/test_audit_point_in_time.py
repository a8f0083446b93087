"""Point-in-time reconstruction on two clocks: when things happened, and when they were known."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from touchlog.domain.customer import Customer
from touchlog.domain.values import Stage
from touchlog.projections.audit.replay import NothingKnown, audit_rows, reconstruct


def card(contact_id: str, occurred_at: str, stage_signal: str | None = None,
         summary: str | None = None) -> dict[str, Any]:
    return {"contact_id": contact_id, "occurred_at": occurred_at, "channel": "phone",
            "initiated_by": "company", "purpose": None, "summary": summary, "place": None,
            "actor": "ann", "outcome": None, "rating": None, "amount": None,
            "stage_signal": stage_signal, "reason_category": None,
            "deliberate": True, "hard": False, "active": True}


def moment() -> datetime:
    """A recording-clock instant strictly between the events before and after it."""
    time.sleep(0.002)
    now = datetime.now(UTC)
    time.sleep(0.002)
    return now


def at(day: int) -> datetime:
    return datetime(2018, 1, day, tzinfo=UTC)


def iso(day: int) -> str:
    return at(day).isoformat()


@pytest.fixture
def story() -> tuple[list[Customer.Event], dict[str, datetime]]:
    """ACME: contacts on days 5 and 10, then one from day 3 recorded late (backdated)."""
    customer = Customer(reference="ACME", at=iso(5))  # v1
    customer.log_contact(card("c-1", iso(5), "exploration"))  # v2: its signal is a fact
    customer.schedule_follow_up("f-1", iso(20), "ann", at=iso(5), purpose="call back",
                                contact_id="c-1")  # v3
    customer.log_contact(card("c-2", iso(10), summary="first"))  # v4
    before_backdating = moment()
    customer.log_contact(card("c-0", iso(3)))  # v5: happened on day 3, recorded late
    customer.amend_contact("c-2", {"summary": "corrected"}, reason="typo", actor="ann")  # v6
    customer.complete_follow_up("f-1", iso(12), contact_id="c-2", actor="ann")  # v7
    customer.change_stage(Stage.EXPANSION, iso(15), "second order", "ann")  # v8
    return list(customer.collect_events()), {"before_backdating": before_backdating}


def contact_ids(state: dict[str, Any]) -> list[str]:
    return [c["contact_id"] for c in state["contacts"]]


def test_as_of_keeps_contacts_that_had_happened_including_backdated_ones(story: Any) -> None:
    events, _ = story

    state = reconstruct(events, as_of=at(6))

    assert contact_ids(state) == ["c-0", "c-1"]
    assert state["stage"]["stage"] == "exploration"
    assert [f["follow_up_id"] for f in state["open_follow_ups"]] == ["f-1"]


def test_known_at_before_the_backdated_recording_excludes_it(story: Any) -> None:
    events, times = story

    state = reconstruct(events, as_of=at(6), known_at=times["before_backdating"])

    assert contact_ids(state) == ["c-1"]
    assert state["head"]["version"] == 4
    assert state["versions"] == [1, 2, 3]


def test_amendments_apply_only_when_known(story: Any) -> None:
    events, times = story

    now = reconstruct(events)
    then = reconstruct(events, known_at=times["before_backdating"])

    assert [c["summary"] for c in now["contacts"] if c["contact_id"] == "c-2"] == ["corrected"]
    assert [c["summary"] for c in then["contacts"] if c["contact_id"] == "c-2"] == ["first"]
    assert 6 in now["versions"] and 6 not in then["versions"]


def test_stage_and_follow_ups_follow_the_world_clock(story: Any) -> None:
    events, _ = story

    day_13, day_16 = reconstruct(events, as_of=at(13)), reconstruct(events, as_of=at(16))

    assert day_13["stage"] == {"stage": "exploration", "since": iso(5), "cycle": 1, "version": 2}
    assert day_13["open_follow_ups"] == []  # completed on day 12
    assert day_16["stage"]["stage"] == "expansion"


def test_before_anything_happened_only_the_registration_is_used(story: Any) -> None:
    events, _ = story

    state = reconstruct(events, as_of=at(1))

    assert state["contacts"] == [] and state["open_follow_ups"] == []
    assert state["stage"] == {"stage": None, "since": None, "cycle": None, "version": 1}
    assert state["versions"] == [1]


def test_the_relationship_starts_at_its_earliest_fact_however_late_it_was_recorded(
        story: Any) -> None:
    events, times = story

    now = reconstruct(events, as_of=at(4))
    then = reconstruct(events, as_of=at(4), known_at=times["before_backdating"])

    assert now["stage"] == {"stage": "discovery", "since": iso(3), "cycle": 1, "version": 1}
    assert then["stage"]["stage"] is None  # the day-3 contact was not known yet


def test_nothing_known_before_the_first_recording_is_an_error(story: Any) -> None:
    events, _ = story

    with pytest.raises(NothingKnown):
        reconstruct(events, known_at=datetime(2000, 1, 1, tzinfo=UTC))


def test_retracted_contacts_are_listed_apart_with_the_reason() -> None:
    customer = Customer(reference="ACME", at=iso(5))
    customer.log_contact(card("c-1", iso(5)))
    customer.retract_contact("c-1", "not a real customer", actor="ann")

    state = reconstruct(customer.collect_events())

    assert state["contacts"] == []
    assert state["retracted_contacts"][0]["retraction"]["reason"] == "not a real customer"


def test_the_rows_view_has_one_row_per_fact(story: Any) -> None:
    events, _ = story

    rows = audit_rows(reconstruct(events, as_of=at(6)))

    assert [(r["kind"], r["id"]) for r in rows] == [
        ("audit", "ACME"), ("stage", "exploration"), ("contact", "c-0"), ("contact", "c-1"),
        ("follow_up", "f-1")]
