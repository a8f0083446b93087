"""Reporting tables in a database of their own (``TOUCHLOG_REPORTING_DB``), on either store."""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from click.testing import CliRunner

from tests.reliability.databases import KINDS, for_kind
from touchlog.cli.main import cli
from touchlog.domain.application import TouchpointLog
from touchlog.domain.contact import Contact, FollowUpPlan
from touchlog.domain.settings import Settings
from touchlog.projections.engine.runner import REPORTING_DB_ENV
from touchlog.projections.engine.schema import ALL_TABLES

REPORTING_TABLES = {t.name for t in ALL_TABLES}
PAIRS = [  # (event store, reporting store)
    pytest.param(("sqlite", "sqlite"), id="sqlite-events-sqlite-reporting"),
    pytest.param(("postgres", "postgres"), id="postgres-events-postgres-reporting",
                 marks=pytest.mark.postgres),
    pytest.param(("sqlite", "postgres"), id="sqlite-events-postgres-reporting",
                 marks=pytest.mark.postgres),
    pytest.param(("postgres", "sqlite"), id="postgres-events-sqlite-reporting",
                 marks=pytest.mark.postgres),
]


@pytest.fixture
def reporting_pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A second fresh PostgreSQL database on the test server (pg_db_url holds the events)."""
    server: str = request.getfixturevalue("postgres_url")
    name = f"r_{secrets.token_hex(8)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield urlsplit(server)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=PAIRS)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    events, reporting = request.param
    event_url = (str(tmp_path / "events.db") if events == "sqlite"
                 else str(request.getfixturevalue("pg_db_url")))
    reporting_url = (str(tmp_path / "reporting.db") if reporting == "sqlite"
                     else str(request.getfixturevalue("reporting_pg_url")))
    return event_url, reporting_url


def tables(url: str) -> set[str]:
    """Table names in a database, read with its own client."""
    if url.startswith("postgresql://"):
        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT table_name FROM information_schema.tables "
                                "WHERE table_schema = 'public'").fetchall()
    else:
        with sqlite3.connect(url) as conn:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows}


def cli_json(db: str, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--db", db, *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def seed(db: str) -> None:
    with TouchpointLog(Settings(db=db)) as log:
        log.log_contact("ACME", Contact(occurred_at="2018-01-05", channel="phone",
                                        amount="1000.10", stage_signal="exploration"),
                        follow_up=FollowUpPlan(due_at="2018-01-20", owner="ann"))
        log.log_contact("GLOBEX", Contact(occurred_at="2018-01-06", channel="email"))


def test_reporting_tables_live_only_in_the_reporting_database(
        stores: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    events, reporting = stores
    seed(events)
    monkeypatch.setenv(REPORTING_DB_ENV, reporting)
    archive = cli_json(events, "archive")
    assert [(r["customer"], r["stage"], r["total_amount"]) for r in archive] == [
        ("ACME", "exploration", "1000.10"), ("GLOBEX", "discovery", "0")]
    followups = cli_json(events, "followups", "--as-of", "2018-01-07", "--status", "upcoming")
    assert [(i["customer"], i["kind"]) for i in followups] == [
        ("ACME", "cadence"), ("ACME", "scheduled"), ("GLOBEX", "cadence")]
    assert REPORTING_TABLES <= tables(reporting)
    assert not REPORTING_TABLES & tables(events)


def test_status_and_rebuild_work_on_the_reporting_database(
        stores: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    events, reporting = stores
    seed(events)
    monkeypatch.setenv(REPORTING_DB_ENV, reporting)
    assert {s["lag"] for s in cli_json(events, "projections", "status")} == {5}
    before = cli_json(events, "stage", "history", "ACME")
    result = CliRunner().invoke(cli, ["--db", events, "projections", "rebuild"])
    assert result.exit_code == 0 and "from 5 events" in result.output, result.output
    assert {s["lag"] for s in cli_json(events, "projections", "status")} == {0}
    assert cli_json(events, "stage", "history", "ACME") == before
    assert not REPORTING_TABLES & tables(events)


@pytest.mark.parametrize("url", [
    "postgresql://bob:s3cret-pw@127.0.0.1:1/reports",  # nothing listens on port 1
    "postgresql://bob:s3cret-pw@127.0.0.1:1/reports?sslmode=bogus",
    "postgresql://bob:s3cret-pw@[malformed/reports",
])
def test_an_unreachable_reporting_database_exits_1_without_its_password(
        url: str, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(sqlite_url)
    monkeypatch.setenv(REPORTING_DB_ENV, url)
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "projections", "status"])
    assert result.exit_code == 1
    assert "cannot open the reporting database" in result.output
    assert "bob:***@" in result.output and "s3cret" not in result.output


def test_tables_columns_and_indexes_no_one_reads_any_more_go_from_an_older_database(
        tmp_path: Path) -> None:
    from touchlog.projections.engine.reporting_db import (
        SUPERSEDED_INDEXES,
        SUPERSEDED_TABLES,
        ReportingDB,
    )

    path = tmp_path / "old.db"
    ReportingDB(str(path)).close()
    with sqlite3.connect(path) as conn:  # as earlier versions left it
        views = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'view'")]
        for view in views:  # the views read today's columns; made again with the rest
            conn.execute(f"DROP VIEW {view}")
        conn.execute("DROP INDEX archive_customers_coalesce_nullif_owner_last_contact_actor")
        conn.execute("ALTER TABLE archive_customers DROP COLUMN last_contact_actor")
        conn.execute("DROP TABLE followup_customers")
        conn.execute("CREATE TABLE followup_customers (customer TEXT PRIMARY KEY, "
                     "customer_id TEXT, owner TEXT, last_contact_at TEXT, "
                     "last_contact_actor TEXT, position INTEGER)")
        for index, (table, expression) in zip(SUPERSEDED_INDEXES, (
                ("followup_customers", "coalesce(owner, last_contact_actor)"),
                ("followup_customers", "coalesce(nullif(owner, ''), last_contact_actor)"),
                ("archive_customers", "contacts, last_contact_at")), strict=True):
            conn.execute(f"CREATE INDEX {index} ON {table} ({expression})")
        conn.execute("CREATE TABLE followup_contacts (customer TEXT, contact_id TEXT, "
                     "occurred_at TEXT, actor TEXT, retracted INTEGER, position INTEGER, "
                     "PRIMARY KEY (customer, contact_id))")
    ReportingDB(str(path)).close()
    with sqlite3.connect(path) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        followup_customers = [r[1] for r in conn.execute("PRAGMA table_info(followup_customers)")]
        archive_customers = [r[1] for r in conn.execute("PRAGMA table_info(archive_customers)")]
    assert not names & {*SUPERSEDED_INDEXES, *SUPERSEDED_TABLES}
    assert followup_customers == ["customer", "customer_id", "position"]
    assert "last_contact_actor" in archive_customers
    assert "archive_customers_coalesce_nullif_owner_last_contact_actor" in names
    assert "archive_customers_contacts_last_contact_at_total_amount_value_customer" in names
    assert set(views) <= names


def test_every_kind_of_event_database_has_a_reporting_dialect_of_the_same_name() -> None:
    from touchlog.domain.storage.postgres import PostgreSQL
    from touchlog.domain.storage.sqlite import SQLite
    from touchlog.projections.engine.reporting_db import DIALECTS

    assert set(DIALECTS) == {SQLite.name, PostgreSQL.name}
    assert all(name == dialect.name for name, dialect in DIALECTS.items())


@pytest.fixture(params=KINDS)
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    databases = for_kind(request, tmp_path)
    yield databases.new()
    databases.discard_all()


def test_tables_an_earlier_version_made_otherwise_are_made_again_and_applied_anew(
        any_db: str) -> None:
    """As the version before reason categories left them: no stage_facts, a stage_history
    without reason_category, and a stage column in archive_customers whose rows' positions
    counted the stage changes. The first query brings every such projection up to date."""
    from touchlog.projections.audit.verify_projections import verify_projections
    from touchlog.projections.engine.reporting_db import ReportingDB
    from touchlog.projections.queries.reads import Queries
    from touchlog.projections.reports.catalogue import views as report_views

    with TouchpointLog(Settings(db=any_db)) as log:
        log.log_contact("ACME", Contact(occurred_at="2018-01-05", channel="phone",
                                        stage_signal="expansion"))
        log.log_contact("ACME", Contact(occurred_at="2018-03-05", channel="letter",
                                        stage_signal="dissolution", reason_category="died"))
        queries = Queries(log)
        queries.stage("ACME")
        queries.archive()
        queries.close()
        db = ReportingDB(any_db)
        with db.transaction():
            for view in report_views(db.dialect):  # that version made no views
                db.execute(f"DROP VIEW {view.name}")
            db.execute("DROP TABLE stage_facts")
            db.execute("ALTER TABLE stage_history DROP COLUMN reason_category")
            db.execute("ALTER TABLE archive_customers ADD COLUMN stage TEXT")
            db.execute("UPDATE archive_customers SET position = 999")
        db.close()

        queries = Queries(log)
        history = queries.stage_history("ACME")
        assert [(r["to_stage"], r["reason_category"]) for r in history] == [
            ("discovery", None), ("expansion", None), ("dissolution", "died")]
        queries.archive()
        queries.close()
        checked = verify_projections(log)
        assert checked.intact, [str(d) for d in checked.differences]


@pytest.mark.postgres
def test_two_logs_in_two_schemas_of_one_postgres_database_keep_their_own_reporting_tables(
        pg_db_url: str, tmp_path: Path) -> None:
    with psycopg.connect(pg_db_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA north")
        conn.execute("CREATE SCHEMA south")
    logs = {"north": f"{pg_db_url}?schema=north", "south": f"{pg_db_url}?schema=south"}
    for schema, url in logs.items():
        csv_file = tmp_path / f"{schema}.csv"
        csv_file.write_text("customer,occurred_at,channel,amount\n"
                            f"{schema.upper()}-1,2018-01-05,phone,10.00\n"
                            f"{schema.upper()}-2,2018-01-06,store,20.00\n")
        imported = CliRunner().invoke(cli, ["--db", url, "import", str(csv_file)])
        assert imported.exit_code == 0, imported.output
    for schema, url in logs.items():
        archive = cli_json(url, "archive")
        assert [(r["customer"], r["contacts"]) for r in archive] == [
            (f"{schema.upper()}-1", 1), (f"{schema.upper()}-2", 1)]
        assert {s["lag"] for s in cli_json(url, "projections", "status")} == {0}
    with psycopg.connect(pg_db_url) as conn:
        placed = conn.execute("SELECT table_schema, count(*) FROM information_schema.tables "
                              "WHERE table_name = ANY(%s) GROUP BY table_schema",
                              [sorted(REPORTING_TABLES)]).fetchall()
    assert sorted(placed) == [("north", len(REPORTING_TABLES)), ("south", len(REPORTING_TABLES))]


@pytest.mark.postgres
def test_a_reporting_database_url_with_a_schema_keeps_the_tables_in_that_schema(
        sqlite_url: str, reporting_pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(sqlite_url)
    monkeypatch.setenv(REPORTING_DB_ENV, f"{reporting_pg_url}?schema=Reports")
    assert [r["customer"] for r in cli_json(sqlite_url, "archive")] == ["ACME", "GLOBEX"]
    verified = CliRunner().invoke(cli, ["--db", sqlite_url, "verify", "--projections"])
    assert verified.exit_code == 0, verified.output
    with psycopg.connect(reporting_pg_url) as conn:
        placed = conn.execute("SELECT DISTINCT table_schema FROM information_schema.tables "
                              "WHERE table_name = ANY(%s)", [sorted(REPORTING_TABLES)]).fetchall()
    assert placed == [("Reports",)]
