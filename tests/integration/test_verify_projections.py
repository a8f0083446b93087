"""``verify --projections``: live tables against a rebuild into shadow tables, both stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from touchlog.domain.application import TouchpointLog
from touchlog.domain.contact import Contact, ContactChanges, FollowUpPlan
from touchlog.domain.settings import Settings
from touchlog.projections.audit.verify_projections import verify_projections
from touchlog.projections.engine.postgres import SCHEMA_PREFIX
from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.engine.runner import Projector
from touchlog.projections.engine.sqlite import FOLDER_PREFIX
from touchlog.projections.queries.reads import Queries


def contact(day: int, **fields: object) -> Contact:
    return Contact(occurred_at=f"2018-01-{day:02d}T09:00:00+00:00", channel="phone",
                   **fields)  # type: ignore[arg-type]


def seed(log: TouchpointLog) -> dict[str, str]:
    first = log.log_contact("ACME", contact(5, amount="1000.00", rating=4, actor="bob"))
    second = log.log_contact("ACME", contact(6, amount="54.00", stage_signal="exploration"),
                             follow_up=FollowUpPlan(due_at="2018-01-20T00:00:00+00:00",
                                                    owner="ann"))
    log.amend_contact("ACME", first.contact_id, ContactChanges(channel="email"))
    wrong = log.log_contact("GLOBEX", contact(7, amount="5.00", actor="cy"))
    log.retract_contact("GLOBEX", wrong.contact_id, "test entry")
    log.change_stage("GLOBEX", "exploration", "met at the expo", "cy", at="2018-01-08")
    return {"first": first.contact_id, "second": second.contact_id}


@pytest.fixture
def projected(db_url: str, monkeypatch: pytest.MonkeyPatch
              ) -> Iterator[tuple[TouchpointLog, Projector, dict[str, str]]]:
    monkeypatch.delenv("TOUCHLOG_REPORTING_DB", raising=False)
    with TouchpointLog(Settings(db=db_url)) as log:
        ids = seed(log)
        projector = Projector(log)
        projector.catch_up()
        try:
            yield log, projector, ids
        finally:
            projector.close()


def leftovers(db: ReportingDB) -> list[str]:
    """Shadow folders beside the SQLite file, or shadow schemas in the PostgreSQL database."""
    if db.dialect.name == "sqlite":
        return [p.name for p in Path(db.url).resolve().parent.glob(f"{FOLDER_PREFIX}*")]
    rows = db.query("SELECT nspname FROM pg_namespace WHERE nspname LIKE ?",
                    (SCHEMA_PREFIX + "%",))
    return [r["nspname"] for r in rows]


def tamper(db: ReportingDB, statement: str, params: tuple[Any, ...] = ()) -> None:
    assert db.execute(statement, params) == 1


def test_intact_projections_match_their_rebuild_table_by_table(projected: Any) -> None:
    log, projector, _ = projected

    report = verify_projections(log)

    assert report.intact, [str(d) for d in report.differences]
    head = log.recorder.max_notification_id()
    assert report.head == head and set(report.positions.values()) == {head}
    checks = {t.table: t for t in report.tables}
    assert set(checks) == set(projector.snapshot())
    assert all(t.live_digest == t.shadow_digest and t.differences == 0 for t in checks.values())
    assert checks["archive_contacts"].live_rows == checks["archive_contacts"].shadow_rows == 3
    assert checks["stage_history"].live_rows == 4  # two registrations, two changes


def test_changed_value_is_named_by_table_key_and_column(projected: Any) -> None:
    log, projector, _ = projected
    tamper(projector.db, "UPDATE archive_customers SET total_amount = ? WHERE customer = ?",
           ("12.00", "ACME"))

    report = verify_projections(log)

    assert [str(d) for d in report.differences] == [
        "archive_customers customer=ACME : column total_amount live 12.00 shadow 1054.00"]
    changed = {t.table for t in report.tables if t.live_digest != t.shadow_digest}
    assert changed == {"archive_customers"}


def test_a_changed_report_summary_is_named_like_any_projection_table(projected: Any) -> None:
    log, projector, _ = projected
    tamper(projector.db, "UPDATE report_channel_months SET contacts = contacts + 1 "
                         "WHERE month = ? AND channel = ?", ("2018-01", "phone"))
    tamper(projector.db, "DELETE FROM report_stage_days WHERE day = ? AND stage = ?",
           ("2018-01-08", "exploration"))

    report = verify_projections(log)

    assert sorted(str(d) for d in report.differences) == [
        "report_channel_months month=2018-01 channel=phone : column contacts live 2 shadow 1",
        "report_stage_days day=2018-01-08 stage=exploration : row missing in live"]


def test_deleted_and_extra_rows_are_named_by_key(projected: Any) -> None:
    log, projector, ids = projected
    tamper(projector.db, "DELETE FROM archive_contacts WHERE contact_id = ?", (ids["first"],))
    tamper(projector.db, "INSERT INTO archive_channels (customer, channel, contacts, position) "
                         "VALUES (?, ?, ?, ?)", ("ACME", "fax", 1, 2))

    report = verify_projections(log)

    assert sorted(d.as_row()["table"] + " " + d.key + " " + d.problem
                  for d in report.differences) == [
        "archive_channels customer=ACME channel=fax missing_in_shadow",
        f"archive_contacts customer=ACME contact_id={ids['first']} missing_in_live",
    ]
    counts = {t.table: (t.live_rows, t.shadow_rows) for t in report.tables}
    assert counts["archive_contacts"] == (2, 3)
    assert counts["archive_channels"][0] == counts["archive_channels"][1] + 1


def test_the_check_leaves_live_tables_unchanged_and_no_shadow_behind(projected: Any) -> None:
    log, projector, _ = projected
    tamper(projector.db, "UPDATE stage_current SET cycle = 7 WHERE customer = ?", ("GLOBEX",))
    before, positions = projector.snapshot(), projector.db.positions()

    report = verify_projections(log)

    assert not report.intact
    assert projector.snapshot() == before
    assert projector.db.positions() == positions
    assert leftovers(projector.db) == []


def test_a_lagging_projection_is_compared_at_its_own_position(projected: Any) -> None:
    log, projector, _ = projected
    position = log.recorder.max_notification_id()
    log.log_contact("ACME", contact(9, amount="1.00"))

    report = verify_projections(log)

    assert report.intact, [str(d) for d in report.differences]
    assert set(report.positions.values()) == {position} and report.head > position
    assert projector.db.positions() == dict.fromkeys(report.positions, position)


def test_the_shadow_is_removed_when_the_rebuild_fails(projected: Any) -> None:
    log, projector, _ = projected
    with log.recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute(f"UPDATE {log.recorder.events_table_name} SET topic = 'gone:Nothing' "
                       "WHERE originator_version = 2")

    with pytest.raises(Exception):  # noqa: B017 - whatever the decoder raises
        verify_projections(log)

    assert leftovers(projector.db) == []


def test_postgres_shadow_uses_its_own_schema_not_the_live_tables(pg_db_url: str,
                                                                 monkeypatch: Any) -> None:
    monkeypatch.delenv("TOUCHLOG_REPORTING_DB", raising=False)
    with TouchpointLog(Settings(db=pg_db_url)) as log:
        seed(log)
        Projector(log).catch_up()
        with psycopg.connect(pg_db_url, autocommit=True) as conn:
            conn.execute("UPDATE archive_customers SET contacts = 99 WHERE customer = 'ACME'")
            report = verify_projections(log)
            live = conn.execute("SELECT contacts FROM archive_customers "
                                "WHERE customer = 'ACME'").fetchone()

    assert live == (99,)
    assert [(d.column, d.live, d.shadow) for d in report.differences] == [("contacts", 99, 2)]


# ------------------------------------------------ values no honest run writes (docs/audit.md)

# A number that is not finite, as each database spells it in SQL. SQLite has no NaN: it
# stores one as NULL, so there the tampering cannot arise (the test shows the NULL).
NON_FINITE = {"sqlite": {"inf": "9e999", "-inf": "-9e999", "nan": None},
              "postgres": {"inf": "'Infinity'::float8", "-inf": "'-Infinity'::float8",
                           "nan": "'NaN'::float8"}}
SHOWN_AS = {"inf": "Infinity", "-inf": "-Infinity", "nan": "NaN"}


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_a_non_finite_number_where_the_rebuild_has_none_is_a_difference(
        projected: Any, value: str) -> None:
    """GLOBEX has no rating, so its average is NULL: a live infinity or NaN must not pass
    for it (both once became the same JSON null)."""
    log, projector, _ = projected
    literal = NON_FINITE[projector.db.dialect.name][value]
    if literal is None:
        projector.db.execute("UPDATE archive_customers SET average_rating = ? "
                             "WHERE customer = 'GLOBEX'", (float(value),))
        stored = projector.db.query("SELECT average_rating FROM archive_customers "
                                    "WHERE customer = 'GLOBEX'")
        assert stored == [{"average_rating": None}]  # cannot arise: SQLite kept NULL
        assert verify_projections(log).intact
        return
    tamper(projector.db, f"UPDATE archive_customers SET average_rating = {literal} "
                         "WHERE customer = ?", ("GLOBEX",))

    report = verify_projections(log)

    assert [d.as_row() for d in report.differences] == [{
        "table": "archive_customers", "key": "customer=GLOBEX", "problem": "value_differs",
        "column": "average_rating", "live": SHOWN_AS[value], "shadow": None}]


def test_a_non_finite_number_where_the_rebuild_has_one_is_a_difference(projected: Any) -> None:
    log, projector, _ = projected
    literal = NON_FINITE[projector.db.dialect.name]["inf"]
    tamper(projector.db, f"UPDATE archive_customers SET average_rating = {literal} "
                         "WHERE customer = ?", ("ACME",))

    report = verify_projections(log)

    assert [(d.column, d.live, d.shadow) for d in report.differences] == [
        ("average_rating", "Infinity", 4.0)]


def test_postgres_infinite_instants_and_amounts_are_differences_not_crashes(
        pg_db_url: str, monkeypatch: Any) -> None:
    """timestamptz and numeric hold infinities (and numeric NaN); SQLite keeps both as text."""
    monkeypatch.delenv("TOUCHLOG_REPORTING_DB", raising=False)
    with TouchpointLog(Settings(db=pg_db_url)) as log:
        seed(log)
        projector = Projector(log)
        projector.catch_up()
        tamper(projector.db, "UPDATE archive_customers SET last_contact_at = 'infinity', "
                             "first_contact_at = '-infinity', total_amount = 'NaN' "
                             "WHERE customer = 'ACME'")
        tamper(projector.db, "UPDATE archive_customers SET total_amount = 'Infinity' "
                             "WHERE customer = 'GLOBEX'")

        report = verify_projections(log)
        records = Queries(log).archive()
        projector.close()

    assert sorted((d.key, d.column, d.live) for d in report.differences) == [
        ("customer=ACME", "first_contact_at", "-infinity"),
        ("customer=ACME", "last_contact_at", "infinity"),
        ("customer=ACME", "total_amount", "NaN"),
        ("customer=GLOBEX", "total_amount", "Infinity")]
    assert records[0]["last_contact_at"] == "infinity"


# A value of another type than the column's, as SQLite lets any column hold (PostgreSQL
# refuses or converts each of these: its columns are typed).
WRONG_TYPES = {
    "bytes for text": ("UPDATE archive_contacts SET summary = X'00ff' WHERE customer = 'GLOBEX'",
                       "summary", "\\x00ff"),
    "text for a position": ("UPDATE archive_contacts SET position = 'abc' "
                            "WHERE customer = 'GLOBEX'", "position", "abc"),
    "a real for a count": ("UPDATE archive_customers SET contacts = 2.5 "
                           "WHERE customer = 'GLOBEX'", "contacts", 2.5),
    "text for a tracked position": ("UPDATE projection_tracking SET position = 'abc' "
                                    "WHERE name = 'stages'", "position", "abc"),
}


@pytest.fixture
def sqlite_projected(sqlite_url: str, monkeypatch: pytest.MonkeyPatch
                     ) -> Iterator[tuple[TouchpointLog, Projector]]:
    monkeypatch.delenv("TOUCHLOG_REPORTING_DB", raising=False)
    with TouchpointLog(Settings(db=sqlite_url)) as log:
        seed(log)
        projector = Projector(log)
        projector.catch_up()
        try:
            yield log, projector
        finally:
            projector.close()


@pytest.mark.parametrize("tampering", list(WRONG_TYPES))
def test_a_value_of_another_type_is_a_difference_not_a_crash(
        sqlite_projected: Any, tampering: str) -> None:
    log, projector = sqlite_projected
    statement, column, shown = WRONG_TYPES[tampering]
    tamper(projector.db, statement)

    report = verify_projections(log)

    assert not report.intact
    assert (column, shown) in [(d.column, d.live) for d in report.differences]


def test_a_blob_key_is_a_row_missing_on_each_side_not_a_crash(sqlite_projected: Any) -> None:
    log, projector = sqlite_projected
    tamper(projector.db, "UPDATE archive_channels SET customer = X'41434d45' "
                         "WHERE customer = 'ACME' AND channel = 'email'")

    report = verify_projections(log)

    assert sorted(d.problem for d in report.differences) == [
        "missing_in_live", "missing_in_shadow"]
