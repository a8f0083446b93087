"""Hostile text out: formulas in CSV meant for spreadsheets, control characters in tables."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from touchlog.cli.main import cli
from touchlog.domain.application import TouchpointLog
from touchlog.domain.contact import Contact
from touchlog.domain.settings import Settings

FORMULA = '=HYPERLINK("http://evil.example","click")'
ESCAPE = "\x1b[2J\x1b[31mred\x07\rover\u202eevil"


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "t.db")
    with TouchpointLog(Settings(db=path)) as log:
        for day, summary in enumerate((FORMULA, "+1 555", "-sum", "@cmd", ESCAPE), start=1):
            log.log_contact("ACME", Contact(occurred_at=f"2018-01-0{day}", channel="phone",
                                            summary=summary, actor="ann"))
    return path


def run(db: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--db", db, *args])
    assert result.exit_code == 0, result.output
    return result.output


def summaries(text: str) -> list[str]:
    return [row["summary"] for row in csv.DictReader(io.StringIO(text))
            if row["type"] == "contact"]


def test_csv_output_neutralises_cells_a_spreadsheet_would_run(db: str) -> None:
    cells = summaries(run(db, "timeline", "ACME", "--format", "csv"))
    assert cells[:4] == [f"'{FORMULA}", "'+1 555", "'-sum", "'@cmd"]


def test_raw_csv_keeps_the_cells_as_stored(db: str) -> None:
    cells = summaries(run(db, "timeline", "ACME", "--format", "csv", "--raw-csv"))
    assert cells == [FORMULA, "+1 555", "-sum", "@cmd", ESCAPE]


def test_json_stays_exact(db: str) -> None:
    entries = json.loads(run(db, "timeline", "ACME", "--format", "json"))
    assert [e["summary"] for e in entries if e["type"] == "contact"][-1] == ESCAPE


def test_a_table_shows_control_and_bidirectional_characters_escaped(db: str) -> None:
    out = run(db, "timeline", "ACME", "--format", "table")
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "\u202e" not in out
    assert "\\x1b[2J" in out and "\\u202e" in out


def test_an_export_to_csv_neutralises_formulas_unless_raw(db: str, tmp_path: Path) -> None:
    safe, raw = tmp_path / "safe.csv", tmp_path / "raw.csv"
    run(db, "export", "contacts", "--format", "csv", "-o", str(safe))
    run(db, "export", "contacts", "--format", "csv", "-o", str(raw), "--raw-csv")
    with safe.open(newline="", encoding="utf-8") as a, raw.open(newline="",
                                                                encoding="utf-8") as b:
        neutralised = [row["summary"] for row in csv.DictReader(a)]
        as_stored = [row["summary"] for row in csv.DictReader(b)]
    assert set(neutralised) == {f"'{FORMULA}", "'+1 555", "'-sum", "'@cmd", ESCAPE}
    assert set(as_stored) == {FORMULA, "+1 555", "-sum", "@cmd", ESCAPE}
