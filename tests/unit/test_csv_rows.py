"""The CSV row contract: header checks, per-column refusals, line numbers."""

from __future__ import annotations

import io

import pytest

from touchlog.cli.csv_rows import RawRow, parse_row, read_rows
from touchlog.domain.errors import InvalidInput
from touchlog.domain.settings import Settings

SETTINGS = Settings()
GOOD = {"customer": "ACME", "occurred_at": "2018-01-24 3:12:16", "channel": "phone"}


def refusal(**values: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_row(RawRow(2, {**GOOD, **values}), SETTINGS)
    return caught.value


def test_a_row_becomes_a_contact_entry_with_utc_time_and_exact_amount() -> None:
    entry = parse_row(RawRow(2, {**GOOD, "amount": "1054.00", "rating": "4",
                                 "stage": "Expansion"}), SETTINGS)
    assert entry.reference == "ACME"
    assert entry.contact.occurred_at.isoformat() == "2018-01-24T03:12:16+00:00"
    assert str(entry.contact.amount) == "1054.00"
    assert entry.contact.stage_signal == "expansion"
    assert entry.follow_up is None


def test_a_row_with_follow_up_due_carries_a_follow_up_plan() -> None:
    entry = parse_row(RawRow(2, {**GOOD, "follow_up_due": "2018-02-01",
                                 "follow_up_owner": "ann", "follow_up_purpose": "demo"}),
                      SETTINGS)
    assert entry.follow_up is not None
    assert (entry.follow_up.owner, entry.follow_up.purpose) == ("ann", "demo")


@pytest.mark.parametrize(("values", "column"), [
    ({"customer": ""}, "customer"),
    ({"occurred_at": "yesterday"}, "occurred_at"),
    ({"occurred_at": "2018-02-30"}, "occurred_at"),
    ({"channel": "pigeon"}, "channel"),
    ({"rating": "9"}, "rating"),
    ({"amount": "abc"}, "amount"),
    ({"amount": "-5"}, "amount"),
    ({"stage": "engaged"}, "stage"),
    ({"initiated_by": "robot"}, "initiated_by"),
    ({"follow_up_due": "soon"}, "follow_up_due"),
    ({"follow_up_owner": "ann"}, "follow_up_due"),
])
def test_a_bad_value_is_refused_naming_its_csv_column(values: dict[str, str],
                                                       column: str) -> None:
    assert refusal(**values).field == column


def test_a_row_with_more_values_than_columns_is_refused() -> None:
    _, rows = read_rows(io.StringIO("customer,occurred_at,channel\nA,2018-01-01,phone,extra\n"))
    with pytest.raises(InvalidInput) as caught:
        parse_row(next(rows), SETTINGS)
    assert caught.value.field == "row"


@pytest.mark.parametrize(("header", "problem"), [
    ("customer,occured_at,channel", "unknown column"),
    ("customer,occurred_at,channel,channel", "duplicated column"),
    ("customer,occurred_at", "missing required column"),
    ("", "empty"),
])
def test_a_bad_header_is_refused_before_any_row_is_read(header: str, problem: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        read_rows(io.StringIO(header + "\nA,2018-01-01,phone\n" if header else ""))
    assert problem in str(caught.value)


def test_rows_know_their_first_line_even_after_quoted_newlines_and_blank_lines() -> None:
    text = ('customer,occurred_at,channel,summary\n'
            'A,2018-01-01,phone,"two\nlines"\n'
            '\n'
            'B,2018-01-02,email,\n')
    _, rows = read_rows(io.StringIO(text))
    assert [(r.line, r.values["customer"]) for r in rows] == [(2, "A"), (5, "B")]
