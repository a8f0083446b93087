"""kill -9 of ``touchlog projections run`` and ``touchlog projections rebuild``, at several points.

tests/integration/test_projection_reliability.py kills one in-process catch-up once; here the
real commands are killed at rising positions and seeded random delays (inside a batch's
transaction, between batches, and for a rebuild after its tables were emptied), and after
every kill a restarted ``touchlog projections run`` must leave tables equal to a clean
rebuild into a separate database.
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from touchlog.domain.application import ContactEntry, TouchpointLog
from touchlog.domain.contact import Contact, FollowUpPlan
from touchlog.domain.settings import Settings
from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.engine.runner import Projector

TOUCHLOG = [sys.executable, "-c", "from touchlog.cli.main import main; main()"]
SEED = 11


def fill(db: str, customers: int = 200, per_customer: int = 20) -> int:
    """A log of contacts with amounts, stage signals and follow-ups; returns its head."""
    stages = ("exploration", "expansion", "commitment", "dissolution", "")
    with TouchpointLog(Settings(db=db)) as log:
        log.log_contacts([
            ContactEntry(f"C{c:03d}", Contact(
                occurred_at=f"2018-{d % 12 + 1:02d}-{c % 28 + 1:02d}T{d:02d}:00",
                channel=("phone", "store", "email")[d % 3], actor="ann", amount=f"{d}.{c % 100}",
                rating=d % 5 + 1, stage_signal=stages[(c + d) % 5] or None),
                FollowUpPlan(due_at=f"2019-01-{d + 1:02d}") if d % 4 == 0 else None)
            for c in range(customers) for d in range(per_customer)])
        return int(log.recorder.max_notification_id() or 0)


def equal_to_a_clean_rebuild(db: str, clean_url: str) -> None:
    with TouchpointLog(Settings(db=db), create=False) as log:
        restarted, clean = Projector(log), Projector(log, db=ReportingDB(clean_url))
        try:
            clean.rebuild()
            assert restarted.snapshot() == clean.snapshot()
        finally:
            restarted.close()
            clean.close()


def lowest_position(db: str) -> int:
    with TouchpointLog(Settings(db=db), create=False) as log:
        projector = Projector(log)
        try:
            return min(projector.db.positions().values())
        finally:
            projector.close()


def killed(args: list[str], db: str, sigkill: Any, ready: Any, delay: float) -> bool:
    victim = subprocess.Popen([*TOUCHLOG, "--db", db, *args], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    return bool(sigkill(victim, ready, delay))


@pytest.fixture(params=[
    pytest.param("sqlite", id="sqlite"),
    # About a minute on a 2-core machine: the long runs only.
    pytest.param("postgres", id="postgres", marks=[pytest.mark.postgres, pytest.mark.slow]),
])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """An event database and a second, empty reporting database of the same kind."""
    if request.param == "postgres":
        import psycopg

        db = str(request.getfixturevalue("pg_db_url"))
        clean = db + "_clean"
        with psycopg.connect(str(request.getfixturevalue("postgres_url")),
                             autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {clean.rsplit('/', 1)[1]}")
        return db, clean
    return str(tmp_path / "touchlog.db"), str(tmp_path / "clean.db")


def test_killed_projection_runs_and_rebuilds_restart_to_a_clean_rebuild(
        stores: tuple[str, str], touchlog: Any, figures: Counter[str],
        sigkill: Any) -> None:
    db_url, clean_url = stores
    head = fill(db_url)
    rng = random.Random(SEED)
    kills = 0
    # Catch-up: killed at start-up, mid first batch, and after some batches committed.
    for ready, delay in [(lambda: True, 0.3), (lambda: True, rng.uniform(0.4, 0.7)),
                         (lambda: lowest_position(db_url) > 0, rng.uniform(0, 0.2)),
                         (lambda: lowest_position(db_url) > 0, rng.uniform(0.2, 0.5))]:
        kills += killed(["projections", "run"], db_url, sigkill, ready, delay)
        restarted = touchlog("--db", db_url, "projections", "run")
        assert restarted.returncode == 0, restarted.stderr
        equal_to_a_clean_rebuild(db_url, clean_url)
    # Rebuild of caught-up tables: killed before, during and after emptying them.
    for ready, delay in [(lambda: True, rng.uniform(0.2, 0.5)),
                         (lambda: lowest_position(db_url) == 0, 0),
                         (lambda: lowest_position(db_url) == 0, rng.uniform(0.1, 0.4)),
                         (lambda: 0 < lowest_position(db_url) < head, 0)]:
        kills += killed(["projections", "rebuild"], db_url, sigkill, ready, delay)
        restarted = touchlog("--db", db_url, "projections", "run")
        assert restarted.returncode == 0, restarted.stderr
        equal_to_a_clean_rebuild(db_url, clean_url)
        assert lowest_position(db_url) == head
    # On a busy machine a command may finish before its kill; the restart checks still ran.
    assert kills >= 4, f"only {kills} of 8 kills landed before the command finished"
    figures["projections: kill -9 survived"] += kills
    figures["projections: events per log"] = head
