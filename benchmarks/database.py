"""The database a run measures: a SQLite file in the work folder, or a fresh PostgreSQL
database (dropped afterwards) on the server a URL names."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


@dataclass(frozen=True)
class Target:
    """Where the touchlog events go and where the raw baseline table goes."""

    kind: str  # "sqlite" | "postgres"
    url: str  # what `touchlog --db` takes
    raw_url: str  # the raw baseline's own SQLite file, or the same PostgreSQL database
    server_version: str | None = None


def is_postgres(db: str | None) -> bool:
    return bool(db) and db.split("://", 1)[0].lower() in POSTGRES_SCHEMES


@contextmanager
def prepared(db: str | None, work: Path) -> Iterator[Target]:
    """A target with no touchlog data in it; a PostgreSQL database made here is dropped."""
    if not is_postgres(db):
        path = Path(db) if db else work / "touchlog.db"
        if path.exists():
            raise SystemExit(f"{path} exists: the benchmark needs a new database file")
        yield Target("sqlite", str(path), str(work / "raw.db"))
        return
    assert db is not None
    db = _without_schema(db)  # the fresh database is the isolation; psycopg refuses the key
    name = f"touchlog_bench_{secrets.token_hex(4)}"
    server = _admin(db)
    with server:
        version = str(server.execute("SHOW server_version").fetchone()[0])
        server.execute(f"CREATE DATABASE {name}")
    url = _with_database(db, name)
    try:
        yield Target("postgres", url, url, version)
    finally:
        with _admin(db) as server:
            server.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _admin(url: str):  # type: ignore[no-untyped-def]
    import psycopg

    # CREATE and DROP DATABASE cannot run inside a transaction block.
    return psycopg.connect(_libpq(url), autocommit=True, connect_timeout=10)


def _with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def _without_schema(url: str) -> str:
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query) if k != "schema"]
    return parts._replace(query=urlencode(kept)).geturl()


def _libpq(url: str) -> str:
    """psycopg takes postgresql:// and postgres://, not SQLAlchemy's +psycopg form."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)
