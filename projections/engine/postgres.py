"""The PostgreSQL reporting database: the event log's database or another one.

The tables live in the schema the URL's ``?schema=`` names (the connection's only
``search_path``), like the log's event tables, so two logs in two schemas of one database
keep two sets of reporting tables; without it, in the server's default (``public``).
Instants are ``timestamptz``, amounts ``numeric`` and flags ``boolean``, so fetched values
are made ``plain`` for the JSON contract.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from touchlog.projections.engine.dialect import VIEW_MARK, Dialect, on_conflict, plain

if TYPE_CHECKING:
    from touchlog.domain.storage.location import Location
    from touchlog.projections.engine.reporting_db import ReportingDB

_NAMED = re.compile(r"(?<![:\w]):([a-z][a-z_]*)")
SCHEMA_PREFIX = "touchlog_shadow_"  # a shadow's temporary schema
CREATION_LOCK = 0x7265706F7274  # "report": the advisory lock held while tables are created


# From this many rows, an insert goes by COPY (``PostgresReporting.insert``).
COPY_FROM = 100


class PostgresReporting(Dialect):
    name = "postgres"
    types = {"text": "TEXT", "int": "INTEGER", "instant": "TIMESTAMPTZ", "amount": "NUMERIC",
             "flag": "BOOLEAN", "real": "DOUBLE PRECISION", "position": "BIGINT",
             "number": "NUMERIC"}
    begin = "BEGIN"
    begin_snapshot = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
    sum_amounts = "sum(amount)"  # numeric: exact
    average_rating = "round(avg(rating)::numeric, 2)::double precision"

    def connect(self, location: Location) -> Any:
        import psycopg

        parts = urlsplit(location.url)
        # libpq knows neither a "+psycopg" driver suffix nor touchlog's own "schema"
        # parameter; every other parameter (password, sslmode, …) goes to libpq as written.
        query = "&".join(item for item in parts.query.split("&")
                         if item and item.partition("=")[0] != "schema")
        conn = psycopg.connect(urlunsplit(("postgresql", parts.netloc, parts.path, query, "")),
                               autocommit=True, connect_timeout=10)
        schema = f"; SET search_path TO {_quoted(location.schema)}" if location.schema else ""
        conn.execute(f"SET TIME ZONE 'UTC'{schema}")  # one round trip
        conn.adapters.register_loader("timestamptz", _loader())
        return conn

    def insert(self, conn: Any, table: str, columns: Sequence[str],
               rows: Sequence[Sequence[Any]], numbers: Collection[str],
               replace_on: Sequence[str]) -> None:
        """Many rows inside a transaction go in with one COPY into a scratch table of the
        same column types and one INSERT from it: a fraction of the server's and the
        client's work of an INSERT per row. One statement cannot replace a row twice, so
        of rows with one key only the last is sent, as it would have replaced the others. A
        number column takes its amount as the type's own input, as the cast does."""
        from psycopg import pq

        if len(rows) < COPY_FROM or conn.info.transaction_status != pq.TransactionStatus.INTRANS:
            super().insert(conn, table, columns, rows, numbers, replace_on)
            return
        if replace_on:
            at = [columns.index(c) for c in replace_on]
            rows = list({tuple(row[i] for i in at): row for row in rows}.values())
        names = ", ".join(columns)
        scratch = f"touchlog_rows_{table}"
        conn.execute(f"CREATE TEMP TABLE {scratch} AS SELECT {names} FROM {table} WITH NO DATA")
        with conn.cursor() as cursor, cursor.copy(f"COPY {scratch} ({names}) FROM STDIN") \
                as copy:
            for row in rows:
                copy.write_row(row)
        conn.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {scratch} "
                     f"{on_conflict(columns, replace_on)}")
        conn.execute(f"DROP TABLE {scratch}")

    def scrub(self, db: ReportingDB, tables: Sequence[str]) -> None:
        # An UPDATE leaves the old row version behind; a plain VACUUM frees it but leaves
        # its bytes in the page (a merge's moved rows were found there): FULL rewrites the
        # table into new files.
        for table in tables:
            db.execute(f"VACUUM FULL {table}")

    def lost(self, error: Exception) -> bool:
        from touchlog.domain.storage.postgres import connection_lost

        return connection_lost(error)

    def alone(self) -> list[str]:
        # Two processes creating one table at once collide in the catalog ("duplicate key
        # value violates unique constraint pg_type_typname_nsp_index"), IF NOT EXISTS or not.
        return [f"SELECT pg_advisory_xact_lock({CREATION_LOCK})"]

    def create_namespace(self, location: Location) -> list[str]:
        if not location.schema:
            return []
        return [f"CREATE SCHEMA IF NOT EXISTS {_quoted(location.schema)}"]

    def amounts_added(self, stored: str, change: str) -> str:
        return f"trim_scale(coalesce({stored}, 0) + {change})"

    def number(self, amount: str) -> str:
        return f"CAST({amount} AS NUMERIC)"

    now = "now()"

    def month(self, instant: str) -> str:
        return f"to_char({instant} AT TIME ZONE 'UTC', 'YYYY-MM')"

    def day(self, instant: str) -> str:
        return f"to_char({instant} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"

    def day_start(self, instant: str) -> str:
        return f"(date_trunc('day', {instant} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"

    def month_start(self, month: str) -> str:
        return f"(CAST({month} || '-01' AS timestamp) AT TIME ZONE 'UTC')"

    def next_month(self, month: str) -> str:
        return f"to_char(CAST({month} || '-01' AS date) + interval '1 month', 'YYYY-MM')"

    def days_between(self, earlier: str, later: str) -> str:
        return f"(EXTRACT(EPOCH FROM ({later} - {earlier})) / 86400)"

    def rounded(self, value: str, places: int) -> str:
        return f"CAST(round(CAST({value} AS NUMERIC), {places}) AS DOUBLE PRECISION)"

    def whole(self, value: str) -> str:
        return f"CAST(floor({value}) AS INTEGER)"  # a plain cast would round

    def greatest(self, a: str, b: str) -> str:
        return f"greatest({a}, {b})"

    def least(self, a: str, b: str) -> str:
        return f"least({a}, {b})"

    def days_literal(self, count: int) -> str:
        return f"interval '{count} days'"

    def create_view(self, name: str, select: str, digest: str) -> list[str]:
        return [f"DROP VIEW IF EXISTS {name}", f"CREATE VIEW {name} AS {select}",
                f"COMMENT ON VIEW {name} IS '{VIEW_MARK} {digest}'"]

    def view_digests(self, db: ReportingDB, names: Sequence[str]) -> dict[str, str | None]:
        rows = db.query("SELECT name, obj_description(to_regclass(name), 'pg_class') AS note "
                        "FROM unnest(?::text[]) AS name WHERE to_regclass(name) IS NOT NULL",
                        [list(names)])
        return {r["name"]: (r["note"] or "").removeprefix(f"{VIEW_MARK} ") or None
                for r in rows}

    def named(self, statement: str) -> str:
        # ":name" but not a "::type" cast, nor digits (a time written in a literal).
        return _NAMED.sub(r"%(\1)s", statement.replace("%", "%%"))

    def sql(self, statement: str) -> str:
        return statement.replace("?", "%s")

    def existing(self, db: ReportingDB, names: Sequence[str]) -> set[str]:
        return {r["name"] for r in db.query(
            "SELECT name FROM unnest(?::text[]) AS name WHERE to_regclass(name) IS NOT NULL "
            "UNION ALL SELECT t.name || '.' || a.attname FROM unnest(?::text[]) AS t(name) "
            "JOIN pg_attribute AS a ON a.attrelid = to_regclass(t.name) "
            "WHERE a.attnum > 0 AND NOT a.attisdropped",
            [names, sorted({name.split(".")[0] for name in names if "." in name})])}

    def plain_rows(self, rows: Sequence[tuple[Any, ...]]) -> Iterable[tuple[Any, ...]]:
        return (tuple(map(plain, row)) for row in rows)

    def streaming_cursor(self, conn: Any) -> Any:
        return conn.cursor(name="rows")  # server-side: rows arrive as they are fetched

    def collate(self, kind: str) -> str:
        return ' COLLATE "C"' if kind == "text" else ""

    def select_records(self, db: ReportingDB, select: str, params: Sequence[Any],
                       keys: Sequence[str]) -> list[dict[str, Any]]:
        return db.query(select, params)

    def instant(self, moment: datetime) -> Any:
        return moment

    def days(self, count: int) -> Any:
        return timedelta(count)

    def shifted(self, column: str, days: str) -> str:
        return f"{column} + {days}"

    @contextmanager
    def shadow(self, live: ReportingDB) -> Iterator[str]:
        """A temporary schema of the same database, named by the URL's ``?schema=``."""
        schema = SCHEMA_PREFIX + secrets.token_hex(6)
        live.execute(f"CREATE SCHEMA {schema}")
        try:
            yield in_schema(live.url, schema)
        finally:
            live.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _loader() -> type:
    """psycopg's timestamptz loader, giving the server's text for an instant Python cannot
    hold ('infinity', '-infinity', years past 9999) instead of failing the whole read: no
    honest run stores one, a tampered table may, and readers must still show it."""
    import psycopg
    from psycopg.types.datetime import TimestamptzLoader

    class OutOfRangeAsText(TimestamptzLoader):
        def load(self, data: Any) -> Any:
            try:
                return super().load(data)
            except psycopg.DataError:
                return bytes(data).decode()

    return OutOfRangeAsText


def in_schema(url: str, schema: str) -> str:
    """The PostgreSQL URL with its ``?schema=`` (if any) replaced by ``schema``."""
    parts = urlsplit(url)
    # The other parameters stay as written: decoding and encoding again would turn a
    # password's "+" into a space, which libpq does not.
    kept = [item for item in parts.query.split("&")
            if item and item.partition("=")[0] != "schema"]
    return urlunsplit(parts._replace(query="&".join([*kept, f"schema={quote(schema, safe='')}"])))


def _quoted(name: str) -> str:
    """An SQL identifier in double quotes, any double quote in it doubled."""
    return '"' + name.replace('"', '""') + '"'
