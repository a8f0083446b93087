"""A database that is read-only, locked by another writer past the timeout, or missing.

Every command is run as a real process: a clear "Error: …" on stderr, exit code 1, no
traceback, and afterwards the database holds exactly what it held before.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.reliability.crashes import TOUCHLOG
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
         ["customer", "show", "ACME"], ["stage", "history", "ACME"], ["verify"],
         ["audit", "ACME", "--as-of", "2018-02-01"], ["audit", "ACME", "--export", "{out}"],
         ["export", "archive", "--format", "csv", "-o", "{out}.csv"]]


def contents(db: Path) -> str:
    """A digest of every row of every table (events and projections)."""
    digest = hashlib.sha256()
    # Closed after (the last connection removes the -wal and -shm files it used), so that
    # the permissions the tests set are the only thing deciding what others may do.
    with closing(sqlite3.connect(db)) as conn:
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
    """A folder of its own, whose modes the test changes."""
    path = Path(tempfile.mkdtemp(prefix="touchlog-rel-"))
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


def unprivileged() -> dict[str, Any]:
    """Permissions do not stop root: as root, the commands run without the capabilities
    that pass over them (``touchlog(..., **unprivileged())``)."""
    return {"permissions_apply": True} if os.geteuid() == 0 else {}


def outputs(folder: Path) -> Iterator[Path]:
    """Fresh names for the files and folders reads write (exports), in a folder of their own."""
    scratch = Path(tempfile.mkdtemp(prefix="touchlog-out-"))
    try:
        yield from (scratch / f"out-{n}" for n in range(1000))
    finally:
        for p in sorted(scratch.rglob("*"), reverse=True):
            p.rmdir() if p.is_dir() else p.unlink()
        scratch.rmdir()


@pytest.mark.parametrize("file_mode,dir_mode,writes", [
    (0o444, 0o555, WRITES), (0o444, 0o755, WRITES[:1]), (0o644, 0o555, WRITES[:1]),
], ids=["file-and-folder", "file", "folder"])
def test_a_read_only_database_can_be_read_and_refuses_writes_clearly(
        file_mode: int, dir_mode: int, writes: list[list[str]], folder: Path, touchlog: Any,
        clear_error: Callable[..., None], figures: Counter[str]) -> None:
    db = seeded(folder, touchlog)
    before = contents(db)
    user = unprivileged()
    db.chmod(file_mode)
    folder.chmod(dir_mode)
    names = outputs(folder)
    try:
        for args in commands(writes, Path(tempfile.gettempdir())):
            result = touchlog("--db", str(db), *args, cwd="/", **user)
            clear_error(result, str(db))
            figures["unavailable database: commands refused cleanly"] += 1
        for args in READS:
            out = next(names)
            args = [a.replace("{out}", str(out)) for a in args]
            shown = [] if args[0] == "export" else ["--format", "json"]  # export writes a file
            result = touchlog("--db", str(db), *args, *shown, cwd="/", **user)
            assert result.returncode == 0, (args, result.stderr)
            assert json.loads(result.stdout) if shown else out.with_suffix(".csv").exists()
            figures["read-only database: reads served"] += 1
    finally:
        names.close()
        folder.chmod(0o755)
        db.chmod(0o644)
    assert contents(db) == before


def test_a_read_only_folder_whose_log_has_committed_changes_in_its_wal_shows_them(
        folder: Path, touchlog: Any, clear_error: Callable[..., None]) -> None:
    db = seeded(folder, touchlog)
    keeper = sqlite3.connect(db)  # while it is open, the last writer leaves its WAL behind
    keeper.execute("SELECT count(*) FROM sqlite_master").fetchall()
    try:
        log = touchlog("--db", str(db), "contact", "log", "BOB", "--channel", "phone", "--at",
                       "2018-01-06")
        assert log.returncode == 0, log.stderr
        copy = folder / "copy"
        copy.mkdir()
        for suffix in ("", "-wal", "-shm"):
            (copy / f"touchlog.db{suffix}").write_bytes(Path(f"{db}{suffix}").read_bytes())
    finally:
        keeper.close()
    assert (copy / "touchlog.db-wal").stat().st_size > 0  # BOB is only in the WAL
    user = unprivileged()
    for p in copy.iterdir():
        p.chmod(0o444)
    copy.chmod(0o555)
    try:
        result = touchlog("--db", str(copy / "touchlog.db"), "timeline", "BOB", cwd="/", **user)
        assert result.returncode == 0 and "phone" in result.stdout, result.stderr
        (copy / "touchlog.db-shm").chmod(0o644)
        copy.chmod(0o755)
        (copy / "touchlog.db-shm").unlink()  # without it, the WAL cannot be read here
        copy.chmod(0o555)
        result = touchlog("--db", str(copy / "touchlog.db"), "timeline", "BOB", cwd="/", **user)
        clear_error(result, "touchlog.db-wal")
    finally:
        copy.chmod(0o755)


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
            assert waited >= 1, f"{args}: gave up after {waited:.1f} s, before the 1 s timeout"
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


@pytest.mark.parametrize("value", ["events=lots", "events=0", "batch=5000", "events"])
def test_a_bad_batching_setting_is_a_clear_error_before_anything_is_written(
        folder: Path, touchlog: Any, clear_error: Callable[..., None], value: str) -> None:
    db = folder / "t.db"
    assert touchlog("--db", str(db), *WRITES[0]).returncode == 0
    before = contents(db)
    for args in (WRITES[0], ["projections", "run"], READS[0]):
        clear_error(touchlog("--db", str(db), *args, env={"TOUCHLOG_BATCHING": value}),
                    "TOUCHLOG_BATCHING", "events, alongside")
    assert contents(db) == before


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


def test_reports_of_a_read_only_log_whose_projections_are_behind_go_to_another_database(
        folder: Path, touchlog: Any, clear_error: Callable[..., None]) -> None:
    db = seeded(folder, touchlog)
    assert touchlog("--db", str(db), *WRITES[0]).returncode == 0  # not projected yet
    user = unprivileged()
    db.chmod(0o444)
    folder.chmod(0o555)
    reports = Path(tempfile.mkdtemp(prefix="touchlog-reports-"))
    try:
        result = touchlog("--db", str(db), "archive", cwd="/", **user)
        clear_error(result, "TOUCHLOG_REPORTING_DB")
        result = touchlog("--db", str(db), "archive", "--format", "json", cwd="/", **user,
                          env={"TOUCHLOG_REPORTING_DB": str(reports / "reports.db")})
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)[0]["contacts"] == 2
    finally:
        folder.chmod(0o755)
        db.chmod(0o644)
        for p in reports.iterdir():
            p.unlink()
        reports.rmdir()


def test_a_log_on_a_read_only_file_system_can_be_read_and_refuses_writes_clearly(
        folder: Path, touchlog: Any, clear_error: Callable[..., None]) -> None:
    db = seeded(folder, touchlog)
    before = contents(db)
    # A read-only bind mount of the folder, in a mount namespace of the command's own.
    mount = ["unshare", "-m", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"',
             str(folder), *TOUCHLOG, "--db", str(db)]
    probe = subprocess.run(mount[:5] + [str(folder), "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"no read-only bind mount here: {probe.stderr.decode().strip()}")
    for args in READS[:2] + READS[6:8]:
        result = subprocess.run([*mount, *args, "--format", "json"], capture_output=True,
                                text=True, check=False)
        assert result.returncode == 0 and json.loads(result.stdout), (args, result.stderr)
    for args in commands(WRITES, Path(tempfile.gettempdir())):
        result = subprocess.run([*mount, *args], capture_output=True, text=True, check=False)
        clear_error(result, str(db))
    assert contents(db) == before


IMPORTED_ROWS, IMPORT_BATCH = 30, 10
SECOND_LOAD = "SELECT originator_id,"  # the second batch's load: where its statements begin
# Where the server ends every connection of the import: the first statement with this head
# from the second batch's load on (its load, transaction, insert and commit), then the
# projections' catch-up at the end of the import.
LOST_AT = [SECOND_LOAD, "BEGIN", 'COPY "public"."touchlog_events"', "COMMIT",
           "UPDATE projection_tracking", "INSERT INTO archive_customers"]


@pytest.mark.postgres
@pytest.mark.parametrize("statement", LOST_AT, ids=[s.split()[-1].strip('",.') for s in LOST_AT])
def test_an_import_whose_connections_are_ended_midway_reconnects_and_records_every_row(
        statement: str, postgres_url: str, tmp_path: Path, touchlog: Any,
        figures: Counter[str]) -> None:
    from tests.reliability.crashes import COMMAND, traced
    from tests.reliability.databases import Databases
    from touchlog.domain.storage.faults import ENV

    databases = Databases(tmp_path, postgres_url)
    try:
        rows = tmp_path / "contacts.csv"
        rows.write_text("customer,occurred_at,channel\n" + "".join(
            f"C{n:02d},2018-01-{n % 28 + 1:02d},phone\n" for n in range(IMPORTED_ROWS)))
        args = ["import", str(rows), "--batch-size", str(IMPORT_BATCH), "--format", "json"]
        trace = traced(["--db", databases.new(), *args], COMMAND, tmp_path)
        second = [p.number for p in trace if p.statement == SECOND_LOAD][1]
        point = next(p for p in trace if p.statement == statement and p.number >= second)
        db, marker = databases.new(), tmp_path / "disconnected"
        result = touchlog("--db", db, *args,
                          env={ENV: f"disconnect={point.number},marker={marker}"})
        assert marker.read_text().split("\t")[0] == str(point.number)  # it landed
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["imported"] == IMPORTED_ROWS
        assert "reconnected" in result.stderr, result.stderr
        again = touchlog("--db", db, *args)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["duplicates"] == IMPORTED_ROWS  # each recorded once
        archive = touchlog("--db", db, "archive", "--format", "json")
        assert len(json.loads(archive.stdout)) == IMPORTED_ROWS, archive.stderr
        figures["lost connections survived by an import"] += 1
    finally:
        databases.discard_all()


@pytest.mark.parametrize("locked_after,reporting", [(1, False), (3, True)],
                         ids=["second-batch", "reporting-tables-at-the-end"])
def test_an_import_stopped_by_a_database_error_says_exactly_what_is_left(
        locked_after: int, reporting: bool, folder: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer takes the lock (of the log, or of the separate reporting database)
    once ``locked_after`` batches are recorded; the error names what was recorded."""
    from touchlog.domain.application import TouchpointLog
    from touchlog.domain.errors import StoreError
    from touchlog.domain.importing import import_file
    from touchlog.domain.settings import Settings
    from touchlog.projections.engine.runner import REPORTING_DB_ENV, following_import

    db, reports = folder / "touchlog.db", folder / "reports.db"
    monkeypatch.setenv(REPORTING_DB_ENV, str(reports))
    monkeypatch.setenv("TOUCHLOG_LOCK_TIMEOUT", "1")
    rows = folder / "contacts.csv"
    rows.write_text("customer,occurred_at,channel\n" + "".join(
        f"C{n:02d},2018-01-{n % 28 + 1:02d},phone\n" for n in range(IMPORTED_ROWS)))
    other = sqlite3.connect(reports if reporting else db, isolation_level=None)
    batches = []

    def lock_after(done: int, total: int) -> None:
        batches.append(done)
        if len(batches) == locked_after:
            other.execute("BEGIN IMMEDIATE")  # another writer, from now on

    with TouchpointLog(Settings(db=str(db))) as log:
        with pytest.raises(StoreError) as refused:
            import_file(log, rows, batch_size=IMPORT_BATCH, progress=lock_after,
                        recording=following_import)
    other.execute("ROLLBACK")
    other.close()
    message = str(refused.value)
    assert "locked" in message
    if reporting:
        assert message.endswith(f"all {IMPORTED_ROWS} rows were recorded, but the reporting "
                                "tables were not brought up to date ('touchlog projections "
                                "run' does it)"), message
        return
    assert message.endswith(f"10 of {IMPORTED_ROWS} rows were recorded (10 new, 0 already "
                            "there) and 20 were not; importing the same file again records "
                            "those and skips the rest"), message
    with TouchpointLog(Settings(db=str(db))) as log:
        again = import_file(log, rows, batch_size=IMPORT_BATCH)
    assert (again.imported, again.duplicates) == (20, 10)
