"""A thin connection to the reporting database through its own client (sqlite3 or psycopg).

The ORM is deliberately absent: projections write whole batches with ``executemany`` and
set-based statements, which is what makes rebuilds fast. What differs between SQLite and
PostgreSQL is asked of the connection's ``dialect`` (projections/engine/dialect.py).
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from touchlog.domain.errors import ConnectionLost, StoreError
from touchlog.domain.storage.database import RECONNECTED, lock_timeout
from touchlog.domain.storage.location import locate, redact, scrubbed
from touchlog.projections.engine.dialect import Dialect
from touchlog.projections.engine.postgres import PostgresReporting
from touchlog.projections.engine.schema import (
    ALL_TABLES,
    PROJECTION_TABLES,
    TRACKING,
    Table,
    View,
)
from touchlog.projections.engine.sqlite import SQLiteReporting

# Indexes earlier versions made and nothing reads any more (each costs every write).
SUPERSEDED_INDEXES = ("followup_customers_coalesce_owner_last_contact_actor",
                      "followup_customers_coalesce_nullif_owner_last_contact_actor",
                      # now with the total and the customer too (schema.RFM)
                      "archive_customers_contacts_last_contact_at")
# Columns earlier versions had: the stage now lives in stage_current alone, and what the
# cadence needs of a customer in archive_customers alone.
SUPERSEDED_COLUMNS = (("archive_customers", "stage"), ("followup_customers", "stage"),
                      ("followup_customers", "owner"), ("followup_customers", "last_contact_at"),
                      ("followup_customers", "last_contact_actor"))
# Tables earlier versions made: each contact's time and actor, now read from the archive.
SUPERSEDED_TABLES = ("followup_contacts",)
CHUNK = 500  # ids per IN (...) list: below SQLite's variable limit, cheap on PostgreSQL
REPORTING_DATABASE = "reporting database"  # its key in RECONNECTED
# The dialect serving each kind of event database (``Database.name``).
DIALECTS: dict[str, Dialect] = {d.name: d for d in (SQLiteReporting(), PostgresReporting())}


class ReportingDB:
    """One connection to the reporting tables, with explicit transactions."""

    def __init__(self, url: str, create: bool = True) -> None:
        """Opens ``url`` and creates what is missing of the tables and indexes (unless not
        ``create``: a rebuild's helper and an import's follower leave the readers' indexes
        to the end of the bulk load)."""
        self.url = url
        try:
            self.location = locate(url)
            self.dialect = DIALECTS[self.location.database.name]
        except Exception as e:  # a malformed URL
            raise self._unopened(e) from None
        self.conn: Any = self._connect()
        self.read_only = self.location.database.read_only(self.location)
        if create:
            self.create_tables()

    def _connect(self) -> Any:
        try:
            return self.dialect.connect(self.location)
        except Exception as e:  # sqlite3, psycopg: all say the same
            raise self._unopened(e) from None

    def _unopened(self, error: Exception) -> StoreError:
        return StoreError(f"cannot open the reporting database {redact(self.url)}: "
                          f"{scrubbed(str(error), self.url)}")

    def reconnect(self) -> None:
        """Opens the connection again, after a ``ConnectionLost``."""
        with suppress(*_client_errors()):
            self.conn.close()
        self.conn = self._connect()
        RECONNECTED[REPORTING_DATABASE] += 1

    @property
    def redacted(self) -> str:
        """The URL as messages show it: without its password."""
        return redact(self.url)

    def execute(self, statement: str, params: Sequence[Any] = ()) -> int:
        with self.errors():
            cursor = self.conn.execute(self.dialect.sql(statement), tuple(params))
        return int(cursor.rowcount)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
               numbers: Collection[str] = (), replace_on: Sequence[str] = ()) -> None:
        """Inserts ``rows`` (values in ``columns``' order), each one after the other: a row
        whose key is taken already is left out, or, with ``replace_on`` (the key's
        columns), replaces the other columns of the row there. A column in ``numbers`` is
        given its exact amount, which becomes the number."""
        if rows:
            with self.errors():
                self.dialect.insert(self.conn, table, columns, rows, numbers, replace_on)

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self.errors():
                self.conn.cursor().executemany(self.dialect.sql(statement), rows)

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self._records(self.dialect.sql(statement), tuple(params))

    def query_named(self, statement: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """``query`` with ``:name`` parameters, given by name."""
        return self._records(self.dialect.named(statement), dict(params))

    def _records(self, statement: str, params: Any) -> list[dict[str, Any]]:
        """The rows of a statement in the client's own form, as records by column name."""
        with self.errors():
            cursor = self.conn.execute(statement, params)
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        return [dict(zip(names, row, strict=True)) for row in self.dialect.plain_rows(rows)]

    @contextmanager
    def errors(self) -> Iterator[None]:
        """The client's errors (locked, read-only, connection lost) as a StoreError."""
        try:
            yield
        except _client_errors() as e:
            message = scrubbed(str(e).strip().splitlines()[0] if str(e).strip() else
                               type(e).__name__, self.url)
            if "locked" in message:
                message += f" (another writer held it longer than {lock_timeout()} s, " \
                           "TOUCHLOG_LOCK_TIMEOUT)"
            elif self.read_only:
                message += (" (this process may only read it, and the reporting tables need "
                            "bringing up to date: name a writable reporting database with "
                            "TOUCHLOG_REPORTING_DB, docs/reporting.md)")
            error = ConnectionLost if self.dialect.lost(e) else StoreError
            raise error(f"cannot use the reporting database {redact(self.url)}: "
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
        """Creates the missing tables and indexes, and makes the report views that are
        missing or were made from another definition.

        A projection table an earlier version made without one of today's columns is made
        again, and its projection applied anew from the log (a column added empty would hold
        no values for the older rows), unless what it lacks are number columns: those are
        added and filled from their exact amounts. The tracking table gets the columns it
        lacks, nullable, and keeps its rows.
        """
        # Only when something is missing, and only what is: on PostgreSQL the DDL's locks,
        # taken while another process applies events to the same tables, made a plain query
        # end in "deadlock detected".
        if not self.missing_relations():
            return
        with self.transaction(), self.errors():
            for statement in self.dialect.alone():
                self.conn.execute(statement)
            missing = set(self.missing_relations())  # again, now that this writer is alone
            if not missing:
                return  # another process made them meanwhile
            views = _report_views(self.dialect)
            # A table or column changing under the views: they are made again after it.
            remade = not missing <= {view.name for view in views}
            for view in views if remade else ():
                self.conn.execute(f"DROP VIEW IF EXISTS {view.name}")
            for statement in self.dialect.create_namespace(self.location):
                self.conn.execute(statement)
            changed = self._outdated(missing)
            for name in changed:  # emptied below anyway: made again with every column
                self.conn.execute(f"DROP TABLE {name}")
            for table in ALL_TABLES:
                made = (table.ddl(self.dialect.types) if table.name in changed
                        else self._made(table, missing))
                for statement in made:
                    self.conn.execute(statement)
            for index in SUPERSEDED_INDEXES:
                self.conn.execute(f"DROP INDEX IF EXISTS {index}")
            for table_name in SUPERSEDED_TABLES:
                self.conn.execute(f"DROP TABLE IF EXISTS {table_name}")
            for table_name, column in SUPERSEDED_COLUMNS:
                if column in self._columns(table_name):
                    # Its rows' positions counted the events that changed that column.
                    self.conn.execute(f"ALTER TABLE {table_name} DROP COLUMN {column}")
                    changed.append(table_name)
            for view in views:
                if remade or view.name in missing:
                    for statement in self.dialect.create_view(view.name, view.select,
                                                              view.digest):
                        self.conn.execute(statement)
            if TRACKING.name not in missing:
                # Tables an earlier version made otherwise: applied anew by today's rules.
                self.start_over(name for name, tables in PROJECTION_TABLES.items()
                                 if any(t.name in missing or t.name in changed
                                        for t in tables))

    def _made(self, table: Table, missing: set[str]) -> list[str]:
        """The statements making what is missing of a table: the table with its indexes,
        or the columns (filled) and the indexes an older version's table lacks."""
        create, *indexes = table.ddl(self.dialect.types)
        if table.name in missing:
            return [create, *indexes]
        return [*table.added_columns(self.dialect.types, missing),
                *table.filled_numbers(self.dialect.number, missing),
                *(statement for index, statement in zip(table.indexes, indexes, strict=True)
                  if table.index_name(index) in missing)]

    def _columns(self, table: str) -> list[str]:
        cursor = self.conn.execute(f"SELECT * FROM {table} WHERE 1 = 0")
        return [d[0] for d in cursor.description]

    def _outdated(self, missing: set[str]) -> list[str]:
        """The projection tables an earlier version made without a column they now have
        (other than a number column, which is filled from its exact amount)."""
        return [table.name for tables in PROJECTION_TABLES.values() for table in tables
                if table.name not in missing
                and any(table.column_key(c) in missing for c in table.column_names
                        if c not in dict(table.numbers))]

    def start_over(self, names: Iterable[str]) -> None:
        """Empties the named projections' tables and moves them back to the log's start
        (position 0, no log or event recorded): their next catch-up applies the whole log.
        Inside the caller's transaction."""
        for name in names:
            for table in PROJECTION_TABLES[name]:
                self.execute(f"DELETE FROM {table.name}")
            self.execute(f"UPDATE {TRACKING.name} SET position = 0, log_id = NULL, "
                         "event_id = NULL WHERE name = ?", (name,))

    def drop_reader_indexes(self, names: Iterable[str]) -> None:
        """Drops the indexes only readers use from the named projections' tables (inside
        the caller's transaction); ``create_tables`` makes them again."""
        for name in names:
            for table in PROJECTION_TABLES[name]:
                for index in table.reader_indexes:
                    self.execute(f"DROP INDEX IF EXISTS {table.index_name(index)}")

    def missing_relations(self) -> list[str]:
        """The tables, indexes and columns (``Table.column_key``) that do not exist."""
        names = [name for table in ALL_TABLES
                 for name in (table.name, *map(table.index_name, table.indexes),
                              *map(table.column_key, table.column_names))]
        existing = self.dialect.existing(self, names)
        views = {view.name: view.digest for view in _report_views(self.dialect)}
        made = self.dialect.view_digests(self, list(views))
        return ([name for name in names if name not in existing]
                + [name for name, digest in views.items() if made.get(name) != digest])

    def positions(self) -> dict[str, int]:
        """Each projection's tracked position; one that no touchlog run writes (SQLite lets
        the column hold text or a real) is a StoreError saying how to recover."""
        return {name: tracked_position(name, position)
                for name, position in self.tracked().items()}

    def tracked(self) -> dict[str, Any]:
        """Each projection's tracked position exactly as stored."""
        rows = self.query(f"SELECT name, position FROM {TRACKING.name}")
        return {r["name"]: r["position"] for r in rows}

    def close(self) -> None:
        self.conn.close()


def _report_views(dialect: Dialect) -> list[View]:
    """The reports' views (projections/reports), made after the tables they read; one whose
    definition changed is made anew."""
    from touchlog.projections.reports.catalogue import views

    return views(dialect)


def tracked_position(name: str, position: Any) -> int:
    """A tracked position as stored, if it is one (a whole number); else a StoreError."""
    if type(position) is not int:
        raise StoreError(
            f"{TRACKING.name} holds {position!r} as the position of {name}, which no touchlog "
            "run writes: the reporting tables were changed outside touchlog; 'touchlog "
            "projections rebuild' rebuilds them from the log")
    return position


def _client_errors() -> tuple[type[Exception], ...]:
    psycopg = sys.modules.get("psycopg")  # loaded only when a PostgreSQL URL was opened
    return (sqlite3.Error, psycopg.Error) if psycopg is not None else (sqlite3.Error,)
