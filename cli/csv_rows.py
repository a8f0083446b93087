"""The CSV import contract (docs/import.md): the header check and the row model.

A row is plain text per column; ``parse_row`` turns it into the domain's contact card and
follow-up plan, or raises an InvalidInput that names the CSV column that was wrong.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from touchlog.domain.contact import Contact, FollowUpPlan, validated
from touchlog.domain.errors import InvalidInput
from touchlog.domain.identity import customer_reference

if TYPE_CHECKING:
    from touchlog.domain.application import ContactEntry
    from touchlog.domain.settings import Settings

REQUIRED = ("customer", "occurred_at", "channel")
OPTIONAL = (
    "contact_id", "initiated_by", "purpose", "summary", "place", "actor", "outcome", "rating",
    "amount", "stage", "follow_up_due", "follow_up_owner", "follow_up_purpose",
)
COLUMNS = REQUIRED + OPTIONAL
# Domain field names that differ from the CSV column a user has to fix.
_CARD_COLUMN = {"stage_signal": "stage"}
_PLAN_COLUMN = {"due_at": "follow_up_due", "owner": "follow_up_owner",
                "purpose": "follow_up_purpose", "follow_up_due": "follow_up_due"}


_NOT_CARD = {"customer", "stage", "follow_up_due", "follow_up_owner", "follow_up_purpose"}


def _plan(values: dict[str, str]) -> FollowUpPlan | None:
    due = values.get("follow_up_due", "")
    owner, purpose = values.get("follow_up_owner"), values.get("follow_up_purpose")
    if not due.strip():
        if (owner or purpose or "").strip():
            raise InvalidInput("follow_up_due", due,
                               "a follow-up owner or purpose needs a due time")
        return None
    plan = {"due_at": due, "owner": owner, "purpose": purpose}
    return _renamed(lambda: validated(FollowUpPlan, plan), _PLAN_COLUMN)


def _renamed(build, columns: dict[str, str]):  # type: ignore[no-untyped-def]
    try:
        return build()
    except InvalidInput as e:
        field = columns.get(e.field, e.field)
        raise InvalidInput(field, e.value, e.reason) from None


@dataclass(frozen=True)
class RawRow:
    """A data row as read: its first line number and its values by column."""

    line: int
    values: dict[str, str]


def read_rows(stream: IO[str]) -> tuple[list[str], Iterator[RawRow]]:
    """The header and a lazy iterator over the data rows (blank lines skipped).

    An unknown, duplicated or missing required column is refused here, before any row is
    read, because a typo in a header must not silently drop a column's data.
    """
    _keep_line_breaks(stream)
    reader = csv.reader(stream)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise InvalidInput("header", "", "the file is empty; expected a header row") from None
    except csv.Error as e:
        raise InvalidInput("header", "", f"not valid CSV: {e}") from None
    check_header(header)
    return header, _rows(reader, header)


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


def _rows(reader: csv.reader, header: list[str]) -> Iterator[RawRow]:  # type: ignore[valid-type]
    first_line = reader.line_num + 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise InvalidInput("file", f"line {first_line}", f"not valid CSV: {e}") from None
        if any(value.strip() for value in values):
            yield RawRow(first_line, _by_column(header, values))
        first_line = reader.line_num + 1


def _by_column(header: list[str], values: list[str]) -> dict[str, str]:
    row = dict(zip(header, values, strict=False))
    if len(values) > len(header):
        # Kept under a key no column has, so that parsing rejects the row with a reason.
        row["(extra values)"] = ",".join(values[len(header):])
    return row


def parse_row(raw: RawRow, settings: Settings, occurrence: int = 0) -> ContactEntry:
    """The row's contact entry, or an InvalidInput naming the column that was wrong.

    Every column is text and blank means absent; the contact card is validated by the
    domain's ``Contact`` model, and its channel against the deployment's channels.
    """
    from touchlog.domain.application import ContactEntry

    values = raw.values
    extra = values.get("(extra values)")
    if extra is not None:
        shown = extra if len(extra) <= 60 else f"{extra[:60]}…"
        raise InvalidInput("row", shown, "more values than the header has columns")
    for column in REQUIRED:
        if not (values.get(column) or "").strip():
            raise InvalidInput(column, values.get(column), "required")
    reference = customer_reference(values["customer"])
    card = {k: v for k, v in values.items() if k not in _NOT_CARD}
    if values.get("stage") is not None:
        card["stage_signal"] = values["stage"]
    contact = _renamed(lambda: validated(Contact, card), _CARD_COLUMN)
    settings.channel(contact.channel)
    return ContactEntry(reference, contact, _plan(values), occurrence)
