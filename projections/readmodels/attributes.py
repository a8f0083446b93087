"""The archive's attribute tables: one row per attribute of a contact, and per attribute of
a customer (key-value tables, docs/reporting.md "Attributes" says why not JSON columns).

A row's ``value`` is the attribute's stored value as text (an int in decimal digits, a
decimal as its exact text, a date as ISO text); ``value_number`` is the same as a number
when it is written as one (int and decimal attributes, and text that reads as a decimal
number), else null. Rows come from the events alone, never from the settings, so a rebuild
gives what the incremental updates gave whatever the settings say now.

A contact's rows are written when it is logged and changed by amendments (a null value
removes the row); a retracted contact keeps its rows (``archive_contacts.retracted`` says
it is retracted). A customer's rows are changed by its profile updates.
"""

from __future__ import annotations

import re
from typing import Any

from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.engine.schema import (
    ARCHIVE_CONTACT_ATTRIBUTES,
    ARCHIVE_CUSTOMER_ATTRIBUTES,
    Table,
)

_NUMBER = re.compile(r"-?\d{1,30}(?:\.\d{1,12})?", re.ASCII)


def value_texts(value: Any) -> tuple[str, str | None]:
    """An attribute's stored value as the tables hold it: (value, its number's text)."""
    if isinstance(value, bool):  # no command records one; kept as the text JSON gives
        text = "true" if value else "false"
    elif isinstance(value, int):
        return str(value), str(value)
    else:
        text = str(value)
    return text, text if _NUMBER.fullmatch(text) else None


class AttributeRows:
    """One batch's changes to an attribute table: rows to upsert or (None) to delete, by
    key; the last change of a key in the batch wins, as in the log."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.changes: dict[tuple[str, ...], list[Any] | None] = {}

    def set(self, owner: tuple[str, ...], attributes: dict[str, Any], position: int) -> None:
        """Records the attributes of ``owner`` (the key's leading columns); None removes."""
        for name, value in attributes.items():
            key = (*owner, name)
            self.changes[key] = (None if value is None
                                 else [*key, *value_texts(value), position])

    def write(self, db: ReportingDB) -> None:
        table, key = self.table, self.table.key
        columns = table.column_names
        match = " AND ".join(f"{c} = ?" for c in key)
        db.executemany(f"DELETE FROM {table.name} WHERE {match}",
                       [list(k) for k, row in self.changes.items() if row is None])
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
        values = ", ".join(db.dialect.number("?") if c == "value_number" else "?"
                           for c in columns)
        db.executemany(
            f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({values}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}",
            [row for row in self.changes.values() if row is not None])


def contact_attributes() -> AttributeRows:
    return AttributeRows(ARCHIVE_CONTACT_ATTRIBUTES)


def customer_attributes() -> AttributeRows:
    return AttributeRows(ARCHIVE_CUSTOMER_ATTRIBUTES)
