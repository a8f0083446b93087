"""An import batch is one transaction in every path, the batch retry included: a
batch with a row only the stored state can refuse (a follow-up with nobody to own it) is
recorded without that row, still in one transaction (docs/import.md "Bad rows").

A kill inside that batch (at chosen statements, tests/reliability/crashes.py), or a write
error while it is recorded (a real one: the command runs under RLIMIT_FSIZE), leaves whole
batches only; running the import again records the rest exactly once.
"""

from __future__ import annotations

import csv
import json
import resource
from collections import Counter
from pathlib import Path
from typing import Any

from tests.reliability.conftest import assert_clear_error
from tests.reliability.crashes import (
    COMMAND,
    Point,
    batch_commits,
    kill_points,
    killed,
    projected,
    rebuilt,
    traced,
)
from tests.reliability.databases import Databases
from tests.stored_contacts import logged_states

SEED = 11
BATCH = 30
BAD = 40  # the row (in the second batch) whose follow-up nobody can own


def fallback_csv(folder: Path, rows: int = 2 * BATCH, summary: str = "") -> Path:
    """Rows in import order, one customer each; every 5th plans a follow-up, and row BAD
    plans one without an owner or an actor."""
    path = folder / "fallback.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["customer", "occurred_at", "channel", "actor", "summary",
                         "follow_up_due"])
        for i in range(rows):
            writer.writerow([f"F{i:03d}", "2018-02-01T10:00", "phone",
                             "" if i == BAD else "ann", f"row {i}{summary}",
                             "2018-03-01" if i % 5 == 0 or i == BAD else ""])
    return path


def recorded_rows(db: str) -> list[int]:
    """The rows of fallback.csv the log holds, in order; each at most once."""
    numbers = [int(s["summary"].split()[1]) for s in logged_states(db)
               if (s["summary"] or "").startswith("row ")]
    assert len(numbers) == len(set(numbers)), "a contact twice"
    return sorted(numbers)


def whole_batches(db: str, rows: int = 2 * BATCH) -> int:
    """Asserts that the log holds whole batches only (the bad row never); their rows."""
    recorded = recorded_rows(db)
    good = [i for i in range(rows) if i != BAD]
    batches = [[i for i in good if i < end] for end in range(0, rows + 1, BATCH)]
    assert recorded in batches, f"part of a batch: {recorded}"
    return len(recorded)


def in_the_fallback(trace: list[Point]) -> list[Point]:
    """The kill points of the second batch: after the first batch's COMMIT, up to the
    COMMIT that records the second."""
    commits = batch_commits(trace)
    first, last = commits[0].number, commits[-1].number
    return [p for p in kill_points(trace, inside=20, seed=SEED, upto=last) if p.number > first]


def test_an_import_killed_in_its_batch_retry_keeps_whole_batches(
        databases: Databases, tmp_path: Path, touchlog: Any, at_most: Any,
        figures: Counter[str]) -> None:
    args = ["import", str(fallback_csv(tmp_path)), "--batch-size", str(BATCH),
            "--format", "json"]
    points = in_the_fallback(traced(["--db", databases.new(), *args], COMMAND, tmp_path,
                                    exit_code=1))
    clean = databases.new()
    for point in at_most(points, 4):
        db = databases.new()
        killed(["--db", db, *args], point, tmp_path)
        before = whole_batches(db)
        rerun = touchlog("--db", db, *args)
        assert rerun.returncode == 1 and "1 row(s) rejected" in rerun.stderr, rerun.stderr
        summary = json.loads(rerun.stdout)
        assert (summary["imported"], summary["duplicates"], summary["rejected"]) == (
            2 * BATCH - 1 - before, before, 1)
        assert whole_batches(db) == 2 * BATCH - 1
        assert_clear_error(touchlog("--db", db, "customer", "show", f"F{BAD:03d}"),
                           "no customer")  # its only row was refused: never registered
        assert projected(db) == rebuilt(db, clean)
        databases.discard(db)
        figures[f"kill -9 landed, {databases.kind}: import's batch retry"] += 1


def test_a_full_disk_in_the_batch_retry_records_none_of_the_batch(
        tmp_path: Path, touchlog: Any, figures: Counter[str]) -> None:
    db = str(tmp_path / "touchlog.db")
    first = tmp_path / "first.csv"  # makes the log and its tables before the limit applies
    first.write_text("customer,occurred_at,channel\nA,2018-01-05,phone\n")
    assert touchlog("--db", db, "import", str(first)).returncode == 0
    rows = 200  # one batch: written whole, it is far over the limit; one row is far under
    data = fallback_csv(tmp_path, rows=rows)

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000))

    result = touchlog("--db", db, "import", str(data), "--batch-size", str(rows),
                      preexec_fn=limited)
    assert_clear_error(result, db)
    assert recorded_rows(db) == []
    rerun = touchlog("--db", db, "import", str(data), "--batch-size", str(rows),
                     "--format", "json")
    assert json.loads(rerun.stdout)["imported"] == rows - 1, rerun.stderr
    figures["safe files: write errors reported cleanly"] += 1
