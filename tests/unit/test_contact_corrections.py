"""The aggregate's rules for a contact recorded again: its differences from what is stored,
and the id under which a contact an undo retracted is recorded again."""

from __future__ import annotations

from tests.unit.test_customer_rules import card, event_names, new_customer


def test_the_same_content_differs_in_nothing_and_other_content_names_each_field() -> None:
    customer = new_customer()
    customer.log_contact(card("c1", amount="10.00"))
    assert customer.differences(card("c1", amount="10.00")) == {}
    assert customer.differences(card("c1", amount="12.00", summary="x")) == {
        "summary": (None, "x"), "amount": ("10.00", "12.00")}


def test_an_amended_contact_is_compared_as_amended_and_as_first_recorded() -> None:
    customer = new_customer()
    customer.log_contact(card("c1", amount="10.00"))
    customer.amend_contact("c1", {"amount": "11.00"}, reason="typo")
    assert customer.differences(card("c1", amount="11.00")) == {}
    assert customer.differences(card("c1", amount="10.00")) == {}  # the source read again
    assert customer.differences(card("c1", amount="12.00")) == {"amount": ("11.00", "12.00")}


def test_a_contact_retracted_by_an_undo_is_recorded_again_under_a_new_id() -> None:
    customer = new_customer()
    customer.log_contact(card("c1"), source={"import": "i-1", "line": 2})
    customer.retract_contact("c1", "undo", source={"undo": "i-1"})
    assert customer.revived_id("c1") == "c1~2"
    customer.log_contact(card("c1~2"), source={"import": "i-2", "line": 2})
    customer.retract_contact("c1~2", "undo", source={"undo": "i-2"})
    assert customer.revived_id("c1") == "c1~3"
    assert event_names(customer) == ["ContactLogged", "ContactRetracted"] * 2


def test_a_contact_retracted_by_hand_is_not_recorded_again() -> None:
    customer = new_customer()
    customer.log_contact(card("c1"))
    customer.retract_contact("c1", "wrong customer")
    assert customer.undone == set() and customer.log_contact(card("c1")) is False
