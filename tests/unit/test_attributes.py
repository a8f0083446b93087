"""Attributes declared in touchlog.toml: their declarations checked on load, their values
typed by one rule, and which stored paths of an event are personal data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from touchlog.domain.attributes import attribute_values, declarations
from touchlog.domain.customer import Customer
from touchlog.domain.errors import InvalidInput
from touchlog.domain.personal import personal_paths
from touchlog.domain.settings import Settings

DECLARED = declarations({"utm_campaign": "text", "quantity": "int", "price": "decimal",
                         "delivered": "date",
                         "referrer_email": {"type": "text", "personal": True}}, "t")


def load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "touchlog.toml"
    path.write_text(text, encoding="utf-8")
    return Settings.load(config=path)


def test_settings_declare_contact_and_customer_attributes(tmp_path: Path) -> None:
    settings = load(tmp_path, '[contact_attributes]\nutm_campaign = "text"\n'
                              'referrer_email = {type = "text", personal = true}\n'
                              '[customer_attributes]\nemployees = "int"\n')
    assert {n: (a.type, a.personal) for n, a in settings.contact_attributes.items()} == {
        "utm_campaign": ("text", False), "referrer_email": ("text", True)}
    assert settings.customer_attributes["employees"].type == "int"
    assert load(tmp_path, "").contact_attributes == {}


@pytest.mark.parametrize(("text", "message"), [
    ('[contact_attributes]\nquantity = "integer"', "expected a type: text, int, decimal, date"),
    ('[contact_attributes]\n"Utm Campaign" = "text"', "expected a lower-case name"),
    ('[contact_attributes]\nx = {type = "int", secret = true}', "unknown setting(s)"),
    ('[contact_attributes]\nx = {type = "int", personal = "yes"}', "expected true or false"),
    ('contact_attributes = "text"', "expected a table"),
])
def test_bad_declarations_are_refused_on_load_naming_the_setting(
        tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        load(tmp_path, text)
    assert message in str(refused.value) and "contact_attributes" in str(refused.value)


def test_values_are_stored_typed_as_plain_json() -> None:
    values = attribute_values(DECLARED, {"quantity": " 007", "price": "1.50",
                                         "delivered": "2019-03-04", "utm_campaign": "spring",
                                         "referrer_email": ""})
    assert values == {"delivered": "2019-03-04", "price": "1.50", "quantity": 7,
                      "utm_campaign": "spring"}
    assert list(values) == sorted(values)
    assert attribute_values(DECLARED, {"price": "-0"}) == {"price": "0"}
    assert attribute_values(DECLARED, {"price": ""}, clearing=True) == {"price": None}


@pytest.mark.parametrize(("name", "value", "reason"), [
    ("quantity", "3.5", "expected a whole number"),
    ("quantity", "9" * 20, "beyond"),
    ("price", "NaN", "not a finite number"),
    ("price", "1e40", "more than 30 digits"),
    ("price", "0.0000000000001", "digits after the decimal point"),
    ("delivered", "2019-02-30", "expected a date"),
    ("delivered", "2019-03-04T10:00", "expected a date"),
    ("utm_campaign", "x" * 201, "longer than 200 characters"),
])
def test_a_value_not_of_its_type_is_refused_naming_attribute_and_value(
        name: str, value: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        attribute_values(DECLARED, {name: value})
    assert refused.value.field == f"attribute {name}" and reason in refused.value.reason


def test_an_undeclared_attribute_is_refused_naming_it_and_the_closest() -> None:
    with pytest.raises(InvalidInput) as refused:
        attribute_values(DECLARED, {"utm_campain": "x"})
    assert refused.value.value == "utm_campain"
    assert "did you mean utm_campaign" in refused.value.reason
    with pytest.raises(InvalidInput, match="none is declared"):
        attribute_values({}, {"sector": "x"}, "customer")


SETTINGS = Settings(contact_attributes=DECLARED, customer_attributes=declarations(
    {"sector": "text", "owner_phone": {"type": "text", "personal": True}}, "t"))


@pytest.mark.parametrize(("kind", "state", "paths"), [
    ("ContactLogged", {"purpose": "p", "summary": None, "place": None, "person": None,
                       "attributes": {"utm_campaign": "x"}},
     ["purpose", "summary", "place"]),
    ("ContactLogged", {"purpose": None, "summary": None, "place": None,
                       "person": {"name": "Ann", "email": None},
                       "attributes": {"referrer_email": "a@b.c", "quantity": 1}},
     ["purpose", "summary", "place", "person.name", "person.email",
      "attributes.referrer_email"]),
    ("ContactAmended", {"changes": {"person": {"email": "a@b.c"},
                                    "attributes": {"referrer_email": None}}, "reason": "r"},
     ["changes.person.email", "reason", "changes.attributes.referrer_email"]),
    ("ProfileUpdated", {"changes": {"owner": "ann"},
                        "attributes": {"owner_phone": "1", "sector": "retail"}},
     ["attributes.owner_phone"]),
    ("FollowUpCompleted", {"follow_up_id": "f"}, []),
])
def test_personal_paths_name_the_fields_and_the_attributes_declared_personal(
        kind: str, state: dict[str, Any], paths: list[str]) -> None:
    assert personal_paths(kind, state, SETTINGS) == paths


def test_a_card_made_without_the_version_3_fields_is_logged_with_their_defaults() -> None:
    customer = Customer(reference="ACME", at="2018-01-05T00:00:00+00:00")
    card = {"contact_id": "k1", "occurred_at": "2018-01-05T00:00:00+00:00", "channel": "phone",
            "initiated_by": "company", "purpose": None, "summary": None, "place": None,
            "actor": None, "outcome": None, "rating": None, "amount": None,
            "stage_signal": None, "reason_category": None, "deliberate": True, "hard": False,
            "active": True}
    assert customer.log_contact(card)
    logged = customer.pending_events[-1]
    assert (logged.person, logged.attributes, logged.purchase) == (  # type: ignore[attr-defined]
        None, {}, False)


def test_a_derived_id_changes_with_the_person_attributes_and_purchase_only_when_given() -> None:
    from touchlog.domain.contact import Contact
    from touchlog.domain.values import ChannelInfo

    def contact(**fields: Any) -> Contact:
        return Contact(occurred_at="2018-01-05", channel="phone", **fields)

    plain = contact().derived_id("ACME")
    assert contact(purchase=False).derived_id("ACME", attributes={}) == plain
    ids = {plain, contact(purchase=True).derived_id("ACME"),
           contact(person="Ann").derived_id("ACME"),
           contact().derived_id("ACME", attributes={"quantity": 2})}
    assert len(ids) == 4
    card = contact(person="Ann").card("ACME", ChannelInfo("phone"), attributes={"quantity": 2})
    assert card["contact_id"] == contact(person="Ann").derived_id(
        "ACME", attributes={"quantity": 2})
