"""The stored event rows exactly as written, read with plain SQL (no mapper, no decoding).

Audits must judge the bytes in the database, not what the application makes of them: a
mapper that skipped or repaired a field would hide the very change an audit looks for.
Rows are streamed, so a million-event log never sits in memory: the whole log in log order
(sequential reads, the fast path), one customer's events in version order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import OperationalError, StoredEvent

from touchlog.domain.errors import StoreError

if TYPE_CHECKING:
    from touchlog.domain.application import TouchpointLog

# (customer id, version, topic, state bytes); the id is a UUID or its 32-digit hex text.
Row = tuple[Any, int, str, bytes]
BATCH = 20_000


@contextmanager
def stored_rows(app: TouchpointLog, customer: UUID | None = None) -> Iterator[Iterator[Row]]:
    """Every stored event in log order, or one customer's in version order."""
    if app.location.kind == "sqlite":
        with _sqlite_rows(app, customer) as rows:
            yield rows
    else:
        with _postgres_rows(app, customer) as rows:
            yield rows


@contextmanager
def _sqlite_rows(app: TouchpointLog, customer: UUID | None) -> Iterator[Iterator[Row]]:
    recorder: Any = app.recorder
    table = recorder.events_table_name
    sql = f"SELECT originator_id, originator_version, topic, state FROM {table}"  # noqa: S608
    params: tuple[str, ...] = ()
    if customer is not None:
        sql += " WHERE originator_id = ?"
        params = (customer.hex,)
    sql += " ORDER BY originator_version" if customer is not None else " ORDER BY rowid"
    with recorder.datastore.get_connection(commit=False) as conn:
        cursor = conn.cursor().sqlite_cursor
        cursor.row_factory = None  # plain tuples: the pool's sqlite3.Row costs time per row
        try:
            cursor.execute(sql, params)
            yield _batches(cursor)
        finally:
            cursor.close()


@contextmanager
def _postgres_rows(app: TouchpointLog, customer: UUID | None) -> Iterator[Iterator[Row]]:
    from psycopg.rows import tuple_row
    from psycopg.sql import SQL, Identifier

    recorder: Any = app.recorder
    sql = SQL("SELECT originator_id, originator_version, topic, state FROM {}.{}").format(
        Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name)
    )
    params: tuple[UUID, ...] = ()
    if customer is not None:
        sql += SQL(" WHERE originator_id = %s")
        params = (customer,)
    sql += SQL(" ORDER BY originator_version" if customer is not None
                else " ORDER BY notification_id")
    with recorder.datastore.get_connection() as conn, conn.transaction():
        # A named (server-side) cursor streams; a plain one would fetch every row at once.
        with conn.cursor("touchlog_verify", row_factory=tuple_row) as cursor:
            cursor.itersize = BATCH
            cursor.execute(sql, params)
            yield _batches(cursor)


def _batches(cursor: Any) -> Iterator[Row]:
    while rows := cursor.fetchmany(BATCH):
        yield from rows


def id_text(raw: Any) -> str:
    """The canonical (hyphenated) text of a stored customer id, as the chain hashes it."""
    return str(raw if isinstance(raw, UUID) else UUID(hex=raw))


# (position, customer id, version, topic, state bytes): one row of the notification log.
Notification = tuple[int, Any, int, str, bytes]


def notifications(app: TouchpointLog, after: int, limit: int,
                  upto: int | None = None) -> list[Notification]:
    """Up to ``limit`` stored events after position ``after`` (and at most ``upto``)."""
    position = "rowid" if app.location.kind == "sqlite" else "notification_id"
    bound = "" if upto is None else f" AND {position} <= ?"
    rows = query_events(
        app, f"SELECT {position}, originator_id, originator_version, topic, state "
        f"FROM {{table}} WHERE {position} > ?{bound} ORDER BY {position} LIMIT ?",
        (after, *(() if upto is None else (upto,)), limit))
    return rows


IDS_PER_QUERY = 500  # below SQLite's bound-variable limit; cheap on PostgreSQL too


def query_events(app: Any, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of a read-only query on the event table, as plain tuples.

    ``sql`` names the table ``{table}`` and binds with ``?`` (turned into ``%s`` on
    PostgreSQL). Reading through the recorder's own connection skips the library's
    per-row objects, which cost more than the query on big reads.
    """
    recorder = app.recorder
    if app.location.kind == "sqlite":
        statement = sql.format(table=recorder.events_table_name)
        with recorder.datastore.get_connection(commit=False) as conn:
            cursor = conn.cursor().sqlite_cursor
            cursor.row_factory = None  # plain tuples, not the pool's sqlite3.Row
            try:
                return list(cursor.execute(statement, tuple(params)).fetchall())
            finally:
                cursor.close()
    from psycopg.rows import tuple_row

    table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
    statement = sql.format(table=table).replace("?", "%s")
    with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as c:
        c.execute(statement, tuple(params))
        return list(c.fetchall())


def event_rows(app: Any, ids: Sequence[UUID]) -> list[tuple[Any, int, str, bytes]]:
    """Every stored event of the given aggregates as plain rows (originator id as stored,
    version, topic, state), by aggregate and version, one query per IDS_PER_QUERY ids.
    A database that cannot be read is a StoreError naming it."""
    sqlite = app.location.kind == "sqlite"
    rows: list[tuple[Any, int, str, bytes]] = []
    try:
        for start in range(0, len(ids), IDS_PER_QUERY):
            chunk = ids[start:start + IDS_PER_QUERY]
            marks = ", ".join("?" * len(chunk))
            rows += query_events(
                app, "SELECT originator_id, originator_version, topic, state FROM {table} "
                f"WHERE originator_id IN ({marks}) ORDER BY originator_id, originator_version",
                [i.hex for i in chunk] if sqlite else chunk)
    except (OperationalError, sqlite3.Error) as e:
        raise StoreError(f"cannot read {app.location.redacted}: {e}") from None
    return rows


def stored_events(app: Any, ids: Sequence[UUID]) -> dict[UUID, list[StoredEvent]]:
    """Every stored event of the given aggregates, in version order, by aggregate id."""
    sqlite = app.location.kind == "sqlite"
    found: dict[UUID, list[StoredEvent]] = {}
    for originator_id, version, topic, state in event_rows(app, ids):
        key = UUID(hex=originator_id) if sqlite else originator_id
        found.setdefault(key, []).append(StoredEvent(key, version, topic, bytes(state)))
    return found
