"""The SQLite reporting database: a file beside (or the same as) the event log.

Instants are stored as ISO 8601 UTC text and amounts as exact decimal text, so rows come
back plain already; ``dsum`` and ``rating_avg`` are registered on every connection because
SQLite's own sum and avg are floating point.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from touchlog.domain.errors import StoreError
from touchlog.domain.storage.database import lock_timeout
from touchlog.domain.storage.scratch import scratch_folder
from touchlog.domain.storage.sqlite import create_file, read_only_uri
from touchlog.projections.engine.dialect import (
    VIEW_MARK,
    Dialect,
    added_amounts,
    exact_sum,
    rating_average,
)

if TYPE_CHECKING:
    from touchlog.domain.storage.location import Location
    from touchlog.projections.engine.reporting_db import ReportingDB

SHADOW_KIND = "shadow"  # a shadow's scratch folder: .touchlog-shadow-PID-…, beside the live file
FOLDER_PREFIX = f".touchlog-{SHADOW_KIND}-"


class SQLiteReporting(Dialect):
    name = "sqlite"
    types = {"text": "TEXT", "int": "INTEGER", "instant": "TEXT", "amount": "TEXT",
             "flag": "INTEGER", "real": "REAL", "position": "INTEGER", "number": "REAL"}
    begin = "BEGIN IMMEDIATE"  # takes the write lock at once
    begin_snapshot = "BEGIN"
    sum_amounts = "dsum(amount)"
    average_rating = "rating_avg(rating)"

    def connect(self, location: Location) -> sqlite3.Connection:
        path = location.path
        assert path is not None
        if not path.exists() and path.parent.is_dir():
            # Projection tables hold personal data too: made like the event database.
            with suppress(FileExistsError):
                create_file(path)
        read_only = read_only_uri(path)
        conn = sqlite3.connect(read_only or path, isolation_level=None, timeout=lock_timeout(),
                               check_same_thread=False, uri=read_only is not None)
        conn.execute("PRAGMA journal_mode=WAL")
        # An erased customer's personal columns must leave the file, not linger in free space.
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-16384")  # 16 MB: as fast as 64 MB for rebuilds, less RSS
        conn.create_aggregate("dsum", 1, _DecimalSum)  # type: ignore[arg-type]
        conn.create_aggregate("rating_avg", 1, _RatingAverage)  # type: ignore[arg-type]
        conn.create_function("damount_add", 2, added_amounts, deterministic=True)
        return conn

    def scrub(self, db: ReportingDB, tables: Sequence[str]) -> None:
        # secure_delete (set on every connection) zeroed the old values in the file; the
        # write-ahead log still holds pages written before: copied in and truncated here.
        with db.errors():
            busy = db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy:
            raise StoreError(f"cannot empty the write-ahead log of {db.redacted}: another "
                             "process is reading it; run the command again when it is done")

    def amounts_added(self, stored: str, change: str) -> str:
        return f"damount_add({stored}, {change})"

    def number(self, amount: str) -> str:
        return f"CAST({amount} AS REAL)"

    now = "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')"

    def month(self, instant: str) -> str:
        return f"substr({instant}, 1, 7)"  # ISO text in UTC

    def day(self, instant: str) -> str:
        return f"substr({instant}, 1, 10)"

    def day_start(self, instant: str) -> str:
        return f"(substr({instant}, 1, 10) || 'T00:00:00+00:00')"

    def month_start(self, month: str) -> str:
        return f"({month} || '-01T00:00:00+00:00')"

    def next_month(self, month: str) -> str:
        return f"strftime('%Y-%m', {month} || '-01', '+1 month')"

    def days_between(self, earlier: str, later: str) -> str:
        return f"(julianday({later}) - julianday({earlier}))"

    def rounded(self, value: str, places: int) -> str:
        return f"round({value}, {places})"

    def whole(self, value: str) -> str:
        return f"CAST({value} AS INTEGER)"  # truncates: down, for a value >= 0

    def greatest(self, a: str, b: str) -> str:
        return f"max({a}, {b})"

    def least(self, a: str, b: str) -> str:
        return f"min({a}, {b})"

    def days_literal(self, count: int) -> str:
        return f"'{count:+d} days'"

    def create_view(self, name: str, select: str, digest: str) -> list[str]:
        # SQLite keeps a view's statement as written, comment included.
        return [f"DROP VIEW IF EXISTS {name}",
                f"CREATE VIEW {name} AS /* {VIEW_MARK} {digest} */ {select}"]

    def view_digests(self, db: ReportingDB, names: Sequence[str]) -> dict[str, str | None]:
        found = {r["name"]: r["sql"] for r in db.query(
            "SELECT name, sql FROM sqlite_master WHERE type = 'view'")}
        return {name: _view_digest(found[name]) for name in names if name in found}

    def named(self, statement: str) -> str:
        return statement  # sqlite3 reads :name itself

    def sql(self, statement: str) -> str:
        return statement

    def existing(self, db: ReportingDB, names: Sequence[str]) -> set[str]:
        return {r["name"] for r in db.query(
            "SELECT name FROM sqlite_master UNION ALL "
            "SELECT t.name || '.' || c.name FROM sqlite_master AS t, pragma_table_info(t.name) "
            "AS c WHERE t.type = 'table'")}

    def plain_rows(self, rows: Sequence[tuple[Any, ...]]) -> Iterable[tuple[Any, ...]]:
        return rows  # text, numbers and None only: plain already

    def streaming_cursor(self, conn: Any) -> Any:
        return conn.cursor()

    def collate(self, kind: str) -> str:
        return ""  # SQLite compares text by code point

    def select_records(self, db: ReportingDB, select: str, params: Sequence[Any],
                       keys: Sequence[str]) -> list[dict[str, Any]]:
        # SQLite builds the records itself, as one JSON array that orjson decodes: one value
        # to fetch instead of one per column, and no row tuples to turn into dicts.
        record = ", ".join(f"'{key}', {key}" for key in keys)
        [row] = db.query(f"SELECT json_group_array(json_object({record})) AS records "
                         f"FROM ({select})", params)
        records: list[dict[str, Any]] = orjson.loads(row["records"])
        return records

    def instant(self, moment: datetime) -> Any:
        return moment.isoformat()  # compared with the stored UTC ISO text

    def days(self, count: int) -> Any:
        return f"+{count} days"

    def shifted(self, column: str, days: str) -> str:
        # Whole days move the date and keep the time of day and the "+00:00" offset.
        return f"date(substr({column}, 1, 10), {days}) || substr({column}, 11)"

    @contextmanager
    def shadow(self, live: ReportingDB) -> Iterator[str]:
        """A file in a scratch folder next to the live database (same disk, so room for a
        copy of the tables); one that a killed run left there is removed first."""
        path = live.location.path
        assert path is not None
        with scratch_folder(SHADOW_KIND, path) as folder:
            yield str(folder / "shadow.db")


def _view_digest(statement: str | None) -> str | None:
    match = re.search(rf"/\* {VIEW_MARK} (\w+) \*/", statement or "")
    return match[1] if match else None


class _DecimalSum:
    """SQLite aggregate ``dsum``: ``exact_sum`` of text amounts."""

    def __init__(self) -> None:
        self.amounts: list[str] = []

    def step(self, value: str | None) -> None:
        if value is not None:
            self.amounts.append(value)

    def finalize(self) -> str | None:
        return exact_sum(self.amounts)


class _RatingAverage:
    """SQLite aggregate ``rating_avg``: ``rating_average`` of the non-null ratings."""

    def __init__(self) -> None:
        self.total = self.count = 0

    def step(self, value: int | None) -> None:
        if value is not None:
            self.total += value
            self.count += 1

    def finalize(self) -> float | None:
        return rating_average(self.total, self.count)
