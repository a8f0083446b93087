"""Files touchlog writes for a user (exports, audit exports, checkpoints, rejects files):
never over the log or the file being read, never over an existing file without --force,
owner-only, and a write error is a clear message that leaves nothing half-written behind
(docs/cli.md "Files touchlog writes").

A full disk is real, not simulated in Python: the command runs under RLIMIT_FSIZE, so the
kernel refuses its writes past a size with EFBIG ("File too large"), deterministically.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import stat
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.conftest import assert_clear_error
from tests.stored_contacts import logged_states

# 400 customers of one contact and BIG of 200: every file written below is over LIMIT.
CSV = ("customer,occurred_at,channel,summary,rating\n"
       + "".join(f"{f'C{i:03d}' if i < 400 else 'BIG'},2018-01-{i % 28 + 1:02d},phone,"
                 f"row {i} {'x' * 300},{i % 5 + 1}\n" for i in range(600))
       + "BAD,2018-01-05,phone,bad rating,9\n")
CONTACTS = 600
# Writes past LIMIT bytes fail; reading a SQLite log in WAL mode needs its 32 KiB -shm file.
LIMIT = 40_000


def file_size_limit(size: int) -> Callable[[], None]:
    """For ``preexec_fn``: the child's writes past ``size`` bytes fail with EFBIG."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


@pytest.fixture
def logged(tmp_path: Path, touchlog: Any) -> Path:
    """A SQLite log of CONTACTS contacts, its projections caught up."""
    db = tmp_path / "touchlog.db"
    data = tmp_path / "in.csv"
    data.write_text(CSV)
    result = touchlog("--db", str(db), "import", str(data))
    assert result.returncode == 1 and "1 row(s) rejected" in result.stderr, result.stderr
    return db


def leftovers(folder: Path, *known: str) -> list[str]:
    """Names in ``folder`` other than ``known`` and the log's own files."""
    return sorted(p.name for p in folder.iterdir()
                  if p.name not in known and not p.name.startswith(("touchlog.db", "in.csv")))


def test_an_export_never_overwrites_the_event_or_reporting_database_or_the_input(
        tmp_path: Path, logged: Path, touchlog: Any, figures: Counter[str]) -> None:
    reporting = tmp_path / "reports.db"
    env = {"TOUCHLOG_REPORTING_DB": str(reporting)}
    assert touchlog("--db", str(logged), "projections", "run", env=env).returncode == 0
    os.link(logged, tmp_path / "hardlink.db")
    (tmp_path / "symlink.db").symlink_to(logged)
    before = {p: p.read_bytes() for p in (logged, reporting)}
    for target, what in [(logged, "event database"), (reporting, "reporting database"),
                         (tmp_path / "hardlink.db", "event database"),
                         (tmp_path / "symlink.db", "event database"),
                         (Path(f"{logged}-wal"), "event database")]:
        for force in ([], ["--force"]):
            result = touchlog("--db", str(logged), "export", "contacts", "--format", "csv",
                              "-o", str(target), *force, env=env)
            assert_clear_error(result, str(target), what)
            figures["safe files: protected targets refused"] += 1
    assert {p: p.read_bytes() for p in before} == before
    assert not Path(f"{logged}-wal.meta.json").exists()
    assert len(logged_states(str(logged))) == CONTACTS


def test_a_rejects_file_never_overwrites_the_file_being_imported_or_the_log(
        tmp_path: Path, logged: Path, touchlog: Any, figures: Counter[str]) -> None:
    data = tmp_path / "in.csv"
    (tmp_path / "linked.csv").symlink_to(data)
    for target, what in [(data, "file being imported"), (tmp_path / "linked.csv",
                         "file being imported"), (logged, "event database")]:
        for force in ([], ["--force"]):
            result = touchlog("--db", str(logged), "import", str(data), "--rejects",
                              str(target), *force)
            assert_clear_error(result, str(target), what)
            figures["safe files: protected targets refused"] += 1
    assert data.read_text() == CSV
    assert len(logged_states(str(logged))) == CONTACTS


def test_an_existing_file_is_replaced_only_with_force(
        tmp_path: Path, logged: Path, touchlog: Any) -> None:
    out, rejects = tmp_path / "contacts.csv", tmp_path / "rejected.csv"
    out.write_text("keep me\n")
    rejects.write_text("keep me too\n")
    export = ["--db", str(logged), "export", "contacts", "--format", "csv", "-o", str(out)]
    assert_clear_error(touchlog(*export), str(out), "--force")
    assert out.read_text() == "keep me\n" and not Path(f"{out}.meta.json").exists()
    imported = ["--db", str(logged), "import", str(tmp_path / "in.csv"), "--rejects",
                str(rejects)]
    assert_clear_error(touchlog(*imported), str(rejects), "--force")
    assert rejects.read_text() == "keep me too\n"

    assert touchlog(*export, "--force").returncode == 0
    assert len(list(csv.reader(out.open()))) == CONTACTS + 1
    assert json.loads(Path(f"{out}.meta.json").read_text())["rows"] == CONTACTS
    Path(f"{out}.meta.json").write_text("{}")  # the meta file alone is protected too
    out.unlink()
    assert_clear_error(touchlog(*export), f"{out}.meta.json", "--force")
    result = touchlog(*imported, "--force")
    assert result.returncode == 1 and "1 row(s) rejected" in result.stderr
    assert [r["reason"] for r in csv.DictReader(rejects.open())] == [
        "expected a whole number from 1 to 5 (got '9')"]


def test_written_files_are_readable_by_their_owner_only(
        tmp_path: Path, logged: Path, touchlog: Any, figures: Counter[str]) -> None:
    runs = [["export", "contacts", "--format", "csv", "-o", "contacts.csv"],
            ["export", "archive", "--format", "jsonl", "-o", "archive.jsonl"],
            ["export", "followups", "--format", "parquet", "-o", "followups.parquet"],
            ["audit", "BIG", "--export", "audit"],
            ["verify", "--checkpoint", "heads.json"],
            ["import", "in.csv", "--rejects", "rejected.csv", "--force"]]
    for args in runs:
        result = touchlog("--db", str(logged), *args, cwd=tmp_path, umask=0o022)
        assert "Traceback" not in result.stderr, result.stderr
    written = [tmp_path / name for name in (
        "contacts.csv", "contacts.csv.meta.json", "archive.jsonl", "archive.jsonl.meta.json",
        "followups.parquet", "followups.parquet.meta.json", "audit/events.jsonl",
        "audit/manifest.json", "heads.json", "rejected.csv")]
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    figures["data protection: written files checked 0600"] += len(written)


@pytest.mark.parametrize("args, target", [
    (["export", "contacts", "--format", "csv", "-o", "{out}"], "{out}"),
    (["export", "contacts", "--format", "jsonl", "-o", "{out}"], "{out}"),
    (["audit", "BIG", "--export", "{out}"], "{out}/events.jsonl"),
    (["verify", "--checkpoint", "{out}"], "{out}"),
    (["import", "{data}", "--rejects", "{out}"], "{out}"),
], ids=["export-csv", "export-jsonl", "audit-export", "checkpoint", "rejects"])
def test_a_full_disk_is_a_clear_error_and_leaves_no_file_behind(
        tmp_path: Path, logged: Path, touchlog: Any, args: list[str], target: str,
        figures: Counter[str]) -> None:
    out = tmp_path / "out" / "file"
    out.parent.mkdir()
    rejects = tmp_path / "many-bad.csv"  # 2,000 rejected rows: a rejects file over the limit
    rejects.write_text("customer,occurred_at,channel,rating\n"
                       + "".join(f"C{i},2018-01-05,phone,9\n" for i in range(2_000)))
    filled = [a.format(out=out, data=rejects) for a in args]
    result = touchlog("--db", str(logged), *filled, preexec_fn=file_size_limit(LIMIT))
    if args[0] == "import":  # the rejections come first on stderr, then the error
        result.stderr = result.stderr[result.stderr.index("Error: "):]
    assert_clear_error(result, target.format(out=out), "File too large")
    assert list(out.parent.rglob("*")) in ([], [out]) and not out.is_file(), \
        list(out.parent.rglob("*"))
    assert leftovers(tmp_path, "out", "many-bad.csv") == []
    figures["safe files: write errors reported cleanly"] += 1


@pytest.mark.parametrize("args", [
    ["export", "contacts", "--format", "csv", "-o", "{out}"],
    ["audit", "BIG", "--export", "{out}"],
    ["verify", "--checkpoint", "{out}"],
    ["import", "{data}", "--rejects", "{out}"],
], ids=["export", "audit-export", "checkpoint", "rejects"])
@pytest.mark.parametrize("out", ["{tmp}/missing/folder/file", "/dev/full"],
                         ids=["missing-folder", "dev-full"])
def test_an_unwritable_target_is_a_clear_error(
        tmp_path: Path, logged: Path, touchlog: Any, args: list[str], out: str,
        figures: Counter[str]) -> None:
    target = out.format(tmp=tmp_path)
    filled = [a.format(out=target, data=tmp_path / "in.csv") for a in args]
    for force in ([], ["--force"]) if args[0] != "verify" else ([],):
        result = touchlog("--db", str(logged), *filled, *force)
        assert_clear_error(result, target)
        figures["safe files: write errors reported cleanly"] += 1
    assert not (tmp_path / "missing").exists()
    assert leftovers(tmp_path) == []


def test_a_full_disk_while_spooling_an_import_is_a_clear_error_and_records_nothing(
        tmp_path: Path, logged: Path, touchlog: Any, figures: Counter[str]) -> None:
    big = tmp_path / "big.csv"  # rows much larger in the spool than the 60 KB limit allows
    big.write_text("customer,occurred_at,channel,summary\n"
                   + "".join(f"N{i},2019-01-05,phone,{'x' * 900}\n" for i in range(300)))
    result = touchlog("--db", str(logged), "import", str(big),
                      preexec_fn=file_size_limit(60_000))
    assert_clear_error(result, "File too large")
    assert len(logged_states(str(logged))) == CONTACTS
    assert leftovers(tmp_path, "big.csv") == []
    figures["safe files: write errors reported cleanly"] += 1
