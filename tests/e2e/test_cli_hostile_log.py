"""A hostile database from the command line: every command reports what it cannot read (exit
1, one message, no traceback), imports no module the database names, and prints only valid
JSON whatever the reporting tables hold."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.conftest import assert_clear_error
from tests.reliability.crashes import TOUCHLOG


def touchlog(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TOUCHLOG_REPORTING_DB"}
    return subprocess.run([*TOUCHLOG, "--db", db, *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def strict_json(text: str) -> Any:
    """JSON as RFC 8259 has it: NaN and Infinity are not JSON."""
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def log(tmp_path: Path) -> str:
    db = str(tmp_path / "t.db")
    for customer, rating in (("ACME", "4"), ("BETA", None)):
        result = touchlog(db, "contact", "log", customer, "--channel", "phone", "--at",
                          "2018-01-05T10:00", "--actor", "ann",
                          *(("--rating", rating) if rating else ()))
        assert result.returncode == 0, result.stderr
    assert touchlog(db, "projections", "run").returncode == 0
    return db


def sql(db: str, statement: str) -> None:
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(statement)


def test_a_topic_naming_a_python_module_is_reported_and_never_imported(log: str) -> None:
    """``this`` prints the Zen of Python when imported: it must never reach the output."""
    sql(log, "UPDATE stored_events SET topic = 'this:s' WHERE originator_version = 2")

    # archive reads the tables projected before; once a rebuild has emptied them, it too
    # must read the log again.
    for command in (("timeline", "ACME"), ("audit", "ACME"), ("customer", "show", "ACME"),
                    ("contact", "log", "ACME", "--channel", "phone", "--at", "2018-02-01"),
                    ("projections", "rebuild"), ("archive", "--format", "json")):
        result = touchlog(log, *command)
        assert "Zen of Python" not in result.stdout + result.stderr, command
        assert_clear_error(result, "cannot read", "'this:s'", "touchlog verify")

    verify = touchlog(log, "verify", "--format", "json")
    assert verify.returncode == 1 and "Zen of Python" not in verify.stdout
    assert {(b["version"], b["problem"]) for b in strict_json(verify.stdout)["breaks"]} == {
        (2, "content_changed"), (2, "unreadable")}  # the topic is part of the link


def test_json_output_stays_json_when_a_table_holds_an_infinity(log: str) -> None:
    sql(log, "UPDATE archive_customers SET average_rating = 9e999 WHERE customer = 'BETA'")
    sql(log, "UPDATE archive_customers SET total_amount = X'00ff' WHERE customer = 'ACME'")

    checked = touchlog(log, "verify", "--projections", "--format", "json")
    archive = touchlog(log, "archive", "--format", "json")

    assert checked.returncode == 1, checked.stderr
    assert sorted((d["column"], d["live"]) for d in strict_json(checked.stdout)["differences"]) \
        == [("average_rating", "Infinity"), ("total_amount", "\\x00ff")]
    records = {r["customer"]: r for r in strict_json(archive.stdout)}
    assert records["BETA"]["average_rating"] == "Infinity"


def test_a_tracked_position_that_is_no_number_is_a_clear_error_until_rebuilt(log: str) -> None:
    """SQLite only: PostgreSQL's bigint column holds no text."""
    sql(log, "UPDATE projection_tracking SET position = 'abc' WHERE name = 'archive'")

    assert_clear_error(touchlog(log, "archive"), "projection_tracking", "'abc'",
                       "projections rebuild")
    assert_clear_error(touchlog(log, "projections", "rebuild", "stages"), "'abc'")
    rebuilt = touchlog(log, "projections", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert touchlog(log, "archive").returncode == 0


@pytest.mark.parametrize("statement", [
    "UPDATE stage_facts SET at = 'infinity'",
    "UPDATE stage_facts SET at = X'00', retracted = 'x'",
    "UPDATE archive_contacts SET amount = X'00'",
])
def test_a_reporting_value_no_run_writes_stops_a_catch_up_with_a_clear_error(
        log: str, statement: str) -> None:
    """SQLite only: PostgreSQL's typed columns hold none of these."""
    sql(log, statement)
    logged = touchlog(log, "contact", "log", "ACME", "--channel", "phone", "--at",
                      "2018-01-06T10:00", "--amount", "7", "--rating", "2", "--stage",
                      "expansion")
    assert logged.returncode == 0, logged.stderr

    assert_clear_error(touchlog(log, "projections", "run"))
    assert touchlog(log, "projections", "rebuild").returncode == 0
    assert touchlog(log, "stage", "history", "ACME").returncode == 0
