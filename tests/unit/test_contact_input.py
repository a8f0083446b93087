"""Contact cards and their refusals: every bad value names the field and the value."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from touchlog.domain.chain import canonical_json
from touchlog.domain.contact import Contact, FollowUpPlan, validated
from touchlog.domain.errors import InvalidInput
from touchlog.domain.identity import NAMESPACE
from touchlog.domain.settings import Settings
from touchlog.domain.values import MAX_LONG_TEXT, Stage, iso, parse_instant


def contact(**fields: Any) -> Contact:
    return validated(Contact, {"occurred_at": "2018-01-05", "channel": "phone", **fields})


@pytest.mark.parametrize(("text", "expected"), [
    ("2018-01-05", datetime(2018, 1, 5, tzinfo=UTC)),
    ("2018-01-24 3:12:16", datetime(2018, 1, 24, 3, 12, 16, tzinfo=UTC)),
    ("2018-01-24T03:12", datetime(2018, 1, 24, 3, 12, tzinfo=UTC)),
    ("2018-01-24T03:12:16Z", datetime(2018, 1, 24, 3, 12, 16, tzinfo=UTC)),
    ("2018-01-24T03:12:16+02:00", datetime(2018, 1, 24, 1, 12, 16, tzinfo=UTC)),
    ("2018-01-24T03:12:16.5-0130", datetime(2018, 1, 24, 4, 42, 16, 500000, tzinfo=UTC)),
])
def test_instants_in_text_are_read_as_utc_unless_an_offset_says_otherwise(
    text: str, expected: datetime
) -> None:
    assert parse_instant(text, "occurred_at") == expected


def test_an_aware_datetime_is_converted_to_utc() -> None:
    moment = datetime(2018, 1, 5, 12, tzinfo=timezone(timedelta(hours=8)))
    assert contact(occurred_at=moment).occurred_at == datetime(2018, 1, 5, 4, tzinfo=UTC)


@pytest.mark.parametrize(("fields", "field", "reason"), [
    ({"occurred_at": datetime(2018, 1, 5)}, "occurred_at", "needs a time zone"),
    ({"occurred_at": "2018-02-30"}, "occurred_at", "not a real date"),
    ({"occurred_at": "0000-01-01"}, "occurred_at", "not a real date"),
    ({"occurred_at": "yesterday"}, "occurred_at", "ISO 8601"),
    ({"channel": "Pigeon Post"}, "channel", "lower-case name"),
    ({"rating": 7}, "rating", "from 1 to 5"),
    ({"rating": "abc"}, "rating", "from 1 to 5"),
    ({"amount": "-3"}, "amount", "must not be negative"),
    ({"amount": "abc"}, "amount", "not a decimal"),
    ({"amount": "NaN"}, "amount", "not a finite"),
    ({"amount": "1e30"}, "amount", "larger than the limit"),
    ({"stage_signal": "courtship"}, "stage_signal", "unknown stage"),
    ({"outcome": "great"}, "outcome", "expected one of"),
    ({"initiated_by": "martians"}, "initiated_by", "expected one of"),
    ({"summary": "x" * (MAX_LONG_TEXT + 1)}, "summary", "longer than"),
    ({"place": "x" * 201}, "place", "longer than 200"),
    ({"summary": "a\x00b"}, "summary", "NUL"),
    ({"deliberate": "maybe"}, "deliberate", "valid boolean"),
    ({"colour": "red"}, "colour", "unknown field"),
])
def test_bad_values_are_refused_naming_field_and_value(
    fields: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        contact(**fields)
    assert refused.value.field == field
    assert reason in str(refused.value)


def test_an_unknown_channel_is_refused_listing_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="unknown channel; known: .*phone"):
        Settings().channel("pigeon")


def test_amounts_stay_exact() -> None:
    assert contact(amount="1054.00").amount == Decimal("1054.00")
    assert contact(amount=0.1).amount == Decimal("0.1")


def test_blank_optional_text_means_absent() -> None:
    card = contact(summary="  ", rating="", amount="", stage_signal="")
    assert (card.summary, card.rating, card.amount, card.stage_signal) == (None, None, None, None)


def test_stage_names_are_case_insensitive() -> None:
    assert contact(stage_signal=" Expansion ").stage_signal is Stage.EXPANSION


def test_derived_ids_depend_on_content_customer_and_occurrence() -> None:
    card = contact(summary="called")
    assert card.derived_id("ACME") == contact(summary="called").derived_id("ACME")
    assert card.derived_id("ACME") != card.derived_id("OTHER")
    assert card.derived_id("ACME") != card.derived_id("ACME", occurrence=1)
    assert card.derived_id("ACME") != contact(summary="called!").derived_id("ACME")


def test_follow_up_plan_refuses_a_bad_due_time() -> None:
    with pytest.raises(InvalidInput, match="follow_up_due"):
        validated(FollowUpPlan, {"due_at": "soon"})


plain_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**62), 2**62) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(plain_values)
def test_canonical_json_equals_pythons_sorted_compact_json(value: object) -> None:
    import json

    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(value) == expected


PRINTABLE = st.characters(blacklist_categories=("Cs", "Cc"))


@given(st.text(PRINTABLE, min_size=1), st.text(PRINTABLE, max_size=50),
       st.integers(min_value=0, max_value=9))
def test_derived_ids_are_uuid5_of_the_canonical_content(reference: str, summary: str,
                                                        occurrence: int) -> None:
    card = contact(summary=summary.strip() or None)
    content = [reference, iso(card.occurred_at), card.channel, card.initiated_by.value,
               card.purpose, card.summary, card.place, card.actor, None, card.rating, None,
               None, occurrence]
    expected = "c-" + uuid.uuid5(NAMESPACE, canonical_json(content)).hex
    assert card.derived_id(reference, occurrence) == expected
