"""Sealing personal values (domain/sealing.py) and the rules of erasure on the aggregate."""

from __future__ import annotations

import copy
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from touchlog.domain.attributes import declarations
from touchlog.domain.customer import Customer
from touchlog.domain.errors import CustomerErased, InvalidInput
from touchlog.domain.sealing import (
    ERASED,
    UNREADABLE,
    erased_state,
    is_sealed,
    new_key,
    open_state,
    open_value,
    seal_state,
)
from touchlog.domain.settings import Settings

KEY = AESGCM(new_key())
WHO = uuid4()


def keys(customer: object, epoch: int) -> AESGCM:
    return KEY


def test_personal_values_are_sealed_nested_ones_too_and_nulls_stay_null() -> None:
    state = {"changes": {"name": "Ann", "email": None, "owner": "bob"}, "timestamp": "t"}
    sealed = seal_state(Customer.ProfileUpdated, state, keys, WHO, 2, 1)
    assert is_sealed(sealed["changes"]["name"]) and sealed["changes"]["email"] is None
    assert sealed["changes"]["owner"] == "bob"
    assert state["changes"]["name"] == "Ann"  # the given state is left alone
    assert open_state(Customer.ProfileUpdated, sealed, keys, WHO, 2) == state


def test_values_at_every_depth_are_sealed_in_copies_and_all_open_back() -> None:
    state = {"changes": {"purpose": "p", "person": {"name": "Ann", "email": "a@b.c"},
                         "summary": "s", "attributes": {"campaign": "spring"}},
             "reason": "typo", "contact_id": "c-1"}
    given = copy.deepcopy(state)
    settings = Settings(contact_attributes=declarations(
        {"campaign": {"type": "text", "personal": True}}, "t"))
    sealed = seal_state(Customer.ContactAmended, state, keys, WHO, 5, 1, settings)
    assert state == given  # the given state and its nested dicts are left alone
    values = [sealed["changes"]["purpose"], sealed["changes"]["summary"],
              sealed["changes"]["person"]["name"], sealed["changes"]["person"]["email"],
              sealed["changes"]["attributes"]["campaign"], sealed["reason"]]
    assert all(is_sealed(v) for v in values) and sealed["contact_id"] == "c-1"
    assert open_state(Customer.ContactAmended, sealed, keys, WHO, 5) == given


def test_a_state_without_personal_values_is_returned_as_it_is() -> None:
    state = {"reference": "ACME", "at": "t"}
    assert seal_state(Customer.Registered, state, keys, WHO, 1, 1) is state


@pytest.mark.parametrize("customer, version, path", [
    (uuid4(), 3, "purpose"), (WHO, 4, "purpose"), (WHO, 3, "summary")])
def test_a_sealed_value_moved_to_another_customer_event_or_field_does_not_open(
        customer: object, version: int, path: str) -> None:
    sealed = seal_state(Customer.ContactLogged, {"purpose": "secret"}, keys, WHO, 3, 1)
    assert open_value(keys, customer, version, path, sealed["purpose"]) == UNREADABLE  # type: ignore[arg-type]


def test_a_value_whose_key_is_gone_reads_erased_and_a_damaged_one_unreadable() -> None:
    sealed = seal_state(Customer.ContactLogged, {"purpose": "secret"}, keys, WHO, 3, 1)
    assert open_value(lambda c, e: None, WHO, 3, "purpose", sealed["purpose"]) == ERASED
    assert open_value(keys, WHO, 3, "purpose", sealed["purpose"][:-4] + "AAAA") == UNREADABLE
    assert open_value(keys, WHO, 3, "purpose", "sealed:x:!!") == UNREADABLE


def test_erasing_a_state_marks_declared_values_in_the_clear_and_sealed_ones() -> None:
    state = {"purpose": "in the clear", "summary": None, "place": "sealed:1:abc",
             "actor": "ann"}
    assert erased_state(Customer.ContactLogged, state) == {
        "purpose": ERASED, "summary": None, "place": ERASED, "actor": "ann"}


def _customer() -> Customer:
    return Customer(reference="ACME", at="2026-01-01T00:00:00+00:00")


def test_an_erased_customer_records_nothing_but_a_new_relationship() -> None:
    customer = _customer()
    assert customer.erase("gdpr-17", "R1", "2026-02-01T00:00:00+00:00")
    assert not customer.erase("gdpr-17", "R1", "2026-02-01T00:00:00+00:00")  # once
    with pytest.raises(CustomerErased):
        customer.update_profile({"name": "Ann"})
    customer.renew_relationship("2026-03-01T00:00:00+00:00")
    assert (customer.erased, customer.key_epoch) == (False, 2)
    assert customer.update_profile({"name": "Ann"})


def test_a_hold_refuses_erasure_until_lifted_and_each_is_recorded() -> None:
    customer = _customer()
    customer.place_hold("case 7", "2026-02-01T00:00:00+00:00")
    with pytest.raises(InvalidInput, match="legal hold stands"):
        customer.erase("gdpr-17", "R1", "2026-02-02T00:00:00+00:00")
    with pytest.raises(InvalidInput, match="already stands"):
        customer.place_hold("case 8", "2026-02-02T00:00:00+00:00")
    customer.lift_hold("closed", "2026-02-03T00:00:00+00:00")
    with pytest.raises(InvalidInput, match="no legal hold"):
        customer.lift_hold("closed", "2026-02-03T00:00:00+00:00")
    customer.erase("gdpr-17", "R1", "2026-02-04T00:00:00+00:00")
    kinds = [type(e).__name__ for e in customer.collect_events()]
    assert kinds == ["Registered", "HoldPlaced", "HoldLifted", "Erased"]
    with pytest.raises(InvalidInput, match="not erased"):
        _customer().renew_relationship("2026-03-01T00:00:00+00:00")
