"""Kill points for the crash tests, placed at chosen SQL statements (docs/reliability.md).

A traced run of a command lists, numbered, the statements one of its processes runs; a run
with ``TOUCHLOG_FAULTS`` (touchlog/domain/storage/faults.py) makes that process SIGKILL
itself right before the chosen one. From the same starting database a command runs the
same statements, so every kill lands where it is aimed, however fast the machine.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.process_groups import wait_for_group
from touchlog.domain.application import TouchpointLog
from touchlog.domain.settings import Settings
from touchlog.domain.storage.faults import ENV
from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.engine.runner import Projector

TOUCHLOG = [sys.executable, "-c", "from touchlog.cli.main import main; main()"]
COMMAND = "MainProcess"  # the process of the command itself
TIMEOUT = 300
EDGES = ("BEGIN", "COMMIT", "ROLLBACK", "UPDATE projection_tracking")

Snapshot = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class Point:
    """One statement of one process of a command, numbered as a traced run numbered it."""

    process: str
    number: int
    statement: str  # its first words: "BEGIN", "INSERT INTO stored_events", …

    @property
    def edge(self) -> bool:
        """A transaction's edge or a projection's position update."""
        return self.statement.startswith(EDGES)


def traced(args: list[str], process: str, scratch: Path, *,
           exit_code: int = 0) -> list[Point]:
    """Runs ``touchlog ARGS…`` to its end (with ``exit_code``: 1 for an import that rejects
    a row); the statements ``process`` ran."""
    path = scratch / f"trace-{process}"
    path.unlink(missing_ok=True)
    done = subprocess.run([*TOUCHLOG, *args], capture_output=True, text=True, timeout=TIMEOUT,
                          env={**os.environ, ENV: f"process={process},trace={path}"},
                          check=False)
    assert done.returncode == exit_code, done.stderr
    return [_point(process, line) for line in path.read_text().splitlines()]


def kill_points(trace: list[Point], *, inside: int, seed: int,
                upto: int | None = None) -> list[Point]:
    """The first statement, every edge, and ``inside`` statements drawn at random among
    those inside transactions, of the trace's statements up to number ``upto``."""
    reached = [p for p in trace if upto is None or p.number <= upto]
    within, in_transaction = [], False
    for point in reached:
        if point.edge:
            in_transaction = point.statement.startswith("BEGIN") or (
                in_transaction and not point.statement.startswith(("COMMIT", "ROLLBACK")))
        elif in_transaction:
            within.append(point)
    drawn = random.Random(seed).sample(within, min(inside, len(within)))
    return sorted({reached[0], *(p for p in reached if p.edge), *drawn}, key=_number)


def appends_events(point: Point) -> bool:
    """Whether the statement appends events: an insert on SQLite, a COPY on PostgreSQL."""
    return point.statement.startswith(("INSERT INTO", "COPY")) and "events" in point.statement


def batch_commits(trace: list[Point]) -> list[Point]:
    """The COMMITs of the transactions that recorded events, in order."""
    commits, recording = [], False
    for point in trace:
        if appends_events(point):
            recording = True
        elif point.statement == "COMMIT" and recording:
            commits.append(point)
            recording = False
    return commits


def sample(points: list[Point], count: int, seed: int) -> list[Point]:
    """``count`` of the points drawn by ``seed``, about half of them edges."""
    rng = random.Random(seed)
    edges = [p for p in points if p.edge]
    others = [p for p in points if not p.edge]
    wanted = min(len(edges), count // 2 + (count % 2) * rng.randrange(2))
    chosen = rng.sample(edges, wanted)
    chosen += rng.sample(others, min(len(others), count - len(chosen)))
    return sorted(chosen, key=_number)


def killed(args: list[str], point: Point, scratch: Path,
           *, group: bool = False) -> subprocess.CompletedProcess[str]:
    """Runs ``touchlog ARGS…`` with a SIGKILL of ``point``'s process (of its whole process
    group with ``group``) right before ``point``; returns when every process of the command
    has ended. Asserts that the kill landed at that very statement."""
    marker = scratch / "killed"
    marker.unlink(missing_ok=True)
    plan = f"process={point.process},kill={point.number},marker={marker}"
    victim = subprocess.Popen([*TOUCHLOG, *args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True,
                              env={**os.environ, ENV: plan + (",group=1" if group else "")})
    out, err = victim.communicate(timeout=TIMEOUT)
    wait_for_group(victim.pid, TIMEOUT)  # a killed command's helper ends within one batch
    assert marker.exists(), f"the run ended without reaching {point}: {err}"
    assert _point(point.process, marker.read_text()) == point
    if group or point.process == COMMAND:
        assert victim.returncode == -signal.SIGKILL, err
    return subprocess.CompletedProcess(victim.args, victim.returncode, out, err)


def projected(db: str, *, catch_up: bool = False) -> Snapshot:
    """The projection tables of ``db`` (caught up first, if asked), which must be at the
    log's head."""
    with TouchpointLog(Settings(db=db), create=False) as log:
        projector = Projector(log)
        try:
            if catch_up:
                projector.catch_up()
            assert set(projector.db.positions().values()) == {
                log.recorder.max_notification_id() or 0}
            return projector.snapshot()
        finally:
            projector.close()


def rebuilt(db: str, clean: str) -> Snapshot:
    """The projection tables a rebuild of ``db``'s log makes in the database ``clean``."""
    with TouchpointLog(Settings(db=db), create=False) as log:
        projector = Projector(log, db=ReportingDB(clean))
        try:
            projector.rebuild()
            return projector.snapshot()
        finally:
            projector.close()


def _point(process: str, line: str) -> Point:
    number, _database, statement = line.rstrip("\n").split("\t")
    return Point(process, int(number), statement)


def _number(point: Point) -> int:
    return point.number
