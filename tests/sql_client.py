"""One SQL statement through a database's own client (sqlite3, psycopg), as a BI tool or
an intruder would run it, beside touchlog rather than through it."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

import psycopg


def sql(url: str, statement: str) -> list[tuple[Any, ...]]:
    """Runs ``statement`` on the database at ``url`` (a PostgreSQL URL or a SQLite file);
    its rows (none for a statement that returns none)."""
    if url.startswith("postgresql://"):
        with psycopg.connect(url, autocommit=True) as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else []
    with closing(sqlite3.connect(url)) as conn, conn:
        return conn.execute(statement).fetchall()
