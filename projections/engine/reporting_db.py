"""A thin connection to the reporting database through its own client (sqlite3 or psycopg).

The ORM is deliberately absent: projections write whole batches with ``executemany`` and
set-based statements, which is what makes rebuilds fast. SQL is written once with ``?``
placeholders and translated for psycopg.
"""

from __future__ import annotations

import os
import re
import sqlite3
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from touchlog.domain.errors import StoreError
from touchlog.domain.storage.location import locate, lock_timeout, redact
from touchlog.projections.engine.schema import ALL_TABLES, PROJECTION_TABLES, TRACKING

# Indexes earlier versions made and nothing reads any more (each costs every write).
SUPERSEDED_INDEXES = ("followup_customers_coalesce_owner_last_contact_actor",)
CHUNK = 500  # ids per IN (...) list: below SQLite's variable limit, cheap on PostgreSQL


# Wide enough that no sum of amounts (at most 13 + 12 digits each) is ever rounded, so a
# total does not depend on the order rows are added in; PostgreSQL's numeric is exact too.
_EXACT = Context(prec=80)
_CENT = Decimal("0.01")


def exact_sum(amounts: Iterable[str]) -> str | None:
    """The exact decimal sum of text amounts in plain notation; None when there are none."""
    total: Decimal | None = None
    for amount in amounts:
        total = _EXACT.add(total, Decimal(amount)) if total is not None else Decimal(amount)
    return None if total is None else format(total, "f")


def rating_average(total: int, count: int) -> float | None:
    """The mean of ``count`` ratings summing to ``total``, exactly, rounded half up to two
    places (what PostgreSQL's ``round(avg(rating)::numeric, 2)`` gives); None when unrated."""
    if not count:
        return None
    return float((Decimal(total) / count).quantize(_CENT, ROUND_HALF_UP))


class _DecimalSum:
    """SQLite aggregate ``dsum``: ``exact_sum`` of text amounts (SQLite's sum() is float)."""

    def __init__(self) -> None:
        self.amounts: list[str] = []

    def step(self, value: str | None) -> None:
        if value is not None:
            self.amounts.append(value)

    def finalize(self) -> str | None:
        return exact_sum(self.amounts)


class _RatingAverage:
    """SQLite aggregate ``rating_avg``: ``rating_average`` of the non-null ratings."""

    def __init__(self) -> None:
        self.total = self.count = 0

    def step(self, value: int | None) -> None:
        if value is not None:
            self.total += value
            self.count += 1

    def finalize(self) -> float | None:
        return rating_average(self.total, self.count)


class ReportingDB:
    """One connection to the reporting tables, with explicit transactions."""

    def __init__(self, url: str, create: bool = True) -> None:
        """Opens ``url`` and creates what is missing of the tables and indexes (unless not
        ``create``: a rebuild's helper leaves the readers' indexes to the rebuild's end)."""
        self.url = url
        try:
            location = locate(url)
            self.dialect = location.kind
            self.conn: Any = (_sqlite(location.path) if location.path is not None
                              else _postgres(url))
        except Exception as e:  # sqlite3, psycopg, a malformed URL: all say the same
            raise StoreError(f"cannot open the reporting database {_redacted(url)}: "
                             f"{_scrub(str(e), url)}") from None
        if create:
            self.create_tables()

    def sql(self, statement: str) -> str:
        return statement if self.dialect == "sqlite" else statement.replace("?", "%s")

    @property
    def sum_amount(self) -> str:
        return "dsum" if self.dialect == "sqlite" else "sum"

    def execute(self, statement: str, params: Sequence[Any] = ()) -> int:
        with self.errors():
            cursor = self.conn.execute(self.sql(statement), tuple(params))
        return int(cursor.rowcount)

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self.errors():
                self.conn.cursor().executemany(self.sql(statement), rows)

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.errors():
            cursor = self.conn.execute(self.sql(statement), tuple(params))
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        if self.dialect == "sqlite":  # instants and amounts are stored as text already
            return [dict(zip(names, row, strict=True)) for row in rows]
        return [dict(zip(names, map(plain, row), strict=True)) for row in rows]

    @contextmanager
    def errors(self) -> Iterator[None]:
        """The client's errors (locked, read-only, connection lost) as a StoreError."""
        try:
            yield
        except _client_errors() as e:
            message = _scrub(str(e).strip().splitlines()[0] if str(e).strip() else
                             type(e).__name__, self.url)
            if "locked" in message:
                message += f" (another writer held it longer than {lock_timeout()} s, " \
                           "TOUCHLOG_LOCK_TIMEOUT)"
            raise StoreError(f"cannot use the reporting database {_redacted(self.url)}: "
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
            self.conn.execute("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")
        try:
            yield
        except BaseException:
            with suppress(*_client_errors()):  # a lost connection has rolled back already
                self.conn.execute("ROLLBACK")
            raise
        with self.errors():
            self.conn.execute("COMMIT")

    def create_tables(self) -> None:
        # Only when something is missing: on PostgreSQL the DDL's locks, taken while a
        # rebuild holds the same tables, made a plain query end in "deadlock detected".
        if not self._missing_relations():
            return
        with self.transaction(), self.errors():
            for table in ALL_TABLES:
                for statement in table.ddl(self.dialect):
                    self.conn.execute(statement)
            for index in SUPERSEDED_INDEXES:
                self.conn.execute(f"DROP INDEX IF EXISTS {index}")

    def drop_reader_indexes(self, names: Iterable[str]) -> None:
        """Drops the indexes only readers use from the named projections' tables (inside
        the caller's transaction); ``create_tables`` makes them again."""
        for name in names:
            for table in PROJECTION_TABLES[name]:
                for index in table.reader_indexes:
                    self.execute(f"DROP INDEX IF EXISTS {table.index_name(index)}")

    def _missing_relations(self) -> list[str]:
        names = [name for table in ALL_TABLES
                 for name in (table.name, *map(table.index_name, table.indexes))]
        if self.dialect == "sqlite":
            existing = {r["name"] for r in self.query("SELECT name FROM sqlite_master")}
        else:
            existing = {r["name"] for r in self.query(
                "SELECT name FROM unnest(?::text[]) AS name WHERE to_regclass(name) IS NOT NULL",
                [names])}
        return [name for name in names if name not in existing]

    def positions(self) -> dict[str, int]:
        rows = self.query(f"SELECT name, position FROM {TRACKING.name}")
        return {r["name"]: int(r["position"]) for r in rows}

    def close(self) -> None:
        self.conn.close()


def plain(value: Any) -> Any:
    """A stored value as the JSON contract wants it: UTC ISO text, exact decimal text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def _client_errors() -> tuple[type[Exception], ...]:
    psycopg = sys.modules.get("psycopg")  # loaded only when a PostgreSQL URL was opened
    return (sqlite3.Error, psycopg.Error) if psycopg is not None else (sqlite3.Error,)


def _sqlite(path: Path) -> sqlite3.Connection:
    if not path.exists() and path.parent.is_dir():
        # Projection tables hold personal data too: owner-only, like the event database.
        with suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    conn = sqlite3.connect(path, isolation_level=None, timeout=lock_timeout(),
                           check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-16384")  # 16 MB: as fast as 64 MB for rebuilds, less RSS
    conn.create_aggregate("dsum", 1, _DecimalSum)  # type: ignore[arg-type]
    conn.create_aggregate("rating_avg", 1, _RatingAverage)  # type: ignore[arg-type]
    return conn


def _postgres(url: str) -> Any:
    import psycopg

    parts = urlsplit(url)
    # libpq knows neither a "+psycopg" driver suffix nor touchlog's own "schema" parameter;
    # every other parameter (sslmode, …) is the server's business and passes through.
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "schema"])
    conn = psycopg.connect(urlunsplit(("postgresql", parts.netloc, parts.path, query, "")),
                           autocommit=True, connect_timeout=10)
    conn.execute("SET TIME ZONE 'UTC'")
    return conn


_USERINFO = re.compile(r"(://[^:/@]*):([^@/]*)@")


def _redacted(url: str) -> str:
    try:
        return redact(url)
    except ValueError:  # too malformed for urlsplit: mask the userinfo by pattern
        return _USERINFO.sub(r"\1:***@", url)


def _scrub(message: str, url: str) -> str:
    """A client's message with the URL's password masked, in case the client echoed it."""
    found = _USERINFO.search(url)
    if found is None or not found.group(2):
        return message
    for secret in {found.group(2), unquote(found.group(2))}:
        message = message.replace(secret, "***")
    return message
