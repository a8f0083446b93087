"""A thin connection to the reporting database through its own client (sqlite3 or psycopg).

The ORM is deliberately absent: projections write whole batches with ``executemany`` and
set-based statements, which is what makes rebuilds fast. What differs between SQLite and
PostgreSQL is asked of the connection's ``dialect`` (projections/engine/dialect.py).
"""

from __future__ import annotations

import re
import sqlite3
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import unquote

from touchlog.domain.errors import StoreError
from touchlog.domain.storage.database import lock_timeout
from touchlog.domain.storage.location import locate, redact
from touchlog.projections.engine.dialect import Dialect
from touchlog.projections.engine.postgres import PostgresReporting
from touchlog.projections.engine.schema import ALL_TABLES, PROJECTION_TABLES, TRACKING
from touchlog.projections.engine.sqlite import SQLiteReporting

# Indexes earlier versions made and nothing reads any more (each costs every write).
SUPERSEDED_INDEXES = ("followup_customers_coalesce_owner_last_contact_actor",)
# Columns earlier versions had: the stage now lives in stage_current alone.
SUPERSEDED_COLUMNS = (("archive_customers", "stage"), ("followup_customers", "stage"))
CHUNK = 500  # ids per IN (...) list: below SQLite's variable limit, cheap on PostgreSQL
# The dialect serving each kind of event database (``Database.name``).
DIALECTS: dict[str, Dialect] = {d.name: d for d in (SQLiteReporting(), PostgresReporting())}


class ReportingDB:
    """One connection to the reporting tables, with explicit transactions."""

    def __init__(self, url: str, create: bool = True) -> None:
        """Opens ``url`` and creates what is missing of the tables and indexes (unless not
        ``create``: a rebuild's helper leaves the readers' indexes to the rebuild's end)."""
        self.url = url
        try:
            self.location = locate(url)
            self.dialect = DIALECTS[self.location.database.name]
            self.conn: Any = self.dialect.connect(self.location)
        except Exception as e:  # sqlite3, psycopg, a malformed URL: all say the same
            raise StoreError(f"cannot open the reporting database {_redacted(url)}: "
                             f"{_scrub(str(e), url)}") from None
        if create:
            self.create_tables()

    def execute(self, statement: str, params: Sequence[Any] = ()) -> int:
        with self.errors():
            cursor = self.conn.execute(self.dialect.sql(statement), tuple(params))
        return int(cursor.rowcount)

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self.errors():
                self.conn.cursor().executemany(self.dialect.sql(statement), rows)

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.errors():
            cursor = self.conn.execute(self.dialect.sql(statement), tuple(params))
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        return [dict(zip(names, row, strict=True)) for row in self.dialect.plain_rows(rows)]

    @contextmanager
    def errors(self) -> Iterator[None]:
        """The client's errors (locked, read-only, connection lost) as a StoreError."""
        try:
            yield
        except _client_errors() as e:
            message = _scrub(str(e).strip().splitlines()[0] if str(e).strip() else
                             type(e).__name__, self.url)
            if "locked" in message:
                message += f" (another writer held it longer than {lock_timeout()} s, " \
                           "TOUCHLOG_LOCK_TIMEOUT)"
            raise StoreError(f"cannot use the reporting database {_redacted(self.url)}: "
                             f"{message}") from None

    def by_keys(self, table: str, column: str, keys: Sequence[Any],
                columns: str = "*") -> list[dict[str, Any]]:
        """Rows whose ``column`` is one of ``keys``, fetched in chunks."""
        rows: list[dict[str, Any]] = []
        for i in range(0, len(keys), CHUNK):
            chunk = keys[i:i + CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows += self.query(f"SELECT {columns} FROM {table} WHERE {column} IN ({marks})",
                               chunk)
        return rows

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction; on SQLite it takes the write lock at once."""
        with self.errors():
            self.conn.execute(self.dialect.begin)
        try:
            yield
        except BaseException:
            with suppress(*_client_errors()):  # a lost connection has rolled back already
                self.conn.execute("ROLLBACK")
            raise
        with self.errors():
            self.conn.execute("COMMIT")

    def create_tables(self) -> None:
        # Only when something is missing: on PostgreSQL the DDL's locks, taken while a
        # rebuild holds the same tables, made a plain query end in "deadlock detected".
        missing = self._missing_relations()
        if not missing:
            return
        with self.transaction(), self.errors():
            changed = self._outdated(missing)
            for name in changed:  # emptied below anyway: made again with every column
                self.conn.execute(f"DROP TABLE {name}")
            for table in ALL_TABLES:
                for statement in table.ddl(self.dialect.types):
                    self.conn.execute(statement)
            for index in SUPERSEDED_INDEXES:
                self.conn.execute(f"DROP INDEX IF EXISTS {index}")
            for table_name, column in SUPERSEDED_COLUMNS:
                if column in self._columns(table_name):
                    # Its rows' positions counted the events that changed that column.
                    self.conn.execute(f"ALTER TABLE {table_name} DROP COLUMN {column}")
                    changed.append(table_name)
            if TRACKING.name not in missing:
                self._start_over(name for name, tables in PROJECTION_TABLES.items()
                                 if any(t.name in missing or t.name in changed
                                        for t in tables))

    def _columns(self, table: str) -> list[str]:
        cursor = self.conn.execute(f"SELECT * FROM {table} WHERE 1 = 0")
        return [d[0] for d in cursor.description]

    def _outdated(self, missing: list[str]) -> list[str]:
        """The projection tables an earlier version made without a column they now have."""
        return [table.name for tables in PROJECTION_TABLES.values() for table in tables
                if table.name not in missing
                and not set(table.column_names) <= set(self._columns(table.name))]

    def _start_over(self, names: Iterable[str]) -> None:
        """Empties projections whose tables an earlier version made otherwise (a table, a
        column more or less) and moves them back to the log's start: their next catch-up
        applies the whole log by today's rules."""
        for name in names:
            for table in PROJECTION_TABLES[name]:
                self.conn.execute(f"DELETE FROM {table.name}")
            self.conn.execute(self.dialect.sql(
                f"UPDATE {TRACKING.name} SET position = 0 WHERE name = ?"), (name,))

    def drop_reader_indexes(self, names: Iterable[str]) -> None:
        """Drops the indexes only readers use from the named projections' tables (inside
        the caller's transaction); ``create_tables`` makes them again."""
        for name in names:
            for table in PROJECTION_TABLES[name]:
                for index in table.reader_indexes:
                    self.execute(f"DROP INDEX IF EXISTS {table.index_name(index)}")

    def _missing_relations(self) -> list[str]:
        names = [name for table in ALL_TABLES
                 for name in (table.name, *map(table.index_name, table.indexes))]
        existing = self.dialect.existing(self, names)
        return [name for name in names if name not in existing]

    def positions(self) -> dict[str, int]:
        rows = self.query(f"SELECT name, position FROM {TRACKING.name}")
        return {r["name"]: int(r["position"]) for r in rows}

    def close(self) -> None:
        self.conn.close()


def _client_errors() -> tuple[type[Exception], ...]:
    psycopg = sys.modules.get("psycopg")  # loaded only when a PostgreSQL URL was opened
    return (sqlite3.Error, psycopg.Error) if psycopg is not None else (sqlite3.Error,)


_USERINFO = re.compile(r"(://[^:/@]*):([^@/]*)@")


def _redacted(url: str) -> str:
    try:
        return redact(url)
    except ValueError:  # too malformed for urlsplit: mask the userinfo by pattern
        return _USERINFO.sub(r"\1:***@", url)


def _scrub(message: str, url: str) -> str:
    """A client's message with the URL's password masked, in case the client echoed it."""
    found = _USERINFO.search(url)
    if found is None or not found.group(2):
        return message
    for secret in {found.group(2), unquote(found.group(2))}:
        message = message.replace(secret, "***")
    return message
