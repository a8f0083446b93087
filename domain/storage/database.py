"""What differs between the event databases, behind one object per database.

``SQLite`` (domain/storage/sqlite.py) and ``PostgreSQL`` (domain/storage/postgres.py)
implement ``Database``, as the eventsourcing library keeps each database in one module:
callers ask the location's database (``location.database``) instead of comparing names.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from touchlog.domain.errors import StoreError

if TYPE_CHECKING:
    from touchlog.domain.storage.location import Location

# (customer id as stored, version, topic, state bytes): one stored event.
Row = tuple[Any, int, str, bytes]
BATCH = 20_000  # rows fetched at a time when streaming
# Connections to a database server this process lost and opened again (the server
# restarted, or an administrator ended them), by database (EVENT_DATABASE, or the
# reporting one): what a command that carried on reports.
RECONNECTED: Counter[str] = Counter()
EVENT_DATABASE = "event database"


@dataclass(frozen=True)  # equal and shown by kind: a Location holds one
class Database(ABC):
    """One kind of event database: its library settings and how its event table is read.

    Queries name the event table ``{table}`` and bind with ``?``; rows come back as plain
    tuples, read through the recorder's own connection.
    """

    name: ClassVar[str]  # for messages, and to pick the reporting side's counterpart
    position: ClassVar[str]  # the event table's column holding the notification id
    can_subscribe: ClassVar[bool] = False  # whether the library pushes new notifications

    @abstractmethod
    def environment(self, location: Location, *, create: bool) -> dict[str, str]:
        """The eventsourcing library's settings; ``create`` says whether a missing
        database may be created (write commands) or is an error (queries)."""

    def creation_lock(self, location: Location, env: dict[str, str]
                      ) -> AbstractContextManager[None]:
        """Held while the library creates the tables."""
        return nullcontext()

    def exists(self, location: Location) -> bool:
        """Whether there is a database to open."""
        return True

    def read_only(self, location: Location) -> bool:
        """Whether this process may read the database but not write it (a SQLite file or
        its folder without write permission, a read-only file system)."""
        return False

    def is_empty(self, location: Location) -> bool:
        """Whether the database is an empty file (0 bytes): no touchlog log yet."""
        return False

    @abstractmethod
    def query(self, recorder: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of a read-only query on the event table."""

    @abstractmethod
    def stream(self, recorder: Any, sql: str) -> AbstractContextManager[Iterator[Row]]:
        """The rows of a read-only query on the event table, fetched ``BATCH`` at a time,
        so a long log never sits in memory."""

    @abstractmethod
    def stored_ids(self, ids: Sequence[UUID]) -> list[Any]:
        """Customer ids as the event table stores them, to bind as parameters."""

    def head_sql(self, recorder: Any) -> str | None:
        """A subquery for the log's head that a reporting connection to this same database
        can run; None when the head is asked of the recorder."""
        return None


def fetched(cursor: Any) -> Iterator[Row]:
    """A cursor's rows, fetched ``BATCH`` at a time."""
    while rows := cursor.fetchmany(BATCH):
        yield from rows


def lock_timeout() -> int:
    """Seconds a writer waits for another writer's lock (``TOUCHLOG_LOCK_TIMEOUT``, default 10)."""
    value = os.environ.get("TOUCHLOG_LOCK_TIMEOUT", "").strip() or "10"
    if not value.isdigit():
        raise StoreError(f"TOUCHLOG_LOCK_TIMEOUT must be whole seconds, e.g. 10 (got {value!r})")
    return int(value)
