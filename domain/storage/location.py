"""Where the event log lives: a SQLite file (the embedded default) or a PostgreSQL database.

``TOUCHLOG_DB`` / ``--db`` takes a plain path, a ``sqlite:///path`` URL or a
``postgresql://user:password@host:port/dbname`` URL. The library's own recorders are used
(``eventsourcing.sqlite`` and ``eventsourcing.postgres``): they measured 1.5-3x faster than
eventsourcing-sqlalchemy for batched appends, reads and loads (README "Storage"). Each is
subclassed for how it inserts a save (domain/sqlite.py, domain/postgres.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from touchlog.domain.errors import StoreError

POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


@dataclass(frozen=True)
class Location:
    """A parsed database location."""

    kind: str  # "sqlite" | "postgres"
    url: str
    path: Path | None = None

    @property
    def redacted(self) -> str:
        return redact(self.url)

    def exists(self) -> bool:
        """Whether there is a database to open: a server's always, a SQLite file's if made."""
        return self.path is None or self.path.exists()


def locate(db: str) -> Location:
    scheme = db.split("://", 1)[0].lower() if "://" in db else ""
    if scheme in POSTGRES_SCHEMES:
        try:
            urlsplit(db).port  # noqa: B018 - parsing it is the check
        except ValueError as e:
            raise StoreError(f"malformed database URL {redact(db)}: {e}") from None
        return Location("postgres", db)
    if scheme == "sqlite":
        return Location("sqlite", db, Path(db[len("sqlite:///"):] if db.startswith("sqlite:///")
                                          else db.split("://", 1)[1]))
    if scheme:
        raise StoreError(f"unsupported database URL scheme {scheme!r} in {redact(db)}; "
                         "use a file path, sqlite:///path or postgresql://...")
    return Location("sqlite", db, Path(db))


def redact(url: str) -> str:
    """The URL with its password replaced, for every message a user or a log may see.

    Works on text, not on a parsed URL, so that a malformed URL (an unescaped "/" or "#" in
    the password, a bad port) is masked too: everything between the user name's ":" and the
    last "@" goes, at the price of masking a little more in odd URLs.
    """
    if "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    at = rest.rfind("@")
    if at < 0 or ":" not in rest[:at]:
        return url
    user = rest[:at].split(":", 1)[0]
    return f"{scheme}://{user}:***@{rest[at + 1:]}"


def environment(location: Location, *, create: bool) -> dict[str, str]:
    """The eventsourcing library's settings for this location.

    ``create`` says whether a missing SQLite file may be created (write commands) or is an
    error (queries).
    """
    if location.kind == "sqlite":
        assert location.path is not None
        _prepare_sqlite_file(location.path, create=create)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(location.path),
            "SQLITE_LOCK_TIMEOUT": str(lock_timeout()),
            "APPLICATION_RECORDER_TOPIC": "touchlog.domain.storage.sqlite:SQLiteEventRecorder",
        }
    parts = urlsplit(location.url)
    query = parse_qs(parts.query)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or "postgres",
        "POSTGRES_HOST": parts.hostname or "localhost",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_POOL_SIZE": "2",
        "POSTGRES_MAX_OVERFLOW": "4",
        "POSTGRES_LOCK_TIMEOUT": str(lock_timeout()),
        "APPLICATION_RECORDER_TOPIC": "touchlog.domain.storage.postgres:PostgresEventRecorder",
    }
    if "schema" in query:
        env["POSTGRES_SCHEMA"] = query["schema"][0]
    return env


def lock_timeout() -> int:
    """Seconds a writer waits for another writer's lock (``TOUCHLOG_LOCK_TIMEOUT``, default 10)."""
    value = os.environ.get("TOUCHLOG_LOCK_TIMEOUT", "").strip() or "10"
    if not value.isdigit():
        raise StoreError(f"TOUCHLOG_LOCK_TIMEOUT must be whole seconds, e.g. 10 (got {value!r})")
    return int(value)


# Any fixed number: the advisory lock that serialises table creation across processes.
_CREATION_LOCK = 0x746F756368  # "touch"


@contextmanager
def creation_lock(location: Location, env: dict[str, str]) -> Iterator[None]:
    """Holds a lock while the tables are created.

    PostgreSQL refuses concurrent ``CREATE OR REPLACE FUNCTION`` ("tuple concurrently
    updated") when several processes start at once; SQLite serialises writers itself.
    """
    if location.kind != "postgres":
        yield
        return
    import psycopg

    try:
        connection = psycopg.connect(
            dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"], user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"] or None, connect_timeout=5, autocommit=True,
        )
    except psycopg.Error as e:
        raise StoreError(f"cannot connect to {location.redacted}: {_first_line(e)}") from None
    with connection:
        connection.execute("SELECT pg_advisory_lock(%s)", (_CREATION_LOCK,))
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (_CREATION_LOCK,))


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _prepare_sqlite_file(path: Path, *, create: bool) -> None:
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
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as e:
        raise StoreError(f"cannot create the database {path}: {e.strerror}") from None
