"""The Customer aggregate's rules, asserted on the events it records."""

from __future__ import annotations

from typing import Any

import pytest

from touchlog.domain.customer import Customer
from touchlog.domain.errors import (
    ContactAlreadyRetracted,
    ContactNotFound,
    FollowUpError,
    InvalidInput,
)
from touchlog.domain.identity import customer_id
from touchlog.domain.values import Stage

T0 = "2018-01-05T00:00:00+00:00"


def card(contact_id: str, stage_signal: str | None = None, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict(
        contact_id=contact_id, occurred_at=T0, channel="phone", initiated_by="company",
        purpose=None, summary=None, place=None, actor="ann", outcome=None, rating=None,
        amount=None, stage_signal=stage_signal, reason_category=None, deliberate=True,
        hard=False, active=True,
    )
    base.update(fields)
    return base


def new_customer() -> Customer:
    customer = Customer(reference="ACME", at=T0)
    customer.collect_events()
    return customer


def event_names(customer: Customer) -> list[str]:
    return [type(e).__name__ for e in customer.collect_events()]


def test_customer_id_is_derived_from_the_reference() -> None:
    assert Customer(reference="ACME", at=T0).id == customer_id("ACME")
    assert customer_id("ACME") != customer_id("ACME2")


def test_registered_customer_enters_discovery_in_cycle_one() -> None:
    customer = Customer(reference="ACME", at=T0)
    assert (customer.stage, customer.cycle, customer.stage_since) == (Stage.DISCOVERY, 1, T0)
    assert event_names(customer) == ["Registered"]


def test_the_same_contact_twice_is_recorded_once() -> None:
    customer = new_customer()
    assert customer.log_contact(card("c1")) is True
    assert customer.log_contact(card("c1")) is False
    assert event_names(customer) == ["ContactLogged"]


def test_signal_ahead_of_current_stage_moves_forward_naming_the_contact() -> None:
    customer = new_customer()
    customer.log_contact(card("c1", "expansion"))
    assert event_names(customer) == ["ContactLogged"]  # the signal is a fact of the contact
    changed = customer.stage_history[-1]
    assert (changed.from_stage, changed.to_stage, changed.contact_id, changed.actor) == (
        "discovery", "expansion", "c1", "ann")
    assert customer.stage is Stage.EXPANSION


@pytest.mark.parametrize("signal", ["discovery", "exploration", "expansion"])
def test_signal_at_or_behind_current_stage_changes_nothing(signal: str) -> None:
    customer = new_customer()
    customer.log_contact(card("c1", "expansion"))
    customer.collect_events()
    customer.log_contact(card("c2", signal))
    assert event_names(customer) == ["ContactLogged"]
    assert customer.stage is Stage.EXPANSION


@pytest.mark.parametrize("start", ["discovery", "exploration", "expansion", "commitment"])
def test_dissolution_signal_ends_the_relationship_from_any_stage(start: str) -> None:
    customer = new_customer()
    if start != "discovery":
        customer.change_stage(Stage(start), T0, "setup", "ann")
    customer.log_contact(card("c1", "dissolution", occurred_at="2018-02-01T00:00:00+00:00"))
    assert customer.stage is Stage.DISSOLUTION
    assert customer.cycle == 1


def test_a_signal_after_dissolution_reopens_at_that_stage_in_a_new_cycle() -> None:
    customer = new_customer()
    customer.log_contact(card("c1", "dissolution"))
    customer.log_contact(card("c2", "discovery"))
    assert (customer.stage, customer.cycle) == (Stage.DISCOVERY, 2)
    customer.log_contact(card("c3", "dissolution"))
    customer.log_contact(card("c4", "commitment"))
    assert (customer.stage, customer.cycle) == (Stage.COMMITMENT, 3)


def test_a_contact_without_signal_leaves_a_dissolved_relationship_dissolved() -> None:
    customer = new_customer()
    customer.log_contact(card("c1", "dissolution"))
    customer.collect_events()
    customer.log_contact(card("c2"))
    assert event_names(customer) == ["ContactLogged"]
    assert customer.stage is Stage.DISSOLUTION


def test_explicit_stage_change_may_go_backwards_with_reason_and_actor() -> None:
    customer = new_customer()
    customer.log_contact(card("c1", "commitment"))
    customer.collect_events()
    customer.change_stage(Stage.EXPLORATION, T0, "re-evaluating", "bob")
    (changed,) = customer.collect_events()
    assert isinstance(changed, Customer.StageChanged)
    assert (changed.to_stage, changed.reason, changed.actor, changed.contact_id) == (
        "exploration", "re-evaluating", "bob", None)


@pytest.mark.parametrize(("reason", "actor", "field"), [("", "bob", "reason"),
                                                        ("  ", "bob", "reason"),
                                                        ("why", "", "actor")])
def test_explicit_stage_change_without_reason_or_actor_is_refused(
    reason: str, actor: str, field: str
) -> None:
    customer = new_customer()
    with pytest.raises(InvalidInput) as refused:
        customer.change_stage(Stage.EXPANSION, T0, reason, actor)
    assert refused.value.field == field
    assert customer.collect_events() == []


def test_explicit_change_to_the_stage_it_was_in_then_is_recorded_and_changes_nothing() -> None:
    customer = new_customer()
    assert customer.change_stage(Stage.DISCOVERY, T0, "why", "bob") is False
    assert event_names(customer) == ["StageChanged"]
    assert [s.to_stage for s in customer.stage_history] == ["discovery"]


def test_explicit_change_out_of_dissolution_starts_a_new_cycle() -> None:
    customer = new_customer()
    customer.change_stage(Stage.DISSOLUTION, T0, "moved", "bob")
    customer.change_stage(Stage.EXPLORATION, T0, "won back", "bob")
    assert (customer.stage, customer.cycle) == (Stage.EXPLORATION, 2)


def test_retraction_keeps_the_contact_and_records_the_reason() -> None:
    customer = new_customer()
    customer.log_contact(card("c1"))
    customer.retract_contact("c1", "not a real customer", actor="bob")
    events = customer.collect_events()
    assert [type(e).__name__ for e in events] == ["ContactLogged", "ContactRetracted"]
    assert "c1" in customer.contact_ids and "c1" in customer.retracted
    with pytest.raises(ContactAlreadyRetracted):
        customer.retract_contact("c1", "again", actor="bob")
    with pytest.raises(ContactNotFound):
        customer.retract_contact("nope", "why", actor="bob")


def test_amending_an_unknown_or_retracted_contact_is_refused() -> None:
    customer = new_customer()
    with pytest.raises(ContactNotFound):
        customer.amend_contact("nope", {"summary": "x"})
    customer.log_contact(card("c1"))
    customer.retract_contact("c1", "invalid")
    customer.collect_events()
    with pytest.raises(ContactAlreadyRetracted):
        customer.amend_contact("c1", {"summary": "x"})
    assert customer.collect_events() == []


def test_a_stage_signal_cannot_be_amended() -> None:
    customer = new_customer()
    customer.log_contact(card("c1"))
    with pytest.raises(InvalidInput, match="stage_signal"):
        customer.amend_contact("c1", {"stage_signal": "commitment"})


def test_follow_up_lifecycle_and_its_refusals() -> None:
    customer = new_customer()
    customer.schedule_follow_up("f1", "2018-02-01T00:00:00+00:00", "ann", at=T0,
                                purpose="call back")
    customer.reschedule_follow_up("f1", "2018-02-08T00:00:00+00:00", at=T0, reason="holiday",
                                  actor="ann")
    customer.complete_follow_up("f1", T0, actor="ann")
    assert event_names(customer) == [
        "FollowUpScheduled", "FollowUpRescheduled", "FollowUpCompleted"]
    with pytest.raises(FollowUpError, match="already completed"):
        customer.complete_follow_up("f1", T0, actor="ann")
    with pytest.raises(FollowUpError, match="already completed"):
        customer.cancel_follow_up("f1", T0, "no longer needed", actor="ann")
    with pytest.raises(FollowUpError, match="no follow-up with id 'f9'"):
        customer.complete_follow_up("f9", T0, actor="ann")
    with pytest.raises(FollowUpError, match="already scheduled"):
        customer.schedule_follow_up("f1", T0, "ann", at=T0)
    assert customer.collect_events() == []


def test_cancelling_twice_is_refused_and_cancel_needs_a_reason() -> None:
    customer = new_customer()
    customer.schedule_follow_up("f1", T0, "ann", at=T0)
    with pytest.raises(InvalidInput, match="reason"):
        customer.cancel_follow_up("f1", T0, " ", actor="ann")
    customer.cancel_follow_up("f1", T0, "customer asked", actor="ann")
    with pytest.raises(FollowUpError, match="already cancelled"):
        customer.cancel_follow_up("f1", T0, "again", actor="ann")
    assert customer.open_follow_ups == {}


def test_completing_with_an_unknown_contact_is_refused() -> None:
    customer = new_customer()
    customer.schedule_follow_up("f1", T0, "ann", at=T0)
    with pytest.raises(ContactNotFound):
        customer.complete_follow_up("f1", T0, contact_id="c-unknown", actor="ann")


def test_profile_update_records_only_what_changed() -> None:
    customer = new_customer()
    assert customer.update_profile({"name": "Acme Ltd", "owner": "ann"}) is True
    assert customer.update_profile({"name": "Acme Ltd"}) is False
    assert event_names(customer) == ["ProfileUpdated"]
    assert customer.owner == "ann"


def test_every_event_links_to_the_one_before_it() -> None:
    customer = Customer(reference="ACME", at=T0)
    customer.log_contact(card("c1", "expansion"))
    customer.change_stage(Stage.COMMITMENT, T0, "signed", "ann")
    events = customer.collect_events()
    links = [e.link for e in events]
    assert len(set(links)) == len(links) == 3
    assert customer.chain_head == links[-1]


def test_a_reason_category_goes_with_a_dissolution_and_is_refused_otherwise() -> None:
    customer = new_customer()
    customer.log_contact(card("c1", "exploration"))
    customer.log_contact(card("c2", "dissolution", occurred_at="2018-02-01T00:00:00+00:00",
                              reason_category="other"))
    customer.collect_events()
    with pytest.raises(InvalidInput, match="reason_category"):
        customer.change_stage(Stage.COMMITMENT, T0, "deal", "ann", reason_category="died")
    with pytest.raises(InvalidInput, match="reason_category"):
        customer.amend_contact("c1", {"reason_category": "died"})
    assert customer.collect_events() == []
    customer.amend_contact("c2", {"reason_category": "died"})
    assert customer.stage_history[-1].reason_category == "died"
    customer.change_stage(Stage.EXPLORATION, "2018-03-01T00:00:00+00:00", "back", "ann")
    customer.change_stage(Stage.DISSOLUTION, "2018-04-01T00:00:00+00:00", "gone", "ann",
                          reason_category="competition")
    assert [(s.to_stage, s.reason_category) for s in customer.stage_history] == [
        ("discovery", None), ("exploration", None), ("dissolution", "died"),
        ("exploration", None), ("dissolution", "competition")]


def test_a_new_event_equals_the_one_its_class_makes_and_wrong_fields_are_refused() -> None:
    """``Chained.trigger_event`` makes events without the dataclass's ``__init__``: the
    same event, and the same refusal of fields the class does not have or lacks."""
    customer = new_customer()
    customer.log_contact(card("c-1", purpose="visit"))
    [made] = customer.collect_events()
    assert made == Customer.ContactLogged(**vars(made))  # every field, as __init__ sets them
    assert isinstance(made.originator_id, type(customer.id)) and made.originator_version == 2
    with pytest.raises(TypeError, match="ContactLogged takes"):
        customer.trigger_event(Customer.ContactLogged, **{**card("c-2"), "colour": "red"})
    with pytest.raises(TypeError, match="ContactLogged takes"):
        customer.trigger_event(Customer.ContactLogged, **card("c-3"))  # no person, source…
    assert customer.version == 2 and not customer.collect_events()  # nothing recorded
