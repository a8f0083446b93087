"""Where the databases are: ``sqlite:///`` URLs, passwords in PostgreSQL URLs, empty files.

README "Configuration" and docs/cli.md "Database locations" state the rules tested here.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from touchlog.cli.main import cli
from touchlog.domain.errors import StoreError
from touchlog.domain.storage.location import locate

RELIABILITY = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
LOG = ["contact", "log", "ACME", "--channel", "phone", "--at", "2018-01-05"]


def run(db: str, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["--db", db, *args], env=env)


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder, where a path misread as relative would land."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def test_a_sqlite_url_with_three_slashes_names_an_absolute_path(
        tmp_path: Path, elsewhere: Path) -> None:
    db = tmp_path / "data" / "t.db"
    db.parent.mkdir()

    assert run(f"sqlite://{db}", *LOG).exit_code == 0  # sqlite:///tmp/…/data/t.db

    assert db.exists() and not any(elsewhere.iterdir())
    for same in (f"sqlite:///{db}", str(db)):  # SQLAlchemy's four slashes; a plain path
        assert locate(same).path == db
        result = run(same, "timeline", "ACME", "--format", "json")
        assert result.exit_code == 0 and len(json.loads(result.stdout)) == 1, result.output


def test_a_relative_path_is_given_without_the_scheme(tmp_path: Path, elsewhere: Path) -> None:
    assert run("t.db", *LOG).exit_code == 0
    assert (elsewhere / "t.db").exists()


@pytest.mark.parametrize("url,needle", [
    ("sqlite:///t.db", "/t.db"),  # SQLAlchemy's relative form: a file in the root folder
    ("sqlite://server/t.db", "no host"),
    ("sqlite://", "no path"),
    ("sqlite:///", "no path"),
])
def test_an_ambiguous_sqlite_url_is_refused_naming_the_rule(url: str, needle: str,
                                                            elsewhere: Path) -> None:
    with pytest.raises(StoreError, match=needle) as refused:
        locate(url)
    assert "plain path" in str(refused.value)
    result = run(url, *LOG)
    assert result.exit_code == 1 and result.stderr.startswith("Error: "), result.output
    assert not any(elsewhere.iterdir()) and not Path("/t.db").exists()


def test_the_reporting_database_url_follows_the_same_rule(tmp_path: Path,
                                                          elsewhere: Path) -> None:
    reports = tmp_path / "reports.db"
    result = run(str(tmp_path / "t.db"), *LOG, env={"TOUCHLOG_REPORTING_DB": f"sqlite://{reports}"})
    assert result.exit_code == 0, result.output
    result = run(str(tmp_path / "t.db"), "archive", "--format", "json",
                 env={"TOUCHLOG_REPORTING_DB": f"sqlite://{reports}"})
    assert result.exit_code == 0, result.output
    assert reports.exists() and not any(elsewhere.iterdir())


@pytest.mark.parametrize("args", [["verify"], ["timeline", "ACME"], ["archive"],
                                  ["audit", "ACME"], ["projections", "status"]])
def test_an_empty_file_is_not_a_log_to_read_and_stays_untouched(tmp_path: Path,
                                                                args: list[str]) -> None:
    db = tmp_path / "empty.db"
    db.touch()

    result = run(str(db), *args)

    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"Error: the database {db} is empty (0 bytes)")
    assert db.stat().st_size == 0 and {p.name for p in tmp_path.iterdir()} == {"empty.db"}


def test_recording_into_an_empty_file_makes_it_a_log(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    db.touch()
    assert run(str(db), *LOG).exit_code == 0
    result = run(str(db), "verify", "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["events"] == 2, result.output


def test_a_missing_file_stays_an_error_for_reading_commands(tmp_path: Path) -> None:
    result = run(str(tmp_path / "missing.db"), "verify")
    assert result.exit_code == 1 and result.stderr.startswith("Error: no database at")
    assert not (tmp_path / "missing.db").exists()


def test_a_backup_taken_as_the_docs_say_holds_what_the_write_ahead_log_holds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the documented code names touchlog.db and backup/
    db = tmp_path / "touchlog.db"
    assert run(str(db), *LOG).exit_code == 0
    keeper = sqlite3.connect(db)  # while it is open, the last writer leaves its WAL behind
    keeper.execute("SELECT count(*) FROM sqlite_master").fetchall()
    try:
        assert run(str(db), "contact", "log", "BOB", "--channel", "phone", "--at",
                   "2018-01-06").exit_code == 0
        assert Path(f"{db}-wal").stat().st_size > 0
        snippet = re.search(r"```python\n(.*?)```", RELIABILITY.read_text().split(
            "## Backups")[1], re.DOTALL)
        assert snippet is not None
        (tmp_path / "backup").mkdir()
        exec(snippet.group(1), {"__name__": "backup"})  # noqa: S102 - the documented code
        plain = tmp_path / "copied.db"
        plain.write_bytes(db.read_bytes())  # what the docs warn against
    finally:
        keeper.close()
    backup = str(tmp_path / "backup" / "touchlog.db")
    result = run(backup, "timeline", "BOB")
    assert result.exit_code == 0, result.output
    assert run(backup, "verify").exit_code == 0
    assert run(str(plain), "timeline", "BOB").exit_code == 1  # BOB was only in the WAL
