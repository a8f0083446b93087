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
