"""kill -9 of ``touchlog projections run``, of ``touchlog projections rebuild`` and of the
rebuild's helper process, at chosen statements (docs/reliability.md "Crashes").

The log holds 5,200 events and the module runs with small batches (``TOUCHLOG_BATCHING``,
``BATCHING``): a run applies them in three batches, and a rebuild shares its work with a
helper process (from ``parallel_rebuild_from`` events), as the defaults do for logs ten
times as long. Each kill point is a statement of a traced run of the same command on the
same database (tests/reliability/crashes.py); every kill starts from a fresh copy of it.
After a kill, a restarted ``touchlog projections run`` leaves every projection table equal
to a clean rebuild into a separate database, at the log's head; a rebuild whose helper
alone was killed finishes by itself with the same tables.

Nothing else writes the tables while these commands run, so every statement of each process,
the helper's included, comes in the same order in every run: all of them are kill points.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.crashes import (
    COMMAND,
    Point,
    Snapshot,
    kill_points,
    killed,
    projected,
    rebuilt,
    traced,
)
from tests.reliability.databases import Databases, fill
from touchlog.projections.engine.batching import BATCHING_ENV, batching
from touchlog.projections.engine.processes import REBUILD_HELPER

CUSTOMERS = 200  # 26 events each
BATCHING = "events=2000,parallel_rebuild_from=5000"
SEED = 11
RUN, REBUILD = ["projections", "run"], ["projections", "rebuild"]


@dataclass(frozen=True)
class Logs:
    """The same log twice, projected by nobody and caught up by a traced ``projections run``
    (whose kill points come with it), and the tables of a clean rebuild of it."""

    databases: Databases
    unprojected: str
    projected: str
    rebuilt: Snapshot
    run_points: list[Point]


@pytest.fixture(scope="module", autouse=True)
def small_batches() -> Iterator[None]:
    """``BATCHING`` for every command and projector of the module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(BATCHING_ENV, BATCHING)
        yield


@pytest.fixture(scope="module")
def logs(module_databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Logs:
    databases = module_databases
    unprojected = databases.new()
    head = fill(unprojected, customers=CUSTOMERS)
    assert head >= batching().parallel_rebuild_from
    assert head > 2 * batching().events  # three batches
    caught_up = databases.new(template=unprojected)
    trace = traced(["--db", caught_up, *RUN], COMMAND, tmp_path_factory.mktemp("logs"))
    clean = rebuilt(caught_up, databases.new())
    assert projected(caught_up) == clean  # incremental equals rebuilt
    return Logs(databases, unprojected, caught_up, clean,
                kill_points(trace, inside=10, seed=SEED))


def restarted(logs: Logs, db: str, touchlog: Any) -> None:
    """Asserts that a restarted run leaves the tables of a clean rebuild, at the head."""
    restart = touchlog("--db", db, *RUN)
    assert restart.returncode == 0, restart.stderr
    assert projected(db) == logs.rebuilt
    logs.databases.discard(db)


def test_a_projection_run_killed_at_any_statement_restarts_to_a_clean_rebuild(
        logs: Logs, tmp_path: Path, touchlog: Any, at_most: Any,
        figures: Counter[str]) -> None:
    databases = logs.databases
    for point in at_most(logs.run_points, 2):
        db = databases.new(template=logs.unprojected)
        killed(["--db", db, *RUN], point, tmp_path)
        restarted(logs, db, touchlog)
        figures[f"kill -9 landed, {databases.kind}: projections run"] += 1


def test_a_rebuild_killed_at_any_statement_restarts_to_a_clean_rebuild(
        logs: Logs, tmp_path: Path, touchlog: Any, at_most: Any,
        figures: Counter[str]) -> None:
    databases = logs.databases
    trace = traced(["--db", databases.new(template=logs.projected), *REBUILD], COMMAND, tmp_path)
    for point in at_most(kill_points(trace, inside=10, seed=SEED), 2):
        db = databases.new(template=logs.projected)
        killed(["--db", db, *REBUILD], point, tmp_path)
        restarted(logs, db, touchlog)
        figures[f"kill -9 landed, {databases.kind}: projections rebuild"] += 1


@pytest.fixture(scope="module")
def helper_points(logs: Logs, tmp_path_factory: pytest.TempPathFactory) -> list[Point]:
    """The kill points of a rebuild's helper."""
    db = logs.databases.new(template=logs.projected)
    trace = traced(["--db", db, *REBUILD], REBUILD_HELPER, tmp_path_factory.mktemp("helper"))
    return kill_points(trace, inside=10, seed=SEED)


def test_a_rebuild_whose_helper_is_killed_finishes_the_tables_by_itself(
        logs: Logs, helper_points: list[Point], tmp_path: Path, at_most: Any,
        figures: Counter[str]) -> None:
    databases = logs.databases
    for point in at_most(helper_points, 1):
        db = databases.new(template=logs.projected)
        rebuild = killed(["--db", db, *REBUILD], point, tmp_path)
        assert rebuild.returncode == 0, rebuild.stderr
        assert projected(db) == logs.rebuilt
        databases.discard(db)
        figures[f"kill -9 landed, {databases.kind}: rebuild's helper alone"] += 1


def test_a_rebuild_killed_with_its_helper_restarts_to_a_clean_rebuild(
        logs: Logs, helper_points: list[Point], tmp_path: Path, touchlog: Any, at_most: Any,
        figures: Counter[str]) -> None:
    databases = logs.databases
    for point in at_most(helper_points, 1):
        db = databases.new(template=logs.projected)
        killed(["--db", db, *REBUILD], point, tmp_path, group=True)
        restarted(logs, db, touchlog)
        figures[f"kill -9 landed, {databases.kind}: rebuild with its helper"] += 1
