"""kill -9 of ``touchlog import`` at chosen statements: of the import itself, and of the
projection follower that runs beside a long import (docs/reliability.md "Crashes").

Each kill point is a statement of a traced run of the same import into the same starting
database (tests/reliability/crashes.py), so every kill lands. After a kill of the import:
- the log holds whole batches only: exactly the first k batches of the import order
  (customer, occurred_at, line), and no contact twice;
- the projections, caught up, equal a clean rebuild;
- the import run again reports the rest as imported and the earlier rows as duplicates;
  every row is then present exactly once, and the projections equal a clean rebuild at the
  log's head.
A follower killed alone leaves the import to finish by itself, exactly once.
"""

from __future__ import annotations

import csv
import json
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.crashes import (
    COMMAND,
    Point,
    appends_events,
    kill_points,
    killed,
    projected,
    rebuilt,
    traced,
)
from tests.reliability.databases import Databases, fill
from tests.stored_contacts import logged_states
from touchlog.projections.engine.batching import BATCHING_ENV, batching
from touchlog.projections.engine.processes import FOLLOWER
from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.engine.runner import projections

CUSTOMERS = 397
SEED = 7
# The module runs with small batches (``TOUCHLOG_BATCHING``), so that a 1,000-row import is
# followed as the defaults follow one of 10,000: ``alongside`` where the follower shares the
# log's SQLite file, ``events`` on PostgreSQL (runner.follower_batch).
BATCHING = "alongside=500,events=500,follow_imports_from=1000"
ROWS, BATCH = 900, 30  # below follow_imports_from: the import runs alone
# From follow_imports_from rows a follower runs beside the import. The log it starts from
# holds 650 events that nobody projected, so the follower's first step is always one whole
# batch (500) of those, whatever the import has recorded by then; the step
# is always completed, as the follower looks at the request to stop only between steps. Its
# statements are therefore the same in every run up to the end of that batch, and only
# those are kill points. After it, how much it reads depends on how far the import has got.
FOLLOWED_ROWS, FOLLOWED_BATCH, FILLED_CUSTOMERS = 1_000, 20, 25


@pytest.fixture(scope="module", autouse=True)
def small_batches() -> Iterator[None]:
    """``BATCHING`` for every command of the module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(BATCHING_ENV, BATCHING)
        assert ROWS < batching().follow_imports_from <= FOLLOWED_ROWS
        yield


def generated_rows(count: int) -> list[dict[str, str]]:
    """Rows with stage signals and follow-ups; every 7th row repeats the one before."""
    rows: list[dict[str, str]] = []
    for i in range(count):
        n = i - 1 if i % 7 == 0 and i else i
        day = f"2018-{n % 12 + 1:02d}-{n % 28 + 1:02d}"
        rows.append({
            "customer": f"C{n % CUSTOMERS:04d}", "occurred_at": f"{day}T{n % 24:02d}:00",
            "channel": ("store", "phone", "email")[n % 3], "actor": "ann",
            "summary": f"row {n}", "amount": f"{n % 50}.{n % 100:02d}",
            "stage": "exploration" if n % 11 == 0 else "",
            "follow_up_due": f"{day}T23:00" if n % 13 == 0 else "",
        })
    return rows


class Import:
    """``touchlog import`` of generated rows in batches, into logs that held ``base`` (the
    summaries of their contacts) before it, and what may be in the log after it."""

    def __init__(self, folder: Path, count: int, batch: int, base: Counter[Any]) -> None:
        self.rows = generated_rows(count)
        self.path = folder / "contacts.csv"
        with self.path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=list(self.rows[0]))
            writer.writeheader()
            writer.writerows(self.rows)
        self.batch = batch
        self.base = base
        rows = self.rows  # in the import order (customer, occurred_at, line), batch by batch:
        self.order = [rows[i]["summary"] for i in sorted(
            range(len(rows)), key=lambda i: (rows[i]["customer"], rows[i]["occurred_at"], i))]

    def args(self, db: str) -> list[str]:
        return ["--db", db, "import", str(self.path), "--batch-size", str(self.batch),
                "--format", "json"]

    def whole_batches(self, db: str) -> int:
        """Asserts the log holds the first k batches and each contact once; returns k's rows."""
        states = logged_states(db)
        present = Counter(s["summary"] for s in states) - self.base
        count = sum(present.values())
        assert count % self.batch == 0 or count == len(self.rows), "part of a batch"
        assert present == Counter(self.order[:count]), "not the first batches"
        assert len({s["contact_id"] for s in states}) == len(states), "a contact twice"
        return count

    def finished(self, run: subprocess.CompletedProcess[str], db: str, before: int,
                 clean: str) -> None:
        """Asserts ``run`` completed the import that found ``before`` rows already logged,
        and left every reporting table and index in place."""
        assert run.returncode == 0, run.stderr
        assert missing_relations(db) == []
        summary = json.loads(run.stdout)
        assert (summary["imported"], summary["duplicates"]) == (len(self.rows) - before, before)
        assert self.whole_batches(db) == len(self.rows)  # every row exactly once
        assert projected(db) == rebuilt(db, clean)  # the import's own catch-up reached the head


def missing_relations(db: str) -> list[str]:
    """The reporting tables, indexes and columns missing from ``db`` (opened without
    creating them)."""
    reporting = ReportingDB(db, create=False)
    try:
        return reporting.missing_relations()
    finally:
        reporting.close()


def resumed(importing: Import, db: str, clean: str, touchlog: Any) -> None:
    """After a kill: whole batches, projections that catch up to a clean rebuild, and a
    second run that completes the import exactly once."""
    before = importing.whole_batches(db)
    if before or importing.base:
        assert projected(db, catch_up=True) == rebuilt(db, clean)
    importing.finished(touchlog(*importing.args(db)), db, before, clean)


def test_an_import_killed_at_any_statement_keeps_whole_batches_and_finishes_exactly_once(
        databases: Databases, tmp_path: Path, touchlog: Any, at_most: Any,
        figures: Counter[str]) -> None:
    importing = Import(tmp_path, ROWS, BATCH, Counter())
    trace = traced(importing.args(databases.new()), COMMAND, tmp_path)
    clean = databases.new()
    for point in at_most(kill_points(trace, inside=20, seed=SEED), 4):
        db = databases.new()
        killed(importing.args(db), point, tmp_path)
        resumed(importing, db, clean, touchlog)
        databases.discard(db)
        figures[f"kill -9 landed, {databases.kind}: import"] += 1


@dataclass(frozen=True)
class Followed:
    """A long import, the log it starts from (650 events projected by nobody), and the kill
    points of its follower."""

    databases: Databases
    importing: Import
    start: str
    points: list[Point]


@pytest.fixture(scope="module")
def followed(module_databases: Databases,
             tmp_path_factory: pytest.TempPathFactory) -> Followed:
    databases, folder = module_databases, tmp_path_factory.mktemp("followed")
    start = databases.new()
    assert fill(start, customers=FILLED_CUSTOMERS) > batching().alongside == batching().events
    base = Counter(s["summary"] for s in logged_states(start))
    importing = Import(folder, FOLLOWED_ROWS, FOLLOWED_BATCH, base)
    trace = traced(importing.args(databases.new(template=start)), FOLLOWER, folder)
    # Nobody projected the log: the follower fills empty tables without the readers'
    # indexes, which the import builds at its end.
    assert not [p for p in trace if p.statement.startswith("CREATE INDEX")]
    return Followed(databases, importing, start, kill_points(
        trace, inside=10, seed=SEED, upto=first_batch_end(trace)))


def test_an_import_into_empty_tables_builds_the_readers_indexes_once_at_its_end(
        followed: Followed, tmp_path: Path) -> None:
    db = followed.databases.new(template=followed.start)
    trace = traced(followed.importing.args(db), COMMAND, tmp_path)
    dropped = [p.number for p in trace if p.statement.startswith("DROP INDEX")]
    made = [p.number for p in trace if p.statement.startswith("CREATE INDEX")]
    recorded = [p.number for p in trace if appends_events(p)]
    first, last = min(recorded), max(recorded)
    assert [n for n in dropped if n < first]  # dropped before the first contact
    assert not [n for n in made if first < n < last]  # and none made meanwhile
    assert [n for n in made if n > last]  # but at the end
    assert missing_relations(db) == []
    followed.databases.discard(db)


def first_batch_end(trace: list[Point]) -> int:
    """The COMMIT ending the follower's first batch: that of its last projection."""
    updates = [p.number for p in trace if p.statement == "UPDATE projection_tracking"]
    last = updates[len(projections()) - 1]
    return next(p.number for p in trace if p.number > last and p.statement == "COMMIT")


def test_an_import_whose_follower_is_killed_finishes_exactly_once_by_itself(
        followed: Followed, tmp_path: Path, at_most: Any, figures: Counter[str]) -> None:
    databases, importing = followed.databases, followed.importing
    clean = databases.new()
    for point in at_most(followed.points, 1):
        db = databases.new(template=followed.start)
        importing.finished(killed(importing.args(db), point, tmp_path), db, 0, clean)
        databases.discard(db)
        figures[f"kill -9 landed, {databases.kind}: import's follower alone"] += 1


def test_an_import_killed_with_its_follower_keeps_whole_batches_and_finishes_exactly_once(
        followed: Followed, tmp_path: Path, touchlog: Any, at_most: Any,
        figures: Counter[str]) -> None:
    databases, importing = followed.databases, followed.importing
    clean = databases.new()
    for point in at_most(followed.points, 1):
        db = databases.new(template=followed.start)
        killed(importing.args(db), point, tmp_path, group=True)
        resumed(importing, db, clean, touchlog)
        databases.discard(db)
        figures[f"kill -9 landed, {databases.kind}: import with its follower"] += 1
