"""Where customers' keys live: a key store apart from the events, each key wrapped by the
master key (docs/privacy.md).

On SQLite the key store is its own file beside the log (``<log>.keys``), made owner-only,
with ``secure_delete`` and a rollback journal that is deleted at each commit, so a destroyed
key's bytes leave the file and its journal. On PostgreSQL it is the table
``customer_keys`` in a schema of its own (``<schema>_keys``, default ``touchlog_keys``),
which a reporting role need not be granted; a destroyed key's row is vacuumed away.

The master key (32 random bytes, base64) is read from the file ``TOUCHLOG_MASTER_KEY_FILE``
names (``touchlog keys init FILE`` writes one). Without it, a SQLite log uses
``<log>.master-key`` beside it, made on first need (and said so once); a PostgreSQL log
refuses to write personal data.
"""

from __future__ import annotations

import base64
import os
import re
import sqlite3
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from touchlog.domain.errors import KeyUnavailable, StoreError
from touchlog.domain.sealing import KEY_BYTES, NONCE_BYTES, new_key

if TYPE_CHECKING:
    from touchlog.domain.storage.location import Location

MASTER_KEY_ENV = "TOUCHLOG_MASTER_KEY_FILE"
HOW_TO_MAKE = (f"make one with 'touchlog keys init FILE' and name it in {MASTER_KEY_ENV} "
               "(docs/privacy.md)")
KeyId = tuple[UUID, int]  # (customer id, epoch)


def init_master_key(path: Path) -> None:
    """Writes a new master key to ``path`` (owner-only); refuses an existing file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise StoreError(f"{path} exists: a master key is never overwritten (its keys would "
                         "be lost); name a new file") from None
    except OSError as e:
        raise StoreError(f"cannot write the master key {path}: {e.strerror}") from None
    with os.fdopen(fd, "wb") as out:
        out.write(base64.b64encode(os.urandom(KEY_BYTES)) + b"\n")
        out.flush()
        os.fsync(out.fileno())


def read_master_key(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise KeyUnavailable(f"cannot read the master key {path}: {e.strerror}; "
                             f"{HOW_TO_MAKE}") from None
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise KeyUnavailable(f"the master key {path} is not {KEY_BYTES} bytes in base64; "
                             f"{HOW_TO_MAKE}")
    return key


def master_key_file(location: Location, *, create: bool) -> Path:
    """The master key's file: ``TOUCHLOG_MASTER_KEY_FILE``, else (SQLite) the one beside
    the log, made when ``create`` and missing."""
    named = os.environ.get(MASTER_KEY_ENV, "").strip()
    if named:
        return Path(named)
    if location.path is None:
        raise KeyUnavailable(f"no master key: {MASTER_KEY_ENV} is not set; {HOW_TO_MAKE}")
    path = location.path.with_name(location.path.name + ".master-key")
    if create and not path.exists():
        init_master_key(path)
        sys.stderr.write(f"touchlog: made the master key {path} (personal data is sealed "
                         f"with keys it wraps); keep it apart from backups of the log, or set "
                         f"{MASTER_KEY_ENV} (docs/privacy.md)\n")
    return path


class KeyStore(ABC):
    """The wrapped keys of one log's customers."""

    def __init__(self, location: Location) -> None:
        self.location = location
        self._master: AESGCM | None = None

    def master(self, *, create: bool) -> AESGCM:
        if self._master is None:
            self._master = AESGCM(read_master_key(master_key_file(self.location,
                                                                  create=create)))
        return self._master

    def load(self, ids: Sequence[UUID]) -> dict[KeyId, bytes | KeyUnavailable | None]:
        """Every stored key of the given customers (None: destroyed; a KeyUnavailable:
        the master key cannot open it)."""
        found: dict[KeyId, bytes | KeyUnavailable | None] = {}
        rows = self._select([i.hex for i in ids]) if ids else []
        for raw, epoch, wrapped in rows:
            uid = UUID(hex=raw)
            try:
                found[(uid, epoch)] = None if wrapped is None else self._unwrap(
                    uid, epoch, bytes(wrapped))
            except KeyUnavailable as e:
                found[(uid, epoch)] = e
        return found

    def add(self, keys: dict[KeyId, bytes]) -> set[KeyId]:
        """Stores new keys (one committed transaction); returns those another writer had
        stored first (or destroyed), whose stored key is not the one given."""
        if not keys:
            return set()
        master = self.master(create=True)
        rows = []
        for (uid, epoch), key in keys.items():
            nonce = os.urandom(NONCE_BYTES)
            rows.append((uid.hex, epoch, nonce + master.encrypt(nonce, key,
                                                              _bound(uid, epoch))))
        self._insert(rows)
        stored = self.load(list({uid for uid, _ in keys}))
        return {k for k, key in keys.items() if stored.get(k) != key}

    def destroy(self, customer: UUID) -> int:
        """Destroys every key of the customer, leaving a mark that it was destroyed (so no
        key is made again under an old epoch); returns how many were destroyed."""
        return self._destroy(customer.hex)

    def _unwrap(self, uid: UUID, epoch: int, wrapped: bytes) -> bytes:
        try:
            return self.master(create=False).decrypt(wrapped[:NONCE_BYTES],
                                                     wrapped[NONCE_BYTES:], _bound(uid, epoch))
        except InvalidTag:
            raise KeyUnavailable(f"the key of customer {uid} does not open with the master key "
                                 f"in use: it was wrapped by another one ({HOW_TO_MAKE}; "
                                 f"{MASTER_KEY_ENV} must name the one that made the key "
                                 "store)") from None

    @abstractmethod
    def _select(self, ids: list[str]) -> list[tuple[Any, int, Any]]: ...

    @abstractmethod
    def _insert(self, rows: list[tuple[str, int, bytes]]) -> None: ...

    @abstractmethod
    def _destroy(self, customer: str) -> int: ...

    @abstractmethod
    def close(self) -> None:
        """Releases the connection."""


def _bound(uid: UUID, epoch: int) -> bytes:
    return f"{uid}|{epoch}".encode()


_TABLE = ("CREATE TABLE IF NOT EXISTS customer_keys (customer_id TEXT NOT NULL, "
          "epoch INTEGER NOT NULL, wrapped {blob}, destroyed_at TEXT, "
          "PRIMARY KEY (customer_id, epoch))")
_MARK = ("INSERT INTO customer_keys (customer_id, epoch, wrapped, destroyed_at) "
         "VALUES ({p}, {p}, NULL, {now})")


class SQLiteKeyStore(KeyStore):
    """``<log>.keys``: owner-only, secure_delete, a rollback journal deleted at commit."""

    def __init__(self, location: Location) -> None:
        super().__init__(location)
        assert location.path is not None
        self.path = location.path.with_name(location.path.name + ".keys")
        self._conn: sqlite3.Connection | None = None

    def _connection(self, *, create: bool) -> sqlite3.Connection | None:
        if self._conn is None:
            if not self.path.exists():
                if not create:
                    return None
                try:
                    os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                except FileExistsError:
                    pass
                except OSError as e:
                    raise StoreError(f"cannot create the key store {self.path}: "
                                     f"{e.strerror}") from None
            try:
                conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
                conn.execute("PRAGMA secure_delete = ON")
                conn.execute("PRAGMA journal_mode = DELETE")
                conn.execute(_TABLE.format(blob="BLOB"))
            except sqlite3.Error as e:
                raise StoreError(f"cannot open the key store {self.path}: {e}") from None
            self._conn = conn
        return self._conn

    def _select(self, ids: list[str]) -> list[tuple[Any, int, Any]]:
        conn = self._connection(create=False)
        if conn is None:
            return []
        rows: list[tuple[Any, int, Any]] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            with _sqlite_errors(self.path):
                rows += conn.execute(
                    "SELECT customer_id, epoch, wrapped FROM customer_keys "
                    f"WHERE customer_id IN ({', '.join('?' * len(chunk))})", chunk).fetchall()
        return rows

    def _insert(self, rows: list[tuple[str, int, bytes]]) -> None:
        conn = self._connection(create=True)
        assert conn is not None
        with _sqlite_errors(self.path), _transaction(conn):
            conn.executemany("INSERT INTO customer_keys (customer_id, epoch, wrapped) "
                             "VALUES (?, ?, ?) ON CONFLICT DO NOTHING", rows)

    def _destroy(self, customer: str) -> int:
        conn = self._connection(create=True)
        assert conn is not None
        with _sqlite_errors(self.path), _transaction(conn):
            epochs = [e for (e,) in conn.execute(
                "SELECT epoch FROM customer_keys WHERE customer_id = ? AND wrapped IS NOT "
                "NULL", (customer,))]
            conn.execute("DELETE FROM customer_keys WHERE customer_id = ? AND wrapped IS NOT "
                         "NULL", (customer,))
            conn.executemany(_MARK.format(p="?", now="datetime('now')"),
                             [(customer, e) for e in epochs])
        return len(epochs)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _sqlite_errors:
    """A SQLite error of the key store as a StoreError naming it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: object, *_: object) -> None:
        if isinstance(error, sqlite3.Error):
            raise StoreError(f"cannot use the key store {self.path}: {error}") from None


class _transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK")


# Any fixed number: the advisory lock held while the key store's schema and table are made
# (not the event store's: a process making the event tables may open the key store).
_CREATION_LOCK = 0x6B657973  # "keys"


class PostgresKeyStore(KeyStore):
    """The table ``customer_keys`` in the schema ``<log schema>_keys``."""

    def __init__(self, location: Location) -> None:
        super().__init__(location)
        self.schema = f"{location.schema or 'touchlog'}_keys"
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.schema):
            raise StoreError(f"the key store's schema {self.schema!r} is not a plain name")
        self._conn: Any = None

    def _connection(self) -> Any:
        if self._conn is None:
            import psycopg

            parts = urlsplit(self.location.url)
            # libpq knows neither a "+psycopg" suffix nor touchlog's "schema" parameter.
            query = "&".join(item for item in parts.query.split("&")
                             if item and item.partition("=")[0] != "schema")
            url = urlunsplit(("postgresql", parts.netloc, parts.path, query, ""))
            try:
                conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
                # Processes opening a new log at once collide in the catalog creating the
                # schema and the table ("UniqueViolation"), IF NOT EXISTS or not: an
                # advisory lock of the key store's own makes them take turns.
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_CREATION_LOCK,))
                    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
                    conn.execute(f"SET search_path TO {self.schema}")
                    conn.execute(_TABLE.format(blob="bytea"))
            except psycopg.Error as e:
                raise StoreError(f"cannot open the key store in {self.location.redacted}: "
                                 f"{type(e).__name__}") from None
            self._conn = conn
        return self._conn

    def _select(self, ids: list[str]) -> list[tuple[Any, int, Any]]:
        rows: list[tuple[Any, int, Any]] = self._retried(lambda conn: list(conn.execute(
            "SELECT customer_id, epoch, wrapped FROM customer_keys "
            "WHERE customer_id = ANY(%s)", (ids,)).fetchall()))
        return rows

    def _insert(self, rows: list[tuple[str, int, bytes]]) -> None:
        def insert(conn: Any) -> None:
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany("INSERT INTO customer_keys (customer_id, epoch, wrapped) "
                                   "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING", rows)
        self._retried(insert)

    def _retried(self, work: Any) -> Any:
        """``work(connection)``, on a new connection when the server ended the last one
        (a restart, an administrator); any other error is a StoreError."""
        import psycopg

        from touchlog.domain.storage.database import EVENT_DATABASE, RECONNECTED
        from touchlog.domain.storage.postgres import ATTEMPTS, connection_lost

        for attempt in range(1, ATTEMPTS + 1):
            try:
                return work(self._connection())
            except psycopg.Error as e:
                self.close()
                if attempt == ATTEMPTS or not connection_lost(e):
                    raise StoreError(f"cannot use the key store in {self.location.redacted}: "
                                     f"{type(e).__name__}: {str(e).strip()[:200]}") from None
                RECONNECTED[EVENT_DATABASE] += 1
        raise AssertionError("unreachable")

    def _destroy(self, customer: str) -> int:
        return int(self._retried(lambda conn: self._destroyed(conn, customer)))

    def _destroyed(self, conn: Any, customer: str) -> int:
        with conn.transaction():
            epochs = [e for (e,) in conn.execute(
                "SELECT epoch FROM customer_keys WHERE customer_id = %s AND wrapped IS NOT "
                "NULL", (customer,)).fetchall()]
            conn.execute("DELETE FROM customer_keys WHERE customer_id = %s AND wrapped IS "
                         "NOT NULL", (customer,))
            with conn.cursor() as cursor:
                cursor.executemany(_MARK.format(p="%s", now="now()::text"),
                                   [(customer, e) for e in epochs])
        # The deleted row's bytes leave the table's files: a plain VACUUM can leave them in
        # the page's free space (as the reporting tables showed); FULL writes the (small)
        # table anew.
        conn.execute("VACUUM FULL customer_keys")
        return len(epochs)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def key_store(location: Location) -> KeyStore:
    return SQLiteKeyStore(location) if location.path is not None else PostgresKeyStore(location)


class Keyring:
    """The keys one operation uses, read from the key store on first use; new keys made
    for customers that have none yet wait in ``new`` until ``store_new`` stores them,
    before the events sealed with them are saved."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self.keys: dict[KeyId, AESGCM | KeyUnavailable | None] = {}
        self.new: dict[KeyId, bytes] = {}

    def forget(self) -> None:
        """Reads keys afresh from now on (another process may have destroyed one)."""
        self.keys.clear()
        self.new.clear()

    def preload(self, ids: Iterable[UUID]) -> None:
        wanted = [i for i in dict.fromkeys(ids) if (i, 1) not in self.keys]
        if not wanted:
            return
        found = self.store.load(wanted)
        for uid in wanted:
            self.keys.setdefault((uid, 1), None)
        for key_id, raw in found.items():
            self.keys[key_id] = AESGCM(raw) if isinstance(raw, bytes) else raw

    def lookup(self, customer: UUID, epoch: int) -> AESGCM | None:
        """The customer's key of ``epoch``; None when it is gone or never was; a
        KeyUnavailable when the master key cannot open it."""
        if (customer, 1) not in self.keys:
            self.preload([customer])
        key = self.keys.get((customer, epoch))
        if isinstance(key, KeyUnavailable):
            raise key
        return key

    def make(self, customer: UUID, epoch: int) -> AESGCM:
        """The customer's key of ``epoch``, made when there is none yet."""
        key = self.keys.get((customer, epoch))
        if key.__class__ is AESGCM:  # the one asked for with each of its events
            return key
        key = self.lookup(customer, epoch)
        if key is None:
            raw = new_key()
            self.new[(customer, epoch)] = raw
            key = self.keys[(customer, epoch)] = AESGCM(raw)
        return key

    def store_new(self) -> bool:
        """Stores the keys made since; False when another writer stored (or destroyed) one
        of them first: the operation must then decide again with the stored keys."""
        conflicts = self.store.add(self.new)
        self.new.clear()
        for key_id in conflicts:
            self.keys.pop((key_id[0], 1), None)
            self.keys.pop(key_id, None)
        return not conflicts
