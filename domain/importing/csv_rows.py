"""The CSV import's reading of a file: the header check and the reading of a row.

The contract these implement is docs/import.md. ``read_lists`` checks the header and gives
the data rows; ``RowParser`` turns a row's values into the domain's contact card and
follow-up plan values, or raises an InvalidInput naming the CSV column that was wrong.
It reads cards with the domain's ``CardReader`` rather than the pydantic models, because
building a model per row would slow the import down; tests/unit/test_fast_rows.py proves
it equal to the models' reading (tests/row_oracle.py): same card, same plan, same refusal.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import suppress
from operator import itemgetter
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from touchlog.domain.contact import (
    CARD_INPUT_FIELDS,
    CardInput,
    CardReader,
    PlanValues,
    plan_values,
)
from touchlog.domain.errors import InvalidInput
from touchlog.domain.identity import customer_reference

if TYPE_CHECKING:
    from touchlog.domain.settings import Settings

REQUIRED = ("customer", "occurred_at", "channel")
OPTIONAL = (
    "contact_id", "initiated_by", "purpose", "summary", "place", "actor", "outcome", "rating",
    "amount", "stage", "reason_category", "follow_up_due", "follow_up_owner",
    "follow_up_purpose",
)
COLUMNS = REQUIRED + OPTIONAL
# The CSV column of each domain field whose name differs: the column a user has to fix.
CARD_FIELD_COLUMNS = {"stage_signal": "stage"}
PLAN_FIELD_COLUMNS = {"due_at": "follow_up_due", "owner": "follow_up_owner",
                      "purpose": "follow_up_purpose", "follow_up_due": "follow_up_due"}


def has_follow_up(due: str, owner: str | None, purpose: str | None) -> bool:
    """Whether a row plans a follow-up; an owner or purpose without a due time is refused."""
    if due.strip():
        return True
    if (owner or purpose or "").strip():
        raise InvalidInput("follow_up_due", due, "a follow-up owner or purpose needs a due time")
    return False


def in_column(error: InvalidInput, columns: dict[str, str]) -> InvalidInput:
    """The refusal of a domain field, naming its CSV column (``columns``) instead."""
    return InvalidInput(columns.get(error.field, error.field), error.value, error.reason)


# A row (all its lines, when a quoted value spans lines) longer than this refuses the file;
# it is never read whole, so memory does not grow with the longest line (docs/import.md).
MAX_ROW_CHARACTERS = 1_048_576


class RowTooLong(Exception):
    """A row went past MAX_ROW_CHARACTERS (raised through the csv module, turned into an
    InvalidInput naming the row's line)."""


def too_long(line: int) -> InvalidInput:
    return InvalidInput("file", f"line {line}", f"a row longer than {MAX_ROW_CHARACTERS:,} "
                        "characters; nothing was imported")


class _Lines:
    """The stream's lines for the csv module, each read at most up to what the row being
    read may still hold: ``row_size`` counts the row's characters, reset for each row."""

    def __init__(self, stream: IO[str]) -> None:
        self.readline = stream.readline
        self.row_size = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.readline(MAX_ROW_CHARACTERS + 1 - self.row_size)
        if not line:
            raise StopIteration
        self.row_size += len(line)
        if self.row_size > MAX_ROW_CHARACTERS:
            raise RowTooLong
        return line


def read_lists(stream: IO[str]) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and a lazy iterator over the data rows, each as its first line number and
    its values in file order (blank lines skipped); a bad header (``check_header``) is
    refused before any row is read, and a row over MAX_ROW_CHARACTERS refuses the file."""
    _keep_line_breaks(stream)
    lines = _Lines(stream)
    reader = csv.reader(lines)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise InvalidInput("header", "", "the file is empty; expected a header row") from None
    except csv.Error as e:
        raise InvalidInput("header", "", f"not valid CSV: {e}") from None
    except RowTooLong:
        raise too_long(1) from None
    check_header(header)
    return header, _rows(reader, lines)


def _keep_line_breaks(stream: IO[str]) -> None:
    """Reads line breaks as written: the csv module needs ``newline=""``.

    Otherwise a text stream turns "\r\n" or "\r" inside a quoted value into "\n", and the
    stored text would differ from the file's. Only possible before anything was read.
    """
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        with suppress(ValueError, OSError):
            reconfigure(newline="")


SHOWN_NAMES = 10  # a header of thousands of columns must not become a message as long


def check_header(header: list[str]) -> None:
    """Refuses an unknown, duplicated or missing required column (docs/import.md)."""
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        raise InvalidInput("header", _some(unknown),
                           f"unknown column(s); known columns: {', '.join(COLUMNS)}")
    duplicated = sorted(name for name, n in Counter(header).items() if n > 1)
    if duplicated:
        raise InvalidInput("header", _some(duplicated), "duplicated column(s)")
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise InvalidInput("header", missing, "missing required column(s)")


def _some(names: list[str]) -> list[str]:
    more = len(names) - SHOWN_NAMES
    return names[:SHOWN_NAMES] + ([f"… {more} more"] if more > 0 else [])


def _rows(reader: Any, lines: _Lines) -> Iterator[tuple[int, list[str]]]:
    first_line = reader.line_num + 1
    while True:
        lines.row_size = 0
        try:
            values: list[str] = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise InvalidInput("file", f"line {first_line}", f"not valid CSV: {e}") from None
        except RowTooLong:
            raise too_long(first_line) from None
        if values and (values[0].strip() or "".join(values).strip()):  # else a blank line
            yield first_line, values
        first_line = reader.line_num + 1


def by_column(header: list[str], values: list[str]) -> dict[str, str]:
    """A row's values by column name, as a rejection reports them."""
    row = dict(zip(header, values, strict=False))
    if len(values) > len(header):
        # Kept under a key no column has, so that parsing rejects the row with a reason.
        row["(extra values)"] = ",".join(values[len(header):])
    return row


class ParsedRow(NamedTuple):
    """A row as the import reads it."""

    reference: str  # the customer's
    card: dict[str, Any]  # the contact card, its id and flags settled (``Contact.card``)
    plan: PlanValues | None  # the follow-up plan's values, None without one
    derived: bool  # whether the card's id was derived (the row gave no contact_id)


# The CSV column of each CardInput field, and of the follow-up plan's values.
_CARD_SOURCES = tuple(CARD_FIELD_COLUMNS.get(field, field) for field in CARD_INPUT_FIELDS)
_PLAN_SOURCES = ("follow_up_due", "follow_up_owner", "follow_up_purpose")


class RowParser:
    """The reading of the rows of one file, without pydantic models.

    Calling it with a row's values (in header order) gives the ``ParsedRow``, or raises an
    InvalidInput naming the CSV column that was wrong: first a row with more values than
    the header has columns, then the required columns, the customer, each card field in
    ``CardInput`` order, a reason category without a dissolution stage, the channel against
    the deployment's channels, the reason category against its categories, and last the
    follow-up plan.
    """

    def __init__(self, header: list[str], settings: Settings) -> None:
        self.width = len(header)
        # A column the file lacks is read from one past the row's end: a None put there.
        self.tail = [] if all(column in header for column in COLUMNS) else [None]

        def getter(columns: tuple[str, ...]) -> Callable[[list[Any]], tuple[Any, ...]]:
            return itemgetter(*(header.index(c) if c in header else self.width
                                for c in columns))

        self.required, self.card_input, self.plan_input = (
            getter(REQUIRED), getter(_CARD_SOURCES), getter(_PLAN_SOURCES))
        self.cards = CardReader(settings.channel, settings.reason_category)
        self.customer, self.reference = "", ""  # rows of a customer tend to come together

    def __call__(self, values: list[str]) -> ParsedRow:
        row: list[Any] = values if len(values) == self.width else self._padded(values)
        if self.tail:
            row = row + self.tail
        customer, at, channel = self.required(row)
        if not (customer and at and channel and customer.strip() and at.strip()
                and channel.strip()):
            _required((customer, at, channel))
        if customer != self.customer:
            self.reference = customer_reference(customer)
            self.customer = customer
        reference = self.reference
        try:
            card, derived = self.cards.card(reference, CardInput._make(self.card_input(row)))
        except InvalidInput as e:
            raise in_column(e, CARD_FIELD_COLUMNS) from None
        due, owner, purpose = self.plan_input(row)
        if not has_follow_up(due or "", owner, purpose):
            return ParsedRow(reference, card, None, derived)
        try:
            return ParsedRow(reference, card, plan_values(due, owner, purpose), derived)
        except InvalidInput as e:
            raise in_column(e, PLAN_FIELD_COLUMNS) from None

    def _padded(self, values: list[str]) -> list[str | None]:
        if len(values) > self.width:
            extra = ",".join(values[self.width:])
            shown = extra if len(extra) <= 60 else f"{extra[:60]}…"
            raise InvalidInput("row", shown, "more values than the header has columns")
        return [*values, *[None] * (self.width - len(values))]


def _required(values: tuple[str | None, ...]) -> None:
    for column, value in zip(REQUIRED, values, strict=True):
        if not (value or "").strip():
            raise InvalidInput(column, value, "required")
