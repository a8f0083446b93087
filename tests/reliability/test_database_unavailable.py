"""A database that is read-only, locked by another writer past the timeout, or missing.

Every command is run as a real process: a clear "Error: …" on stderr, exit code 1, no
traceback, and afterwards the database holds exactly what it held before.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from touchlog.cli.main import cli

CSV = "customer,occurred_at,channel\nNEW,2018-03-01,phone\n"
WRITES = [
    ["contact", "log", "ACME", "--channel", "phone", "--at", "2018-02-01"],
    ["stage", "set", "ACME", "expansion", "--reason", "grew", "--actor", "ann"],
    ["customer", "set", "ACME", "--owner", "bob"],
    ["import", "{csv}"],
    ["projections", "rebuild"],
]
READS = [["timeline", "ACME"], ["archive"], ["followups"], ["projections", "status"],
         ["customer", "show", "ACME"], ["stage", "history", "ACME"]]
NOBODY = 65534


def contents(db: Path) -> str:
    """A digest of every row of every table (events and projections)."""
    digest = hashlib.sha256()
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        tables = [t for (t,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for table in tables:
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2"):
                digest.update(repr(row).encode())
    return digest.hexdigest()


def commands(rows: list[list[str]], folder: Path) -> list[list[str]]:
    (folder / "new.csv").write_text(CSV)
    return [[a.replace("{csv}", str(folder / "new.csv")) for a in r] for r in rows]


@pytest.fixture
def folder() -> Iterator[Path]:
    """A folder outside pytest's (owner-only) temp root, so an unprivileged user can enter."""
    path = Path(tempfile.mkdtemp(prefix="touchlog-rel-"))
    path.chmod(0o755)
    yield path
    for p in [path, *path.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    for p in sorted(path.rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()
    path.rmdir()


def seeded(folder: Path, touchlog: Any) -> Path:
    db = folder / "touchlog.db"
    for args in (["contact", "log", "ACME", "--channel", "phone", "--at", "2018-01-05",
                  "--actor", "ann", "--follow-up-due", "2018-01-12"], ["projections", "run"]):
        assert touchlog("--db", str(db), *args).returncode == 0
    return db


@pytest.mark.parametrize("file_mode,dir_mode,writes,reads", [
    (0o444, 0o555, WRITES, READS), (0o444, 0o755, WRITES[:1], READS[:1]),
    (0o644, 0o555, WRITES[:1], READS[:1]),
], ids=["file-and-folder", "file", "folder"])
def test_a_read_only_database_is_a_clear_error_and_stays_unchanged(
        file_mode: int, dir_mode: int, writes: list[list[str]], reads: list[list[str]],
        folder: Path, touchlog: Any,
        clear_error: Callable[..., None], figures: Counter[str]) -> None:
    db = seeded(folder, touchlog)
    before = contents(db)
    # Permissions do not stop root: run the commands as an unprivileged user then.
    user: dict[str, Any] = {}
    if os.geteuid() == 0:
        for p in (folder, db):
            os.chown(p, NOBODY, NOBODY)
        user = {"as_user": NOBODY}
    db.chmod(file_mode)
    folder.chmod(dir_mode)
    try:
        for args in commands(writes, Path(tempfile.gettempdir())):
            result = touchlog("--db", str(db), *args, cwd="/", **user)
            clear_error(result, str(db))
            figures["unavailable database: commands refused cleanly"] += 1
        for args in reads:  # reading may work or be refused, but never with a traceback
            result = touchlog("--db", str(db), *args, cwd="/", **user)
            if result.returncode != 0:
                clear_error(result)
    finally:
        folder.chmod(0o755)
        db.chmod(0o644)
    assert contents(db) == before


def test_a_database_locked_past_the_timeout_is_a_clear_error_and_stays_unchanged(
        folder: Path, touchlog: Any, clear_error: Callable[..., None],
        figures: Counter[str]) -> None:
    db = seeded(folder, touchlog)
    before = contents(db)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the write lock throughout
    try:
        for args in commands(WRITES + [["projections", "run"]], folder):
            started = time.monotonic()
            result = touchlog("--db", str(db), *args, env={"TOUCHLOG_LOCK_TIMEOUT": "1"})
            waited = time.monotonic() - started
            clear_error(result, "locked")
            assert 1 <= waited < 20, f"{args}: waited {waited:.1f} s for a 1 s lock timeout"
            figures["unavailable database: commands refused cleanly"] += 1
        reader = touchlog("--db", str(db), "timeline", "ACME", "--format", "json")
        assert reader.returncode == 0, reader.stderr  # readers are not blocked by a writer
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert contents(db) == before


def test_a_bad_lock_timeout_setting_is_a_clear_error(
        folder: Path, touchlog: Any, clear_error: Callable[..., None]) -> None:
    result = touchlog("--db", str(folder / "t.db"), *WRITES[0],
                      env={"TOUCHLOG_LOCK_TIMEOUT": "soon"})
    clear_error(result, "TOUCHLOG_LOCK_TIMEOUT")


QUERIES = READS + [
    ["projections", "run"], ["projections", "rebuild"], ["export", "archive", "--format",
                                                         "csv", "-o", "{out}"],
    ["audit", "ACME", "--as-of", "2018-02-01"], ["verify"],
    ["contact", "amend", "c-0123", "--summary", "x"],
    ["contact", "retract", "c-0123", "--reason", "x"],
]


def test_query_commands_refuse_a_missing_database_and_do_not_create_it(
        folder: Path, figures: Counter[str]) -> None:
    db = folder / "missing.db"
    for args in QUERIES:  # in-process through click: thirteen interpreter starts cost 10 s
        args = [a.replace("{out}", str(folder / "out.csv")) for a in args]
        result = CliRunner().invoke(cli, ["--db", str(db), *args])
        assert isinstance(result.exception, SystemExit), result.exception  # not a crash
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert result.stderr.startswith("Error: no database at"), (args, result.stderr)
        assert not db.exists(), f"{args} created the database"
        figures["unavailable database: commands refused cleanly"] += 1
    dry = CliRunner().invoke(cli, ["--db", str(db), *commands(
        [["import", "{csv}", "--dry-run", "--format", "json"]], folder)[0]])
    assert dry.exit_code == 0 and not db.exists(), dry.output


def test_writes_into_a_missing_folder_are_a_clear_error(
        folder: Path, touchlog: Any, clear_error: Callable[..., None]) -> None:
    db = folder / "no" / "such" / "touchlog.db"
    for args in commands(WRITES[:1] + WRITES[3:4], folder):
        clear_error(touchlog("--db", str(db), *args), "does not exist")
    assert not (folder / "no").exists()
