"""A killed import leaves whole batches only, and re-running it completes the job exactly once.

The kill lands right before the COMMIT of the import's third batch (found in a traced run
of the same import, tests/reliability/crashes.py), so the log must hold the first two.
"""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

from tests.reliability.crashes import COMMAND, TOUCHLOG, batch_commits, killed, traced
from tests.reliability.databases import Databases
from tests.stored_contacts import logged_states

ROWS = 6_000
BATCH = 200


def write_rows(path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["customer", "occurred_at", "channel", "amount"])
        for i in range(ROWS):  # every 7th row repeats the row before: identical purchases
            n = i - 1 if i % 7 == 0 and i else i
            writer.writerow([f"C{n % 997:04d}", f"2018-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
                             "store", "10.00"])


def contacts(db: str) -> tuple[int, int]:
    """(ContactLogged events, distinct contact ids) in the store."""
    states = logged_states(db)
    return len(states), len({s["contact_id"] for s in states})


def test_an_import_killed_before_its_third_batch_commits_keeps_two_and_a_rerun_adds_the_rest(
        databases: Databases, tmp_path: Path) -> None:
    data = tmp_path / "big.csv"
    write_rows(data)
    options = ["import", str(data), "--batch-size", str(BATCH), "--format", "json"]
    third = batch_commits(traced(["--db", databases.new(), *options], COMMAND, tmp_path))[2]
    db = databases.new()
    killed(["--db", db, *options], third, tmp_path)
    assert contacts(db) == (2 * BATCH, 2 * BATCH)

    rerun = subprocess.run([*TOUCHLOG, "--db", db, *options], capture_output=True, text=True,
                           timeout=120, check=False)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert (summary["duplicates"], summary["imported"]) == (2 * BATCH, ROWS - 2 * BATCH)
    assert contacts(db) == (ROWS, ROWS)
