"""Scratch folders (an import's spool, verify --projections' shadow tables) live beside the
database, owner-only, and what a killed command left there is removed by the next one,
never a folder still in use (docs/import.md "Large files", domain/storage/scratch.py)."""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.crashes import COMMAND, killed, traced
from tests.reliability.test_kill_import import Import
from tests.stored_contacts import logged_states


def ended_pid() -> int:
    """The id of a process that has ended."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def left_behind(folder: Path, kind: str) -> list[str]:
    return sorted(p.name for p in folder.glob(f".touchlog-{kind}-*"))


def test_a_killed_import_leaves_its_spool_beside_the_log_and_the_next_run_removes_it(
        tmp_path: Path, touchlog: Any, figures: Counter[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    importing = Import(tmp_path, 300, 100, Counter())
    db = str(tmp_path / "touchlog.db")
    trace = traced(importing.args(str(tmp_path / "traced.db")), COMMAND, tmp_path)
    first_write = next(p for p in trace if p.statement == "INSERT INTO stored_events")
    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(system_temp))  # for the killed run

    killed(importing.args(db), first_write, tmp_path)
    [spool] = tmp_path.glob(".touchlog-import-*")
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    assert list(system_temp.iterdir()) == []

    run = touchlog(*importing.args(db))
    assert run.returncode == 0, run.stderr
    assert left_behind(tmp_path, "import") == []
    assert len(logged_states(db)) == 300
    figures["scratch folders: left by a kill, removed by the next run"] += 1


def test_a_spool_still_in_use_is_never_removed(tmp_path: Path, touchlog: Any) -> None:
    data = tmp_path / "in.csv"
    data.write_text("customer,occurred_at,channel\nACME,2018-01-05,phone\n")
    running = tmp_path / f".touchlog-import-{os.getpid()}-live"  # this test's process runs
    locked = tmp_path / f".touchlog-import-{ended_pid()}-locked"  # held by this process
    stale = tmp_path / f".touchlog-import-{ended_pid()}-stale"
    for folder in (running, locked, stale):
        folder.mkdir()
        (folder / "rows").write_text("personal data")
        (folder / ".lock").touch()
    lock = os.open(locked / ".lock", os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        run = touchlog("--db", str(tmp_path / "touchlog.db"), "import", str(data))
        assert run.returncode == 0, run.stderr
    finally:
        os.close(lock)
    assert left_behind(tmp_path, "import") == sorted([running.name, locked.name])


def test_verify_projections_removes_a_shadow_folder_a_killed_run_left(
        tmp_path: Path, touchlog: Any, figures: Counter[str]) -> None:
    db = tmp_path / "touchlog.db"
    assert touchlog("--db", str(db), "contact", "log", "ACME", "--channel", "phone",
                    "--at", "2018-01-05").returncode == 0
    stale = tmp_path / f".touchlog-shadow-{ended_pid()}-stale"
    stale.mkdir()
    (stale / "shadow.db").write_text("personal data")
    run = touchlog("--db", str(db), "verify", "--projections")
    assert run.returncode == 0, run.stderr
    assert left_behind(tmp_path, "shadow") == []
    figures["scratch folders: left by a kill, removed by the next run"] += 1
