"""The CSV import's reading of a file: the header check and the reading of a row.

The contract these implement is docs/import.md. ``read_lists`` checks the header and gives
the data rows; ``RowParser`` turns a row's values into the domain's contact card and
follow-up plan values, or raises an InvalidInput naming the CSV column that was wrong.
It reads cards with the domain's ``CardReader`` rather than the pydantic models, because
building a model per row would slow the import down; tests/unit/test_fast_rows.py proves
it equal to the models' reading (tests/row_oracle.py): same card, same plan, same refusal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from touchlog.domain.attributes import Declared, declared_attribute
from touchlog.domain.contact import (
    CARD_INPUT_FIELDS,
    CardInput,
    CardReader,
    PlanValues,
    plan_values,
)
from touchlog.domain.errors import InvalidInput
from touchlog.domain.identity import customer_reference
from touchlog.domain.importing.sources import (  # noqa: F401 (the contract's limit, here too)
    MAX_ROW_CHARACTERS,
    REJECTS_COLUMNS,
    Source,
    read_table,
)

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from touchlog.domain.settings import Settings
    from touchlog.domain.values import ChannelInfo

REQUIRED = ("customer", "occurred_at", "channel")
OPTIONAL = (
    "contact_id", "initiated_by", "purpose", "summary", "place", "actor", "outcome", "rating",
    "amount", "stage", "reason_category", "follow_up_due", "follow_up_owner",
    "follow_up_purpose", "person", "person_email", "purchase",
)
COLUMNS = REQUIRED + OPTIONAL
# A column ``attr.NAME`` holds the contact attribute NAME, which touchlog.toml must declare.
ATTRIBUTE_PREFIX = "attr."
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


def read_lists(stream: IO[str]) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and a lazy iterator over the data rows of a file in the plain contract,
    each as its first line number and its values in file order (blank lines skipped); a bad
    header (``check_header``) is refused before any row is read, and a row over
    MAX_ROW_CHARACTERS refuses the file."""
    header, rows = read_table(stream, Source())
    check_header(header)
    return header, rows


SHOWN_NAMES = 10  # a header of thousands of columns must not become a message as long


def check_header(header: list[str], delimiter: str = ",", known: tuple[str, ...] = COLUMNS,
                 required: tuple[str, ...] = REQUIRED, kind: str = "",
                 attributes: bool = True) -> None:
    """Refuses an unknown, duplicated or missing required column (docs/import.md): of a
    contacts file unless ``known`` and ``required`` say otherwise (a file of ``kind``
    rows; ``attr.NAME`` columns are known unless ``attributes`` is false). The ``line``,
    ``field`` and ``reason`` columns a rejects file ends with are ignored."""
    header = without_rejects_columns(header)
    unknown = [name for name in header if name not in known
               and not (attributes and name.startswith(ATTRIBUTE_PREFIX))]
    if unknown:
        also = f", and {ATTRIBUTE_PREFIX}NAME for a declared attribute" if attributes else ""
        raise InvalidInput("header", _some(unknown),
                           f"unknown column(s){kind}; known columns: {', '.join(known)}{also}"
                           f"{delimiter_hint(header, delimiter)}")
    duplicated = sorted(name for name, n in Counter(header).items() if n > 1)
    if duplicated:
        raise InvalidInput("header", _some(duplicated), "duplicated column(s)")
    missing = [name for name in required if name not in header]
    if missing:
        raise InvalidInput("header", missing, f"missing required column(s){kind}")


def without_rejects_columns(header: list[str]) -> list[str]:
    """The header without the ``line``, ``field`` and ``reason`` a rejects file ends with."""
    if tuple(header[-3:]) == REJECTS_COLUMNS:
        return header[:-3]
    return header


def delimiter_hint(header: list[str], delimiter: str) -> str:
    """A hint when a header read with ``delimiter`` looks separated by something else."""
    text = delimiter.join(header)
    for other, option in ((";", "';'"), ("\t", "tab"), ("|", "'|'")):
        if other != delimiter and text.count(other) >= max(1, len(header)):
            return (f"; the header looks {option}-separated, but was read with "
                    f"{delimiter!r}: use --delimiter {option} (or delimiter in the "
                    "mapping's [source])")
    return ""


def _some(names: list[str]) -> list[str]:
    more = len(names) - SHOWN_NAMES
    return names[:SHOWN_NAMES] + ([f"… {more} more"] if more > 0 else [])


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

    def __init__(self, header: list[str], settings: Settings, *,
                 zone: ZoneInfo | None = None) -> None:
        self._setup({c: header.index(c) for c in header
                     if c in COLUMNS or c.startswith(ATTRIBUTE_PREFIX)}, len(header),
                    settings, zone)

    @classmethod
    def at(cls, positions: dict[str, int], width: int, settings: Settings,
           zone: ZoneInfo | None = None) -> RowParser:
        """A parser of rows of ``width`` values that reads each column of the contract at
        its position in ``positions`` (a mapping's record, records.py), and each contact
        attribute (``attr.NAME``, declared in the settings: an undeclared one is refused
        now, before any row); absent ones are None. Times without an offset are in
        ``zone`` (UTC when None)."""
        parser = cls.__new__(cls)
        parser._setup(positions, width, settings, zone)
        return parser

    def _setup(self, positions: dict[str, int], width: int, settings: Settings,
               zone: ZoneInfo | None) -> None:
        self.width = width
        # A column the file lacks is read from one past the row's end: a None put there.
        self.tail = [] if all(column in positions for column in COLUMNS) else [None]

        def getter(columns: tuple[str, ...]) -> Callable[[list[Any]], tuple[Any, ...]]:
            return itemgetter(*(positions.get(c, width) for c in columns))

        self.required, self.card_input, self.plan_input = (
            getter(REQUIRED), getter(_CARD_SOURCES), getter(_PLAN_SOURCES))
        self.attributes = attribute_columns(positions, settings.contact_attributes)
        self.cards = CardReader(_unlisted_channel(settings), settings.reason_category,
                                zone=zone, declared=settings.contact_attributes)
        self.zone = zone
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
        attributes = ({name: row[i] for name, i in self.attributes if row[i]}
                      if self.attributes else None)
        try:
            card, derived = self.cards.card(reference, CardInput._make(self.card_input(row)),
                                            attributes)
        except InvalidInput as e:
            raise in_column(e, CARD_FIELD_COLUMNS) from None
        due, owner, purpose = self.plan_input(row)
        if not has_follow_up(due or "", owner, purpose):
            return ParsedRow(reference, card, None, derived)
        try:
            return ParsedRow(reference, card, plan_values(due, owner, purpose, self.zone),
                             derived)
        except InvalidInput as e:
            raise in_column(e, PLAN_FIELD_COLUMNS) from None

    def _padded(self, values: list[str]) -> list[str | None]:
        if len(values) > self.width:
            extra = ",".join(values[self.width:])
            shown = extra if len(extra) <= 60 else f"{extra[:60]}…"
            raise InvalidInput("row", shown, "more values than the header has columns")
        return [*values, *[None] * (self.width - len(values))]


def attribute_columns(positions: dict[str, int], declared: Declared,
                      scope: str = "contact") -> list[tuple[str, int]]:
    """The attributes of ``positions`` (``attr.NAME`` keys) and their positions; an
    undeclared one refuses the file (field ``header``), naming it and the closest names."""
    found = []
    for key, position in positions.items():
        if key.startswith(ATTRIBUTE_PREFIX):
            name = key[len(ATTRIBUTE_PREFIX):]
            try:
                declared_attribute(declared, name, scope)
            except InvalidInput as e:
                raise InvalidInput("header", key, e.reason) from None
            found.append((name, position))
    return found


def _unlisted_channel(settings: Settings) -> Callable[[str], ChannelInfo]:
    """The deployment's channels; an unknown one is refused without the list of known ones
    (the import names those once, in its summary, not on every row)."""
    def channel(name: str) -> ChannelInfo:
        return settings.channel(name, listing=False)
    return channel


def _required(values: tuple[str | None, ...]) -> None:
    for column, value in zip(REQUIRED, values, strict=True):
        if not (value or "").strip():
            raise InvalidInput(column, value, "required")
