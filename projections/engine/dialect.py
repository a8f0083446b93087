"""What differs between the reporting databases, behind one object per database.

``SQLiteReporting`` (projections/engine/sqlite.py) and ``PostgresReporting``
(projections/engine/postgres.py) implement ``Dialect``; ``ReportingDB`` holds one and asks
it instead of comparing names. The rules both must compute alike live here: exact sums of
amounts, ratings averaged and rounded half up, values normalised for the JSON contract
(``plain``) and shown in JSON where JSON has no form for them (``json_value``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from touchlog.domain.storage.location import Location
    from touchlog.projections.engine.reporting_db import ReportingDB

# Wide enough that no sum of amounts (at most 13 + 12 digits each) is ever rounded, so a
# total does not depend on the order rows are added in; PostgreSQL's numeric is exact too.
_EXACT = Context(prec=80)
VIEW_MARK = "touchlog view"  # before the digest of a report view's definition
_CENT = Decimal("0.01")


def exact_sum(amounts: Iterable[str]) -> str | None:
    """The exact decimal sum of text amounts in plain notation; None when there are none."""
    total: Decimal | None = None
    for amount in amounts:
        total = _EXACT.add(total, Decimal(amount)) if total is not None else Decimal(amount)
    return None if total is None else format(total, "f")


def summed_amount(total: Decimal) -> str:
    """An exact total as a report summary stores it, in one form whatever the amounts it
    was summed from (their scales, the order): plain notation, no trailing zeros."""
    return "0" if total == 0 else format(total.normalize(_EXACT), "f")


def added_amounts(stored: str | None, change: str) -> str:
    """``summed_amount`` of a stored total and a change to it (text amounts)."""
    return summed_amount(_EXACT.add(Decimal(stored or "0"), Decimal(change)))


def rating_average(total: int, count: int) -> float | None:
    """The mean of ``count`` ratings summing to ``total``, exactly, rounded half up to two
    places (what PostgreSQL's ``round(avg(rating)::numeric, 2)`` gives); None when unrated."""
    if not count:
        return None
    return float((Decimal(total) / count).quantize(_CENT, ROUND_HALF_UP))


def plain(value: Any) -> Any:
    """A stored value as the JSON contract wants it: UTC ISO text, exact decimal text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def json_value(value: Any) -> Any:
    """A value as JSON output shows it, where JSON has no form for it: a number that is not
    finite as the text "NaN", "Infinity" or "-Infinity", bytes as "\\x" and their hex
    digits (PostgreSQL's text for bytea). No honest run stores either in a reporting table;
    a tampered one may."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    return value


def on_conflict(columns: Sequence[str], replace_on: Sequence[str]) -> str:
    """The clause of ``ReportingDB.insert``: leave a row whose key is taken, or replace
    the other columns of the row there (``replace_on``: the key's columns)."""
    if not replace_on:
        return "ON CONFLICT DO NOTHING"
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in replace_on)
    return f"ON CONFLICT ({', '.join(replace_on)}) DO UPDATE SET {updates}"


class Dialect(ABC):
    """One kind of reporting database: its client, SQL and column types.

    Statements are written once with ``?`` placeholders; ``sql`` translates them.
    """

    name: ClassVar[str]  # the event side's ``Database.name`` this dialect serves
    types: ClassVar[dict[str, str]]  # abstract column type (schema.py) -> the database's
    begin: ClassVar[str]  # starts a write transaction
    begin_snapshot: ClassVar[str]  # starts a read-only transaction that sees one moment
    sum_amounts: ClassVar[str]  # SQL: the ``exact_sum`` of the rows' amounts
    average_rating: ClassVar[str]  # SQL: the ``rating_average`` of the rows' ratings

    @abstractmethod
    def scrub(self, db: ReportingDB, tables: Sequence[str]) -> None:
        """Makes rows just changed leave the database's files: no earlier version of them
        stays in a journal or in free space (an erasure's last step there)."""

    @abstractmethod
    def connect(self, location: Location) -> Any:
        """A connection in autocommit mode: transactions are begun explicitly."""

    def lost(self, error: Exception) -> bool:
        """Whether the client's error says the connection is gone (it may be opened again)."""
        return False

    def create_namespace(self, location: Location) -> list[str]:
        """Statements that make the place the tables go, when the location names one."""
        return []

    def alone(self) -> list[str]:
        """Statements that make a transaction the only one creating tables (none where
        ``begin`` already excludes every other writer)."""
        return []

    def insert(self, conn: Any, table: str, columns: Sequence[str],
               rows: Sequence[Sequence[Any]], numbers: Collection[str],
               replace_on: Sequence[str]) -> None:
        """``ReportingDB.insert``: one INSERT per row, sent with ``executemany``."""
        values = ", ".join(self.number("?") if c in numbers else "?" for c in columns)
        conn.cursor().executemany(self.sql(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) "
            f"{on_conflict(columns, replace_on)}"), rows)

    # -- the reports' SQL (projections/reports): what each database spells its way --------

    now: ClassVar[str]  # SQL: the current instant, as an instant column holds it

    @abstractmethod
    def month(self, instant: str) -> str:
        """SQL: the UTC month of an instant as text, ``2018-01``."""

    @abstractmethod
    def day(self, instant: str) -> str:
        """SQL: the UTC day of an instant as text, ``2018-01-31``."""

    @abstractmethod
    def day_start(self, instant: str) -> str:
        """SQL: the first instant of an instant's UTC day."""

    @abstractmethod
    def month_start(self, month: str) -> str:
        """SQL: the first instant of a month given as ``2018-01`` text."""

    @abstractmethod
    def next_month(self, month: str) -> str:
        """SQL: the month after a month given as ``2018-01`` text, as such text."""

    @abstractmethod
    def days_between(self, earlier: str, later: str) -> str:
        """SQL: the days from one instant to another, with their fraction."""

    @abstractmethod
    def rounded(self, value: str, places: int) -> str:
        """SQL: a number rounded half away from zero to ``places`` decimals, as a double."""

    @abstractmethod
    def whole(self, value: str) -> str:
        """SQL: a non-negative number rounded down to a whole number (an integer)."""

    @abstractmethod
    def greatest(self, a: str, b: str) -> str:
        """SQL: the larger of two non-null values."""

    @abstractmethod
    def least(self, a: str, b: str) -> str:
        """SQL: the smaller of two non-null values."""

    @abstractmethod
    def days_literal(self, count: int) -> str:
        """SQL literal: ``days(count)`` written into a statement (a view has no parameters)."""

    @abstractmethod
    def create_view(self, name: str, select: str, digest: str) -> list[str]:
        """Statements that make a view anew, marked with ``digest`` (of its definition)."""

    @abstractmethod
    def view_digests(self, db: ReportingDB, names: Sequence[str]) -> dict[str, str | None]:
        """The digest each of the named views that exist was made with (None: unmarked)."""

    @abstractmethod
    def named(self, statement: str) -> str:
        """The statement with ``:name`` parameters in the client's named form."""

    @abstractmethod
    def amounts_added(self, stored: str, change: str) -> str:
        """SQL: ``added_amounts`` of a stored total and a change, both exact amounts."""

    @abstractmethod
    def number(self, amount: str) -> str:
        """SQL turning an exact amount (SQL giving its text or numeric) into the value of a
        ``number`` column: what a SQL client sorts and sums (schema.py)."""

    @abstractmethod
    def sql(self, statement: str) -> str:
        """The statement with the client's placeholders."""

    @abstractmethod
    def existing(self, db: ReportingDB, names: Sequence[str]) -> set[str]:
        """Which of the named tables, indexes and columns (``table.column``) exist."""

    @abstractmethod
    def plain_rows(self, rows: Sequence[tuple[Any, ...]]) -> Iterable[tuple[Any, ...]]:
        """Fetched rows with every value ``plain``."""

    @abstractmethod
    def streaming_cursor(self, conn: Any) -> Any:
        """A cursor whose ``fetchmany`` does not hold the whole result in memory."""

    @abstractmethod
    def collate(self, kind: str) -> str:
        """The ORDER BY collation that sorts a column of this abstract type by code point."""

    @abstractmethod
    def select_records(self, db: ReportingDB, select: str, params: Sequence[Any],
                       keys: Sequence[str]) -> list[dict[str, Any]]:
        """The rows of ``select``, whose columns are ``keys``, as dicts."""

    @abstractmethod
    def instant(self, moment: datetime) -> Any:
        """An instant as a parameter compared with instant columns."""

    @abstractmethod
    def days(self, count: int) -> Any:
        """A whole number of days as a parameter for ``shifted``."""

    @abstractmethod
    def shifted(self, column: str, days: str) -> str:
        """SQL for an instant column moved later by ``days`` (SQL giving ``days(n)``)."""

    @abstractmethod
    def shadow(self, live: ReportingDB) -> AbstractContextManager[str]:
        """The URL of an empty reporting database beside ``live``, removed on exit."""

