"""The PostgreSQL event database: its library settings, readers, and the recorder touchlog uses.

The recorder is the library's with two changes. No psycopg pipeline mode, where large saves
stalled: a save's table lock, notify and append go in one ordinary transaction. And the
events are appended with a binary COPY instead of an insert of a composite array. The
EXCLUSIVE table lock still makes insert order equal commit order, so readers of the
notification log never pass over a gap that is filled later.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit
from uuid import UUID

import psycopg
from eventsourcing.persistence import (
    InterfaceError,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from touchlog.domain.errors import StoreError
from touchlog.domain.storage.database import (
    BATCH,
    EVENT_DATABASE,
    RECONNECTED,
    Database,
    Row,
    fetched,
    lock_timeout,
)
from touchlog.domain.storage.location import parameters, scrubbed

if TYPE_CHECKING:
    from touchlog.domain.storage.location import Location

DEFAULT_NAME = "postgres"  # the user, and the database, a URL may leave out
# Any fixed number: the advisory lock that serialises table creation across processes.
_CREATION_LOCK = 0x746F756368  # "touch"
ATTEMPTS, WAIT_SECONDS = 10, 0.2  # a statement tried again on a lost connection, and when
F = TypeVar("F", bound=Callable[..., Any])


def connection_lost(error: BaseException) -> bool:
    """Whether a psycopg error (or the library's error wrapping one) says the connection is
    gone: closed by the server or the network (no SQLSTATE), a connection exception (08…),
    or the server ending it (57P…: shut down, terminated by an administrator)."""
    cause = error if isinstance(error, psycopg.Error) else error.__cause__
    if not isinstance(cause, psycopg.Error):
        return False
    state = cause.sqlstate
    return (state is None and isinstance(cause, psycopg.OperationalError)) or \
        (state or "").startswith(("08", "57P"))


def reconnecting(*, retry_any: bool = False) -> Callable[[F], F]:
    """Runs an event-store statement again, on another connection from the pool, when its
    connection was lost (``retry_any``: after any operational error, such as a lock
    timeout, too), at most ATTEMPTS times; counts each lost connection in RECONNECTED."""
    def decorate(method: F) -> F:
        @functools.wraps(method)
        def retried(*args: Any, **kwargs: Any) -> Any:
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    return method(*args, **kwargs)
                except (InterfaceError, OperationalError) as e:
                    lost = connection_lost(e)
                    if attempt == ATTEMPTS or not (lost or retry_any):
                        raise
                    RECONNECTED[EVENT_DATABASE] += lost
                    time.sleep(WAIT_SECONDS)  # a server restarting needs a moment
            raise AssertionError("unreachable")
        return retried  # type: ignore[return-value]
    return decorate


class PostgresEventRecorder(PostgresApplicationRecorder):
    @reconnecting(retry_any=True)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Appends a save's events with one binary COPY (the library's insert of a composite
        array costs several times as much per row), under the library's table lock, so
        that insert order stays commit order; the notification ids are then those above
        the highest before the COPY, which no one else can take while the lock is held."""
        with self.datastore.get_connection() as conn, conn.transaction():
            with conn.cursor() as curs:
                self._insert_events(curs, stored_events, **kwargs)
                if not stored_events:
                    return None
                self._lock_table(curs)
                self._notify_channel(curs)
                table = SQL("{}.{}").format(Identifier(self.datastore.schema),
                                            Identifier(self.events_table_name))
                curs.execute(SQL("SELECT coalesce(max(notification_id), 0) AS last FROM {}")
                             .format(table))
                last = curs.fetchone()["last"]  # type: ignore[index]
                with curs.copy(SQL("COPY {} (originator_id, originator_version, topic, state) "
                                   "FROM STDIN (FORMAT BINARY)").format(table)) as copy:
                    copy.set_types([self.datastore.originator_id_type, "int8", "text",
                                    "bytea"])
                    for event in stored_events:
                        copy.write_row((event.originator_id, event.originator_version,
                                        event.topic, event.state))
                curs.execute(SQL("SELECT notification_id FROM {} WHERE notification_id > %s "
                                 "ORDER BY notification_id").format(table), (last,))
                ids = [row["notification_id"] for row in curs.fetchall()]
                if len(ids) != len(stored_events):
                    raise ProgrammingError(f"appended {len(stored_events)} events but found "
                                           f"{len(ids)} new notification ids")
                return ids


class PostgreSQL(Database):
    """A PostgreSQL database: ids are stored as UUIDs, the library notifies subscribers of
    new events, and a long read streams through a server-side cursor."""

    name = "postgres"
    position = "notification_id"
    can_subscribe = True

    def environment(self, location: Location, *, create: bool) -> dict[str, str]:
        parts = urlsplit(location.url)
        query = parameters(location.url)
        # As libpq: a "password" parameter wins over the password after the user name.
        password = query.get("password", unquote(parts.password or ""))
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or DEFAULT_NAME,
            "POSTGRES_HOST": parts.hostname or "localhost",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or DEFAULT_NAME),
            "POSTGRES_PASSWORD": password,
            "POSTGRES_CONNECT_TIMEOUT": "5",
            "POSTGRES_POOL_SIZE": "2",
            "POSTGRES_MAX_OVERFLOW": "4",
            "POSTGRES_LOCK_TIMEOUT": str(lock_timeout()),
            "APPLICATION_RECORDER_TOPIC": "touchlog.domain.storage.postgres:PostgresEventRecorder",
        }
        if location.schema:
            env["POSTGRES_SCHEMA"] = location.schema
        return env

    @contextmanager
    def creation_lock(self, location: Location, env: dict[str, str]) -> Iterator[None]:
        """An advisory lock: PostgreSQL refuses concurrent ``CREATE OR REPLACE FUNCTION``
        ("tuple concurrently updated") when several processes start at once."""
        try:
            connection = psycopg.connect(
                dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"],
                port=env["POSTGRES_PORT"], user=env["POSTGRES_USER"],
                password=env["POSTGRES_PASSWORD"] or None, connect_timeout=5, autocommit=True,
            )
        except psycopg.Error as e:
            raise StoreError(f"cannot connect to {location.redacted}: "
                             f"{scrubbed(_first_line(e), location.url)}") from None
        with connection:
            connection.execute("SELECT pg_advisory_lock(%s)", (_CREATION_LOCK,))
            try:
                yield
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", (_CREATION_LOCK,))

    @reconnecting()
    def query(self, recorder: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with recorder.datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(_statement(recorder, sql), tuple(params))
            return list(cursor.fetchall())

    @contextmanager
    def stream(self, recorder: Any, sql: str) -> Iterator[Iterator[Row]]:
        with recorder.datastore.get_connection() as conn, conn.transaction():
            # A named (server-side) cursor streams; a plain one would fetch every row at once.
            with conn.cursor("touchlog_verify", row_factory=tuple_row) as cursor:
                cursor.itersize = BATCH
                cursor.execute(_statement(recorder, sql))
                yield fetched(cursor)

    def stored_ids(self, ids: Sequence[UUID]) -> list[Any]:
        return list(ids)


def _statement(recorder: Any, sql: str) -> str:
    table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
    return sql.format(table=table).replace("?", "%s")


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
