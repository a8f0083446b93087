"""Where the event log lives: a SQLite file (the embedded default) or a PostgreSQL database.

``TOUCHLOG_DB`` / ``--db`` takes a plain path, a ``sqlite:///path`` URL or a
``postgresql://user:password@host:port/dbname`` URL. The location's ``database`` is the
object that knows that database (domain/storage/sqlite.py, domain/storage/postgres.py);
both use the eventsourcing library's own recorders, chosen by measurement (README
"Storage").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

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
        return parameters(self.url).get("schema") or None

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
        return Location(SQLite(), db, sqlite_path(db))
    if scheme:
        raise StoreError(f"unsupported database URL scheme {scheme!r} in {redact(db)}; "
                         "use a file path, sqlite:///path or postgresql://...")
    return Location(SQLite(), db, Path(db))


def sqlite_path(url: str) -> Path:
    """The file a ``sqlite://`` URL names. As in a ``file:///`` URL, the part after the
    host (which must be empty) is the path: ``sqlite:///srv/touchlog.db`` is
    /srv/touchlog.db, and SQLAlchemy's ``sqlite:////srv/touchlog.db`` the same file. A
    relative path is given without the scheme. SQLAlchemy reads ``sqlite:///touchlog.db``
    as a relative path; here it would name a file in the root folder, so it is refused
    rather than guessed."""
    rest = url.split("://", 1)[1]
    host, _, path = rest.partition("/")
    hint = ("give an absolute path as sqlite:///srv/touchlog.db, or any path as a plain "
            "path (touchlog.db)")
    if host:
        raise StoreError(f"the SQLite URL {url} names no host, yet has {host!r}: {hint}")
    folder = Path("/" + path.lstrip("/")).parent if path.strip("/") else None
    if folder is None:
        raise StoreError(f"the SQLite URL {url} names no path: {hint}")
    if folder == Path("/"):
        raise StoreError(f"the SQLite URL {url} names /{path.lstrip('/')}, a file in the root "
                         f"folder (SQLAlchemy reads three slashes as a relative path, touchlog "
                         f"as an absolute one): {hint}")
    return Path("/" + path.lstrip("/"))


# libpq's "password" parameter in a URL's query string.
_QUERY_PASSWORD = re.compile(r"([?&]password=)([^&#]*)", re.IGNORECASE)


def redact(url: str) -> str:
    """The URL with its passwords replaced, for every message a user or a log may see: the
    one after the user name and a ``password=`` parameter.

    Works on text, not on a parsed URL, so that a malformed URL (an unescaped "/" or "#" in
    the password, a bad port) is masked too: everything between the user name's ":" and the
    last "@" goes, at the price of masking a little more in odd URLs.
    """
    url = _QUERY_PASSWORD.sub(r"\1***", url)
    user_password = _user_password(url)
    if user_password is None:
        return url
    scheme, rest = url.split("://", 1)
    user = rest[:rest.rfind("@")].split(":", 1)[0]
    return f"{scheme}://{user}:***@{rest[rest.rfind('@') + 1:]}"


def scrubbed(message: str, url: str) -> str:
    """``message`` (a database client's, say) with every password of ``url`` masked, as
    written in the URL and decoded, in case the client echoed one."""
    found = {m.group(2) for m in _QUERY_PASSWORD.finditer(url)} | {_user_password(url) or ""}
    for secret in sorted({form for s in found if s for form in (s, unquote(s))},
                         key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


def parameters(url: str) -> dict[str, str]:
    """A URL's query parameters decoded as libpq decodes them: "%XX" escapes only (a "+"
    stays a "+"); of a repeated name, the last."""
    query = url.split("?", 1)[1].split("#", 1)[0] if "?" in url else ""
    pairs = (item.partition("=") for item in query.split("&") if item)
    return {unquote(name): unquote(value) for name, _, value in pairs}


def _user_password(url: str) -> str | None:
    """The text between the user name's ":" and the last "@", if the URL has one."""
    if "://" not in url:
        return None
    rest = url.split("://", 1)[1]
    at = rest.rfind("@")
    return rest[:at].split(":", 1)[1] if at >= 0 and ":" in rest[:at] else None
