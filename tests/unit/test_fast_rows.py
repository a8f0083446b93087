"""The import's fast row path gives what the pydantic models give, refusals included.

``RowParser`` (no models) must return the card, follow-up plan and derived flag that
``card_entry(parse_row(...))`` returns for every row, or raise the same InvalidInput:
same column, same value, same reason. ``parse_row`` is the models' reading of a row
(tests/row_oracle.py). Both are reached through public names only.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.row_oracle import RawRow, parse_row
from touchlog.domain.application import card_entry
from touchlog.domain.attributes import declarations
from touchlog.domain.contact import FollowUpPlan, PlanValues
from touchlog.domain.errors import InvalidInput
from touchlog.domain.importing.csv_rows import COLUMNS, REQUIRED, RowParser, by_column
from touchlog.domain.settings import Settings
from touchlog.domain.values import (
    DEFAULT_CHANNELS,
    DEFAULT_REASON_CATEGORIES,
    ChannelInfo,
    ReasonCategory,
    instant_text,
    iso,
    parse_instant,
)

SETTINGS = Settings(channels={**{c.name: c for c in DEFAULT_CHANNELS},
                              "wechat": ChannelInfo("wechat", deliberate=False, hard=True)},
                    reason_categories={**{c.name: c for c in DEFAULT_REASON_CATEGORIES},
                                       "price": ReasonCategory("price")},
                    contact_attributes=declarations(
                        {"quantity": "int", "utm_campaign": "text", "price": "decimal",
                         "since": "date"}, "contact_attributes"))
ATTRIBUTES = ("attr.quantity", "attr.utm_campaign", "attr.price", "attr.since")

ANY_TEXT = st.text(st.characters(codec=None), max_size=12)
LONG = [" " * 250, "x" * 200, "x" * 201, "y" * 10_000, "y" * 10_001, " " + "z" * 199]
ODD = ["", " ", "\t", "\r\n", "a\x00b", "\x00", "\ud800", "é\ud800", "naïve", "  padded  "]


def moments(valid: bool = False) -> st.SearchStrategy[str]:
    """Instants written the ways people write them, and (unless ``valid``) ways they should not."""
    moment = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59))
    offsets = ["", "", "", "", "Z", " Z", "+00:00", "+08:00", "-0130", "+18:00", "-05:30"]
    layouts = ["%Y-%m-%dT%H:%M:%S"] * 3 + ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%Y-%m-%dT%H:%M",
                                          "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %-H:%M:%S"]
    if not valid:
        offsets += ["-18:01", "+1900", "+5:30", "+05:3", "+24:00"]
        layouts += ["%Y%m%dT%H%M%S", "%d/%m/%Y", "%Y-%m-%dT%H"]
    written = st.builds(lambda m, f, o: f"{m.year:04d}{m.strftime(f[2:])}{o}"
                        if f.startswith("%Y") else m.strftime(f) + o,
                        moment, st.sampled_from(layouts), st.sampled_from(offsets))
    if valid:
        return written
    odd = st.sampled_from([
        "2018-02-30", "0000-01-01", "2018-01-24T24:00:00", "2018-01-24T23:60:00",
        "2018-01-24X03:12:16", "２０１８-01-24T03:12:16", "2018-01-24T03:12:16 ",
        " 2018-01-24T03:12:16", "2018-01-24t03:12:16", "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+01:00", "2018-01-24T3:12:16", "2018-1-24T03:12:16",
        "2018-01-24T03:12:16.1234567", "2018-01-24T03:12:16\n", "yesterday", "2018-13-01",
    ])
    return st.one_of(written, odd, st.sampled_from(ODD), ANY_TEXT)


def column(valid: list[str], odd: list[str], *, required: bool = False
           ) -> tuple[st.SearchStrategy[str], st.SearchStrategy[str]]:
    """A column's (good values, any values) strategies; blank is good unless required."""
    good = st.sampled_from(valid + ([] if required else ["", "", " "]))
    return good, st.one_of(good, st.sampled_from(odd + ODD), ANY_TEXT)


def texts(good: list[str]) -> tuple[st.SearchStrategy[str], st.SearchStrategy[str]]:
    printable = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
    return (st.one_of(st.sampled_from([*good, "", "", " x ", "x" * 200]), printable),
            st.one_of(st.sampled_from(ODD + LONG), ANY_TEXT))


# Per column: the values a good row has, and any values (good, odd and bad).
VALUES: dict[str, tuple[st.SearchStrategy[str], st.SearchStrategy[str]]] = {
    "customer": column(["ACME", "C0000001", " ACME ", " " + "c" * 199], ["x" * 201],
                       required=True),
    "occurred_at": (moments(valid=True), moments()),
    "channel": column(["phone", "email", "wechat", " Phone ", "PHONE"],
                      ["pigeon", "Pigeon Post", "9phone", "p" * 65], required=True),
    "contact_id": column(["x1", " x1 ", "c-0123456789abcdef0123456789abcdef"], ["y" * 201]),
    "initiated_by": column(["company", "customer", "third_party", " CUSTOMER ", "Third_Party"],
                           ["robot"]),
    "purpose": texts(["answer a question"]), "summary": texts(["y" * 10_000]),
    "place": texts(["shop"]), "actor": texts(["rep0001"]),
    "outcome": column(["positive", "neutral", "negative", " Negative "], ["great"]),
    "rating": column(["1", "5", " 3 ", "+3", "03", "1_0"[:1], "３", "٣"],
                     ["0", "6", "9", "-1", "3.0", "1_0", "abc", "2" * 30]),
    "amount": column(["1054.00", "0", "-0.00", "1e3", "1E+2", "1e-12", "1000000000000",
                      "1000000000000.000", "0.123456789012", " 12 ", "1_000", "١٢"],
                     ["-5", "1e-13", "NaN", "-inf", "Infinity", "1e30", "1000000000000.01",
                      "0.1234567890123", "abc", "5" * 40]),
    "stage": column(["discovery", "Expansion", " COMMITMENT ", "dissolution"], ["engaged"]),
    "reason_category": column(["moved_away", " Died ", "PRICE", "other"],
                              ["pricey", "moved away", "9lives", "r" * 65]),
    "follow_up_due": (st.one_of(moments(valid=True), st.just("")), moments()),
    "follow_up_owner": texts(["rep0001"]),
    "follow_up_purpose": texts(["send the quote"]),
    "person": texts(["Ann Lee"]),
    "person_email": column(["ann@example.com", " ann@example.co.uk "],
                           ["ann", "ann@", "@example.com", "ann@example", "a b@example.com"]),
    "purchase": column(["true", "yes", "1", "0", "False", " N "], ["maybe", "2"]),
    "attr.quantity": column(["3", " 12 ", "-1", "0"], ["3.5", "x", "9" * 30]),
    "attr.utm_campaign": texts(["spring"]),
    "attr.price": column(["1.50", "-2", "1e3"], ["x", "NaN", "1e40"]),
    "attr.since": column(["2020-01-02"], ["2020-02-30", "2020-01-02T00:00", "x"]),
}


@st.composite
def files(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """A header (the required columns and any others, in any order) and one row for it:
    good values but in a few columns, and sometimes too few or too many values."""
    optional = draw(st.lists(st.sampled_from(COLUMNS[len(REQUIRED):] + ATTRIBUTES),
                             unique=True))
    header = draw(st.permutations([*REQUIRED, *optional]))
    spoiled = draw(st.sets(st.sampled_from(header), max_size=3))
    values = [draw(VALUES[c][c in spoiled]) for c in header]
    cut = draw(st.sampled_from([None] * 16 + [0, 1, len(header) - 1, len(header) + 1]))
    if cut is not None and cut > len(header):
        values += draw(st.lists(ANY_TEXT, min_size=1, max_size=3))
    elif cut is not None:
        values = values[:cut]
    return header, values


def through_models(header: list[str], values: list[str]) -> Any:
    entry = parse_row(RawRow(2, by_column(header, values)), SETTINGS)
    card = card_entry(entry, SETTINGS)
    return card.reference, list(card.card.items()), card.follow_up, entry.contact.contact_id is None


PARSERS: dict[tuple[str, ...], RowParser] = {}  # kept across examples: what they remember


def through_fast_path(header: list[str], values: list[str]) -> Any:
    parser = PARSERS.setdefault(tuple(header), RowParser(header, SETTINGS))
    row = parser(values)
    follow_up = FollowUpPlan.from_stored(row.plan) if row.plan is not None else None
    return row.reference, list(row.card.items()), follow_up, row.derived


def outcome(path: Any, header: list[str], values: list[str]) -> Any:
    try:
        return "ok", path(header, values)
    except InvalidInput as e:
        return "refused", e.field, e.value, e.reason


FULL = list(COLUMNS)


@settings(max_examples=600, deadline=None)
@given(files())
@example((FULL, ["ACME", "2018-01-24T03:12:16", "phone", "", "", "", "", "", "", "", "", "",
                 "", "", "9999-12-31T23:59:59-01:00", "", ""]))  # its field is occurred_at
@example((FULL, ["ACME", "2018-01-24 03:12:16", "wechat", "", "customer", "p", "s", "",
                 "ann", "neutral", "4", "10.50", "Expansion", "", "2018-02-01", "", "call"]))
@example((["customer", "occurred_at", "channel", "stage", "reason_category"],
          ["ACME", "2018-01-05", "phone", "Dissolution", " Moved_Away "]))
@example((["customer", "occurred_at", "channel", "follow_up_owner", "follow_up_purpose"],
          ["ACME", "2018-01-05", "phone", "  ", "call back"]))
def test_the_fast_path_gives_the_models_card_plan_and_refusals(
        file: tuple[list[str], list[str]]) -> None:
    header, values = file
    expected = outcome(through_models, header, values)
    assert outcome(through_fast_path, header, values) == expected
    assert outcome(through_fast_path, header, values) == expected  # from what it remembers


GOOD = {"customer": "ACME", "occurred_at": "2018-01-24T03:12:16", "channel": "phone",
        "follow_up_due": "2018-02-01", "follow_up_owner": "ann"}
BAD = {"customer": "x" * 201, "occurred_at": "yesterday", "channel": "Pigeon Post",
       "contact_id": "a\x00", "initiated_by": "robot", "purpose": "\x00", "summary": "\x00",
       "place": "p" * 201, "actor": "\ud800", "outcome": "great", "rating": "9",
       "amount": "abc", "stage": "engaged", "reason_category": "Moved Away",
       "follow_up_due": "soon",
       "follow_up_owner": "o" * 201, "follow_up_purpose": "\x00", "person": "\x00",
       "person_email": "ann", "purchase": "maybe", "attr.quantity": "3.5",
       "attr.utm_campaign": "u" * 201, "attr.price": "NaN", "attr.since": "2020-02-30"}


@pytest.mark.parametrize("unknown_channel", [False, True])
def test_of_two_bad_values_both_paths_report_the_same_one(unknown_channel: bool) -> None:
    for first, second in itertools.combinations(COLUMNS + ATTRIBUTES, 2):
        row = {**GOOD, first: BAD[first], second: BAD[second]}
        if unknown_channel and "channel" not in (first, second):
            row["channel"] = "pigeon"
        header, values = list(row), list(row.values())
        expected = outcome(through_models, header, values)
        assert expected[0] == "refused"
        assert outcome(through_fast_path, header, values) == expected, (first, second)


def test_a_plan_from_stored_values_equals_the_validated_plan() -> None:
    validated = FollowUpPlan(due_at="2018-02-01 10:00+02:00", owner="ann", purpose="call")
    stored = FollowUpPlan.from_stored(PlanValues(iso(validated.due_at), "ann", "call"))
    assert stored == validated
    assert stored.due_at.utcoffset() == timedelta(0)


@settings(max_examples=300, deadline=None)
@given(moments())
@example("2018-01-24 03:12:16")
@example("0001-01-01T00:00:00")
def test_instant_text_is_the_iso_text_of_parse_instant(text: str) -> None:
    def slow() -> object:
        try:
            return iso(parse_instant(text, "at"))
        except InvalidInput as e:
            return e.field, e.value, e.reason

    def fast() -> object:
        try:
            return instant_text(text, "at")
        except InvalidInput as e:
            return e.field, e.value, e.reason

    assert fast() == slow()


@pytest.mark.parametrize("moment", [datetime(2018, 1, 24, 3, 12, 16, tzinfo=UTC),
                                    datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)])
def test_instant_text_takes_datetimes_too(moment: datetime) -> None:
    assert instant_text(moment, "at") == iso(moment)


@pytest.mark.parametrize(("stage", "category", "channel"), [
    ("dissolution", "pricey", "phone"), ("dissolution", "pricey", "pigeon"),
    ("commitment", "moved_away", "phone"), ("commitment", "pricey", "pigeon"),
    ("", "moved_away", "pigeon"), ("dissolution", "moved_away", "phone")])
def test_a_reason_category_is_judged_alike_on_both_paths(stage: str, category: str,
                                                          channel: str) -> None:
    """Only with a dissolution, then the channel, then the category against the known."""
    row = {**GOOD, "channel": channel, "stage": stage, "reason_category": category}
    header, values = list(row), list(row.values())
    expected = outcome(through_models, header, values)
    assert outcome(through_fast_path, header, values) == expected
