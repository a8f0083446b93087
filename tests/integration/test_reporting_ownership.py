"""A reporting database belongs to one log: another log's, or one ahead of its log (the log
restored from an older backup), is refused with the command that rebuilds it.

The reporting database is a database of its own here (``TOUCHLOG_REPORTING_DB``), as it
must be for the log to be restored without it; both kinds, through the real CLI.
"""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result

from tests.reliability.databases import Databases
from tests.sql_client import sql
from touchlog.cli.main import cli
from touchlog.projections.engine.runner import REPORTING_DB_ENV

REBUILD = "touchlog projections rebuild"


def run(db: str, reporting: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--db", db, *args], env={REPORTING_DB_ENV: reporting})


def data(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def log_contact(db: str, reporting: str, customer: str, day: int) -> None:
    logged = run(db, reporting, "contact", "log", customer, "--channel", "phone",
                 "--at", f"2018-01-{day:02d}T10:00", "--actor", "ann")
    assert logged.exit_code == 0, logged.output


def customers(db: str, reporting: str) -> list[str]:
    return [r["customer"] for r in data(run(db, reporting, "archive", "--format", "json"))]


def refused(result: Result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.exception is not None
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("Error: the reporting database "), result.stderr
    for needle in (REBUILD, *needles):
        assert needle in result.stderr, result.stderr


def restored(databases: Databases) -> tuple[str, str, str]:
    """A log with ACME, a backup of it, then GLOBEX and INITECH in the log and in a
    reporting database; returns (the backup, i.e. the log restored, the reporting database,
    the log as it was before the restore)."""
    log, reporting = databases.new(), databases.new()
    log_contact(log, reporting, "ACME", 5)
    assert customers(log, reporting) == ["ACME"]
    backup = databases.new(template=log)
    log_contact(log, reporting, "GLOBEX", 6)
    log_contact(log, reporting, "INITECH", 7)
    assert customers(log, reporting) == ["ACME", "GLOBEX", "INITECH"]
    return backup, reporting, log


def test_a_reporting_database_ahead_of_a_restored_log_is_refused_until_rebuilt(
        databases: Databases) -> None:
    log, reporting, _ = restored(databases)
    log_contact(log, reporting, "HOOLI", 8)  # a new contact after the restore

    refused(run(log, reporting, "archive"), "ahead of the log", "restored from an older backup")
    status = run(log, reporting, "projections", "status", "--format", "json")
    assert status.exit_code == 1 and REBUILD in status.stderr
    rows = {r["projection"]: r for r in json.loads(status.stdout)}
    assert (rows["archive"]["position"], rows["archive"]["lag"]) == (6, None)
    assert "ahead of the log" in rows["archive"]["problem"]
    # The archive shows each customer's stage: it brought the stages projection along.
    assert rows["stages"]["position"] == 6 and "ahead of the log" in rows["stages"]["problem"]
    assert [(r["lag"], r["problem"]) for r in rows.values() if r["position"] == 0] == [
        (4, None)]  # never applied: it fits any log

    assert run(log, reporting, "projections", "rebuild").exit_code == 0
    assert customers(log, reporting) == ["ACME", "HOOLI"]
    assert {r["lag"] for r in data(run(log, reporting, "projections", "status",
                                       "--format", "json"))} == {0}


def test_a_restored_log_whose_positions_were_reused_by_new_events_is_refused(
        databases: Databases) -> None:
    log, reporting, _ = restored(databases)
    for day, customer in enumerate(("HOOLI", "UMBRELLA", "STARK"), start=8):
        log_contact(log, reporting, customer, day)  # past the position the tables applied

    refused(run(log, reporting, "archive"), "is not the log's event")
    assert run(log, reporting, "projections", "rebuild").exit_code == 0
    assert customers(log, reporting) == ["ACME", "HOOLI", "STARK", "UMBRELLA"]


def test_another_logs_reporting_database_is_refused_and_verify_says_so(
        databases: Databases) -> None:
    first, reporting = databases.new(), databases.new()
    log_contact(first, reporting, "ACME", 5)
    assert customers(first, reporting) == ["ACME"]
    second = databases.new()
    for day, customer in enumerate(("GLOBEX", "INITECH"), start=6):
        log_contact(second, reporting, customer, day)

    refused(run(second, reporting, "archive"), "made from another log")
    refused(run(second, reporting, "projections", "run"), "made from another log")
    verified = run(second, reporting, "verify", "--projections", "--format", "json")
    assert verified.exit_code == 1, verified.output
    problems = {(d["table"], d["problem"]) for d in json.loads(verified.stdout)["differences"]}
    assert problems == {("projection_tracking", "made_from_another_log")}
    assert customers(first, reporting) == ["ACME"]  # its own log still reads it

    assert run(second, reporting, "projections", "rebuild").exit_code == 0
    assert customers(second, reporting) == ["GLOBEX", "INITECH"]
    refused(run(first, reporting, "archive"), "made from another log")


def test_an_import_into_a_log_whose_reporting_database_is_ahead_records_nothing(
        databases: Databases, tmp_path: Any) -> None:
    log, reporting, _ = restored(databases)
    rows = tmp_path / "new.csv"
    rows.write_text("customer,occurred_at,channel\nHOOLI,2018-03-01,phone\n")
    refused(run(log, reporting, "import", str(rows)), "ahead of the log")
    assert data(run(log, reporting, "verify", "--format", "json"))["events"] == 2



def test_a_reporting_database_without_recorded_identity_is_adopted_when_it_fits(
        databases: Databases) -> None:
    """Tables made before the tracking rows named their log: given the columns on first use,
    adopted when their positions fit the log, refused when they are ahead of it."""
    log, reporting, before = restored(databases)
    for column in ("log_id", "event_id"):  # as an earlier version made the table
        sql(reporting, f"ALTER TABLE projection_tracking DROP COLUMN {column}")
    refused(run(log, reporting, "archive"), "ahead of the log")
    log_contact(before, reporting, "HOOLI", 8)
    assert customers(before, reporting) == ["ACME", "GLOBEX", "HOOLI", "INITECH"]
    adopted = sql(reporting, "SELECT name FROM projection_tracking WHERE position > 0 "
                             "AND log_id IS NOT NULL AND event_id IS NOT NULL")
    assert adopted == [("archive",), ("stages",)]  # the archive shows the stage too
    refused(run(log, reporting, "archive"), "ahead of the log")
