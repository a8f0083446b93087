"""The SQLite event database: its library settings, readers, and the recorder touchlog uses.

The recorder is the library's, inserting a save with one statement. The library inserts a
save's events one ``execute`` at a time to collect each row id; an import saves thousands
of events at once. Rows inserted while the transaction holds the write lock get consecutive
row ids, so the notification ids are the ``len(events)`` ids ending at
``last_insert_rowid()``. A clash on (originator id, version) still raises the
IntegrityError that makes the application retry from a fresh load.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from touchlog.domain.errors import StoreError
from touchlog.domain.storage.database import Database, Row, fetched, lock_timeout

if TYPE_CHECKING:
    from touchlog.domain.storage.location import Location


# A new file's page size: bulk inserts write fewer, fuller pages than with SQLite's 4 KiB
# (an import of 100k contacts about 4% faster, docs/performance.md).
PAGE_SIZE = 16_384


class SQLiteEventRecorder(SQLiteApplicationRecorder):
    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent],
                       **_: Any) -> Sequence[int] | None:
        if not stored_events:
            return []
        c.executemany(self.insert_events_statement, [
            (s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
             s.originator_version, s.topic, s.state)
            for s in stored_events])
        c.execute("SELECT last_insert_rowid()")
        last = int(c.fetchone()[0])
        return list(range(last - len(stored_events) + 1, last + 1))


class SQLite(Database):
    """A SQLite file (the embedded default): ids are stored as 32-digit hex text, the
    notification id is the row id, and queries read plain tuples through the recorder's
    raw sqlite3 cursor."""

    name = "sqlite"
    position = "rowid"

    def environment(self, location: Location, *, create: bool) -> dict[str, str]:
        assert location.path is not None
        _prepare_file(location.path, create=create)
        read_only = read_only_uri(location.path)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": read_only or str(location.path),
            "SQLITE_LOCK_TIMEOUT": str(lock_timeout()),
            "APPLICATION_RECORDER_TOPIC": "touchlog.domain.storage.sqlite:SQLiteEventRecorder",
            # Creating the tables is a write: a read-only log must have them already.
            "CREATE_TABLE": "no" if read_only and location.path.stat().st_size else "yes",
        }

    def exists(self, location: Location) -> bool:
        assert location.path is not None
        return location.path.exists()

    def read_only(self, location: Location) -> bool:
        assert location.path is not None
        return location.path.exists() and read_only_uri(location.path) is not None

    def is_empty(self, location: Location) -> bool:
        assert location.path is not None
        wal = location.path.with_name(location.path.name + "-wal")
        return (location.path.is_file() and location.path.stat().st_size == 0
                and not (wal.exists() and wal.stat().st_size))

    def query(self, recorder: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with _raw_cursor(recorder) as cursor:
            return list(cursor.execute(_table(recorder, sql), tuple(params)).fetchall())

    @contextmanager
    def stream(self, recorder: Any, sql: str) -> Iterator[Iterator[Row]]:
        with _raw_cursor(recorder) as cursor:
            cursor.execute(_table(recorder, sql))
            yield fetched(cursor)

    def stored_ids(self, ids: Sequence[UUID]) -> list[Any]:
        return [i.hex for i in ids]

    def head_sql(self, recorder: Any) -> str | None:
        # The log is in the same file: "anything new?" is one query on that connection.
        return f"(SELECT max({self.position}) FROM {recorder.events_table_name})"


def _table(recorder: Any, sql: str) -> str:
    return sql.format(table=recorder.events_table_name)


@contextmanager
def _raw_cursor(recorder: Any) -> Iterator[sqlite3.Cursor]:
    with recorder.datastore.get_connection(commit=False) as conn:
        cursor = conn.cursor().sqlite_cursor
        cursor.row_factory = None  # plain tuples: the pool's sqlite3.Row costs time per row
        try:
            yield cursor
        finally:
            cursor.close()


def read_only_uri(path: Path) -> str | None:
    """How to open a SQLite file this process may read but not write: None when it may
    write it, else the URI that reads it without writing anything.

    A log is in WAL mode, and reading it needs its -shm file, which SQLite makes beside it:
    in a folder this process may write, ``mode=ro`` is enough. In a read-only folder no
    one can make a -wal file, so without one the file cannot change while it is read, and
    ``immutable=1`` reads it without the -shm; a -wal file holding changes not yet copied
    into the file is read through its -shm file, and without one it cannot be read at all
    (``immutable`` would silently leave those changes out), which is an error.
    """
    if not path.exists() or (os.access(path, os.W_OK)
                             and os.access(path.parent, os.W_OK | os.X_OK)):
        return None
    uri = f"file:{quote(str(path))}?mode=ro"
    if os.access(path.parent, os.W_OK | os.X_OK):
        return uri
    wal, shm = (path.with_name(path.name + suffix) for suffix in ("-wal", "-shm"))
    if not (wal.exists() and wal.stat().st_size):
        return uri + "&immutable=1"
    if not shm.exists():
        raise StoreError(f"cannot read the database {path}: it is in a read-only folder and "
                         f"its write-ahead log {wal} holds changes not yet in the file, which "
                         f"SQLite reads only with {shm}; copy the database with its -wal file "
                         "to a writable folder (docs/reliability.md \"Backups\")")
    return uri


def create_file(path: Path) -> None:
    """Makes a new SQLite database at ``path`` (FileExistsError if there is a file): readable
    by its owner only from the first byte (it holds personal data), in WAL mode, with
    PAGE_SIZE pages."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        conn = sqlite3.connect(path)
        try:
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # only before the first table
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()
    except sqlite3.Error as e:  # a full disk, say: no half-made file is left behind
        path.unlink(missing_ok=True)
        raise OSError(errno.EIO, str(e)) from None


def _prepare_file(path: Path, *, create: bool) -> None:
    if path.exists():
        if path.is_dir():
            raise StoreError(f"the database path {path} is a folder, not a file")
        return
    if not create:
        raise StoreError(f"no database at {path} (log a contact, import a file or run "
                         "'touchlog demo' first, or name another with --db)")
    if not path.parent.exists():
        raise StoreError(f"cannot create the database {path}: folder {path.parent} does not exist")
    try:
        # The log holds personal data: readable by its owner only, from the first byte.
        create_file(path)
    except FileExistsError:
        pass
    except OSError as e:
        raise StoreError(f"cannot create the database {path}: {e.strerror}") from None
