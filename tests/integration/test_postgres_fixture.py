"""The throwaway PostgreSQL server and the per-test databases behave as advertised."""

from __future__ import annotations

import psycopg
import pytest

pytestmark = pytest.mark.postgres

# Databases handed out so far in this module, to prove the next one is a different, clean one.
_seen: list[str] = []


def _database_exists(postgres_url: str, url: str) -> bool:
    name = url.rsplit("/", 1)[-1]
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def test_server_is_postgresql_15(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT version()").fetchone()
    assert row is not None
    assert str(row[0]).startswith("PostgreSQL 15"), row[0]


@pytest.mark.parametrize("turn", ["first", "second"])
def test_each_test_gets_a_fresh_empty_database(
    turn: str, postgres_url: str, pg_db_url: str
) -> None:
    assert pg_db_url not in _seen
    # The previous test's database must already be dropped, not merely unused.
    assert not any(_database_exists(postgres_url, url) for url in _seen)

    with psycopg.connect(pg_db_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)
        # Leave something behind so a shared or reused database would show up next turn.
        conn.execute("CREATE TABLE leftover (turn text)")
        conn.execute("INSERT INTO leftover VALUES (%s)", (turn,))

    _seen.append(pg_db_url)
