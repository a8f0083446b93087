"""Tables for people: the terminal's width, --wide, --limit, --reverse, one instant form and
durations in days and hours."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from touchlog.cli.main import cli
from touchlog.domain.application import TouchpointLog
from touchlog.domain.contact import Contact, FollowUpPlan
from touchlog.domain.settings import Settings

LONG = "asked for a quote on the new model and a volume discount for the next quarter"


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "t.db")
    with TouchpointLog(Settings(db=path)) as log:
        for day, customer in ((5, "ACME"), (6, "GLOBEX"), (7, "INITECH")):
            log.log_contact(customer, Contact(
                occurred_at=f"2018-01-0{day}T10:30:15.250000", channel="phone",
                summary=LONG, actor="ann", stage_signal="exploration"),
                follow_up=FollowUpPlan(due_at=f"2018-02-0{day}", owner="ann"))
        log.change_stage("ACME", "commitment", "signed", "ann", at="2018-01-08T16:30")
    return path


def run(db: str, *args: str, columns: int | None = None) -> Result:
    # None unsets it: the width the test asks for, never the one the run inherited.
    env = {"COLUMNS": str(columns) if columns else None}
    result = CliRunner().invoke(cli, ["--db", db, *args], env=env)
    assert result.exit_code == 0, result.output
    return result


def test_a_table_fits_the_terminal_width_and_wide_shows_every_cell(db: str) -> None:
    fitted = run(db, "timeline", "ACME", "--format", "table", columns=80).stdout
    assert max(map(len, fitted.splitlines())) <= 80
    assert "…" in fitted and LONG not in fitted
    wide = run(db, "timeline", "ACME", "--format", "table", "--wide", columns=80).stdout
    assert LONG in wide and "…" not in wide


def test_a_table_to_a_pipe_without_columns_cuts_nothing(db: str) -> None:
    assert LONG in run(db, "timeline", "ACME", "--format", "table").stdout


def test_tables_show_instants_to_the_minute_in_utc(db: str) -> None:
    table = run(db, "archive", "--format", "table", "--wide").stdout
    assert "2018-01-05 10:30" in table and "+00:00" not in table and "T10:30" not in table
    timeline = run(db, "timeline", "ACME", "--format", "table", "--wide").stdout
    assert "2018-01-05 10:30" in timeline and "due 2018-02-05 00:00" in timeline
    as_json = json.loads(run(db, "archive", "--format", "json").stdout)
    assert as_json[0]["first_contact_at"] == "2018-01-05T10:30:15.250000+00:00"


def test_a_stays_duration_shows_in_days_and_hours_in_tables(db: str) -> None:
    table = run(db, "stage", "history", "ACME", "--format", "table", "--wide").stdout
    heading = table.splitlines()[0].split()
    assert "duration" in heading and "duration_seconds" not in heading
    assert "3d 5h" in table  # 2018-01-05 10:30:15.25 to 2018-01-08 16:30: 5h 59m
    as_json = json.loads(run(db, "stage", "history", "ACME", "--format", "json").stdout)
    assert as_json[1]["duration_seconds"] == 280784


@pytest.mark.parametrize("command", [["archive"], ["followups", "--as-of", "2018-03-01"],
                                     ["timeline", "ACME"]])
def test_limit_and_reverse_list_the_newest_first(db: str, command: list[str]) -> None:
    every = json.loads(run(db, *command, "--format", "json").stdout)
    assert len(every) >= 3
    newest = json.loads(run(db, *command, "--reverse", "--limit", "2", "--format", "json").stdout)
    assert newest == every[::-1][:2]
    first = json.loads(run(db, *command, "--limit", "1", "--format", "json").stdout)
    assert first == every[:1]
