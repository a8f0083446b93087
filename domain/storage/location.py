"""Where the event log lives: a SQLite file (the embedded default) or a PostgreSQL database.

``TOUCHLOG_DB`` / ``--db`` takes a plain path, a ``sqlite:///path`` URL or a
``postgresql://user:password@host:port/dbname`` URL. The location's ``database`` is the
object that knows that database (domain/storage/sqlite.py, domain/storage/postgres.py);
both use the eventsourcing library's own recorders, chosen by measurement (README
"Storage").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from touchlog.domain.errors import StoreError
from touchlog.domain.storage.database import Database
from touchlog.domain.storage.sqlite import SQLite

POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
SQLITE_SCHEME = "sqlite"


@dataclass(frozen=True)
class Location:
    """A parsed database location: its database, URL and (for a SQLite file) path."""

    database: Database
    url: str
    path: Path | None = None

    @property
    def redacted(self) -> str:
        return redact(self.url)

    @property
    def schema(self) -> str | None:
        """The PostgreSQL schema a ``?schema=`` names: the log's event tables and its
        reporting tables live there (None: the server's default, ``public``)."""
        values = parse_qs(urlsplit(self.url).query).get("schema")
        return values[0] if values else None

    def exists(self) -> bool:
        """Whether there is a database to open: a server's always, a SQLite file's if made."""
        return self.database.exists(self)


def locate(db: str) -> Location:
    scheme = db.split("://", 1)[0].lower() if "://" in db else ""
    if scheme in POSTGRES_SCHEMES:
        try:
            urlsplit(db).port  # noqa: B018 - parsing it is the check
        except ValueError as e:
            raise StoreError(f"malformed database URL {redact(db)}: {e}") from None
        # Imported here: psycopg loads only for a PostgreSQL location.
        from touchlog.domain.storage.postgres import PostgreSQL

        return Location(PostgreSQL(), db)
    if scheme == SQLITE_SCHEME:
        return Location(SQLite(), db, Path(db[len("sqlite:///"):] if db.startswith("sqlite:///")
                                           else db.split("://", 1)[1]))
    if scheme:
        raise StoreError(f"unsupported database URL scheme {scheme!r} in {redact(db)}; "
                         "use a file path, sqlite:///path or postgresql://...")
    return Location(SQLite(), db, Path(db))


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
