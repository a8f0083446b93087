"""kill -9 of ``touchlog import`` at many points of one run, then the checks after each kill.

The stronger, multi-point form of tests/integration/test_import_kill.py: one deterministic
file is imported again and again, each run killed further along (the first during start-up
and validation, the others at rising numbers of recorded rows plus a seeded random delay, so
kills land inside batches as well as between them). After every kill:
- the log holds a whole number of batches: exactly the first k batches of the import order
  (customer, occurred_at, line), never part of one;
- the projections, caught up by ``touchlog projections run``, equal a clean rebuild;
and the last run finishes with every row present exactly once.
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.stored_contacts import logged_so_far, logged_states
from touchlog.domain.application import TouchpointLog
from touchlog.domain.settings import Settings
from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.engine.runner import Projector

TOUCHLOG = [sys.executable, "-c", "from touchlog.cli.main import main; main()"]
CUSTOMERS = 397
SEED = 7
# (rows, rows per batch, kills tried); at least 10 kills must land, a run that finished
# before its kill is not counted.
CI_RUN = (1_500, 30, 12)
LONG_RUN = (12_000, 100, 30)


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


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def batch_prefixes(rows: list[dict[str, str]], batch: int) -> list[Counter[str]]:
    """What the log may hold after a kill: the summaries of the first k batches, k = 0…"""
    order = sorted(range(len(rows)), key=lambda i: (rows[i]["customer"],
                                                    rows[i]["occurred_at"], i))
    prefixes = [Counter[str]()]
    for start in range(0, len(order), batch):
        prefixes.append(prefixes[-1] + Counter(rows[i]["summary"]
                                               for i in order[start:start + batch]))
    return prefixes


def logged(db: Path) -> tuple[Counter[str], int]:
    """(summaries of the ContactLogged events, distinct contact ids) in the store."""
    states = logged_states(db)
    return Counter(s["summary"] for s in states), len({s["contact_id"] for s in states})


def projections_match_a_clean_rebuild(db: Path, scratch: Path) -> dict[str, Any]:
    """Catches the event database's own projections up and compares them with a rebuild."""
    with TouchpointLog(Settings(db=str(db)), create=False) as log:
        incremental = Projector(log)
        clean = Projector(log, db=ReportingDB(str(scratch)))
        try:
            incremental.catch_up()
            clean.rebuild()
            caught_up = incremental.snapshot()
            assert caught_up == clean.snapshot()
            head = log.recorder.max_notification_id()
            assert set(incremental.db.positions().values()) == {head}
            return caught_up
        finally:
            incremental.close()
            clean.close()
            scratch.unlink()


@pytest.mark.parametrize("size", [
    pytest.param(CI_RUN, id="ci"),
    pytest.param(LONG_RUN, id="long", marks=pytest.mark.slow),
])
def test_an_import_killed_at_many_points_keeps_whole_batches_and_finishes_exactly_once(
        size: tuple[int, int, int], tmp_path: Path, touchlog: Any,
        figures: Counter[str], sigkill: Any) -> None:
    rows_count, batch, tries = size
    rows = generated_rows(rows_count)
    data, db = tmp_path / "contacts.csv", tmp_path / "touchlog.db"
    write_csv(data, rows)
    prefixes = batch_prefixes(rows, batch)
    args = ["--db", str(db), "import", str(data), "--batch-size", str(batch), "--format", "json"]
    rng = random.Random(SEED)
    points: list[int] = []
    for k in range(tries):
        # Rising targets over the first three quarters: a run that reached the end before
        # its kill would leave nothing for the later ones to interrupt.
        # Each kill also waits for new rows, so that it lands further than the last one.
        target = max(k * rows_count * 3 // (4 * tries), (points[-1] + 1) if points else 0)
        victim = subprocess.Popen([*TOUCHLOG, *args], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        ready = (lambda: True) if k == 0 else (
            lambda t=target: logged_so_far(db, timeout=0.05) >= t)
        if not sigkill(victim, ready, 0.15 if k == 0 else rng.uniform(0, 0.03)):
            continue
        present, distinct = logged(db) if db.exists() else (Counter[str](), 0)
        points.append(sum(present.values()))
        assert present in prefixes, f"kill {k}: the log holds part of a batch"
        assert distinct == sum(present.values()), f"kill {k}: a contact was recorded twice"
        if present:
            projections_match_a_clean_rebuild(db, tmp_path / "clean.db")
    assert len(points) >= 10, f"only {len(points)} kills landed before the import finished"
    assert len(set(points)) >= 8, f"the kills landed at too few distinct points: {points}"

    before = sum(logged(db)[0].values())
    final = touchlog(*args)
    assert final.returncode == 0, final.stderr
    summary = json.loads(final.stdout)
    assert (summary["imported"], summary["duplicates"]) == (rows_count - before, before)
    present, distinct = logged(db)
    assert present == prefixes[-1] and distinct == rows_count  # every row exactly once
    caught = touchlog("--db", str(db), "projections", "run")
    assert caught.returncode == 0, caught.stderr
    archive = projections_match_a_clean_rebuild(db, tmp_path / "clean.db")
    assert sum(r["contacts"] for r in archive["archive_customers"]) == rows_count
    figures["import: kill -9 survived"] += len(points)
    figures["import: rows imported after kills"] += rows_count
    figures["import: rows lost or duplicated"] += abs(distinct - rows_count)
