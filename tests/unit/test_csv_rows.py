"""The CSV row contract: header checks, per-column refusals, line numbers.

Checked through what the import runs: ``read_lists`` for the header and rows, and
``RowParser`` for each row's card and follow-up plan.
"""

from __future__ import annotations

import io

import pytest

from touchlog.domain.errors import InvalidInput
from touchlog.domain.importing.csv_rows import ParsedRow, RowParser, by_column, read_lists
from touchlog.domain.settings import Settings

SETTINGS = Settings()
GOOD = {"customer": "ACME", "occurred_at": "2018-01-24 3:12:16", "channel": "phone"}


def parse(row: dict[str, str]) -> ParsedRow:
    """The row (values by column, the header in their order) as the import parses it."""
    return RowParser(list(row), SETTINGS)(list(row.values()))


def refusal(**values: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse({**GOOD, **values})
    return caught.value


def test_a_row_becomes_a_contact_card_with_utc_time_and_exact_amount() -> None:
    row = parse({**GOOD, "amount": "1054.00", "rating": "4", "stage": "Expansion"})
    assert row.reference == "ACME"
    assert row.card["occurred_at"] == "2018-01-24T03:12:16+00:00"
    assert row.card["amount"] == "1054.00"
    assert row.card["stage_signal"] == "expansion"
    assert row.plan is None


def test_a_row_with_follow_up_due_carries_a_follow_up_plan() -> None:
    plan = parse({**GOOD, "follow_up_due": "2018-02-01",
                   "follow_up_owner": "ann", "follow_up_purpose": "demo"}).plan
    assert plan is not None
    assert (plan.due_at, plan.owner, plan.purpose) == ("2018-02-01T00:00:00+00:00", "ann",
                                                       "demo")


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
    header, rows = read_lists(io.StringIO("customer,occurred_at,channel\n"
                                          "A,2018-01-01,phone,extra\n"))
    _line, values = next(rows)
    with pytest.raises(InvalidInput) as caught:
        RowParser(header, SETTINGS)(values)
    assert caught.value.field == "row"


@pytest.mark.parametrize(("header", "problem"), [
    ("customer,occured_at,channel", "unknown column"),
    ("customer,occurred_at,channel,channel", "duplicated column"),
    ("customer,occurred_at", "missing required column"),
    ("", "empty"),
])
def test_a_bad_header_is_refused_before_any_row_is_read(header: str, problem: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        read_lists(io.StringIO(header + "\nA,2018-01-01,phone\n" if header else ""))
    assert problem in str(caught.value)


def test_rows_know_their_first_line_even_after_quoted_newlines_and_blank_lines() -> None:
    text = ('customer,occurred_at,channel,summary\n'
            'A,2018-01-01,phone,"two\nlines"\n'
            '\n'
            'B,2018-01-02,email,\n')
    header, rows = read_lists(io.StringIO(text))
    assert [(line, by_column(header, values)["customer"]) for line, values in rows] == [
        (2, "A"), (5, "B")]
