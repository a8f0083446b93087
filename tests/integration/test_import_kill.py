"""A killed import leaves whole batches only, and re-running it completes the job exactly once."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.stored_contacts import logged_so_far, logged_states

ROWS = 6_000
BATCH = 200
MAIN = "from touchlog.cli.main import main; main()"


def write_rows(path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["customer", "occurred_at", "channel", "amount"])
        for i in range(ROWS):  # every 7th row repeats the row before: identical purchases
            n = i - 1 if i % 7 == 0 and i else i
            writer.writerow([f"C{n % 997:04d}", f"2018-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
                             "store", "10.00"])


def contacts(db: Path) -> tuple[int, int]:
    """(ContactLogged events, distinct contact ids) in the store."""
    states = logged_states(db)
    return len(states), len({s["contact_id"] for s in states})


def test_a_killed_import_rerun_records_every_row_exactly_once(tmp_path: Path) -> None:
    data, db = tmp_path / "big.csv", tmp_path / "touchlog.db"
    write_rows(data)
    command = [sys.executable, "-c", MAIN, "--db", str(db), "import", str(data),
               "--batch-size", str(BATCH), "--format", "json"]
    victim = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if db.exists() and logged_so_far(db, timeout=0.1) >= 2 * BATCH:
            break
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL, "the import ended before it could be killed"

    logged, distinct = contacts(db)
    assert 0 < logged < ROWS and logged == distinct
    assert logged % BATCH == 0, "a partial batch was left behind"

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert (summary["duplicates"], summary["imported"]) == (logged, ROWS - logged)
    assert contacts(db) == (ROWS, ROWS)

