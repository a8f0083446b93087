"""Four writer processes on the same 20 customers, with two projection runners at once.

tests/integration/test_store.py checks that concurrent writers lose no contact. This goes
further: the contacts carry stage signals and follow-ups, two projection processes catch up
the same projections while the writers write, and afterwards
- every contact is present exactly once and each customer's versions are 1, 2, 3, … ;
- each customer's stage and open follow-ups equal a replay of its contacts by the
  documented rules (docs/events.md), in the aggregate and in the projection tables;
- the projections equal a clean rebuild (an event applied twice would count twice).
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from touchlog.domain.application import TouchpointLog
from touchlog.domain.customer import Customer
from touchlog.domain.settings import Settings
from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.engine.runner import Projector

WRITERS, CUSTOMERS, CONTACTS_EACH, RUNNERS = 4, 20, 40, 2
SIGNALS = ("exploration", "", "expansion", "commitment", "", "dissolution", "discovery")

WRITER = """
import sys
from touchlog.domain.application import TouchpointLog
from touchlog.domain.contact import Contact, FollowUpPlan
from touchlog.domain.settings import Settings
db, worker, count, customers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
signals = sys.argv[5].split(",")
with TouchpointLog(Settings(db=db)) as log:
    for i in range(count):
        log.log_contact(
            f"C{(i * 7 + worker) % customers}",
            Contact(occurred_at=f"2018-01-{i % 28 + 1:02d}T{worker:02d}:00", channel="phone",
                    actor=f"w{worker}", summary=f"w{worker}-{i}", amount=f"{i}.{worker}",
                    stage_signal=signals[(i + worker) % len(signals)] or None),
            follow_up=FollowUpPlan(due_at="2018-03-01") if i % 5 == 0 else None)
"""

RUNNER = """
import os, sys, time
from touchlog.domain.application import TouchpointLog
from touchlog.domain.settings import Settings
from touchlog.projections.engine.runner import Projector
db, stop = sys.argv[1], sys.argv[2]
with TouchpointLog(Settings(db=db)) as log:
    projector = Projector(log, batch_size=7)  # small batches: many chances to collide
    while not os.path.exists(stop):
        projector.catch_up()
        time.sleep(0.01)
    projector.catch_up()
    projector.close()
"""


def replayed_stage(history: list[Customer.Event]) -> str:
    """The stage by the documented signal rules, from the contacts in the order they
    happened (then by contact id), whatever order the writers recorded them in."""
    stage = "discovery"
    order = ("discovery", "exploration", "expansion", "commitment")
    contacts = [e for e in history if isinstance(e, Customer.ContactLogged) and e.stage_signal]
    for e in sorted(contacts, key=lambda e: (datetime.fromisoformat(e.occurred_at),
                                             e.contact_id)):
        signal = e.stage_signal
        if stage == "dissolution":
            stage = stage if signal == "dissolution" else signal
        elif signal == "dissolution" or order.index(signal) > order.index(stage):
            stage = signal
    return stage


@pytest.fixture
def clean_url(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if not db_url.startswith("postgresql"):
        return str(tmp_path / "clean.db")
    import psycopg

    name = db_url.rsplit("/", 1)[1] + "_clean"
    with psycopg.connect(str(request.getfixturevalue("postgres_url")), autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    return db_url.rsplit("/", 1)[0] + "/" + name


def test_four_writers_and_two_projection_runners_lose_and_duplicate_nothing(
        db_url: str, clean_url: str, tmp_path: Path, figures: Counter[str]) -> None:
    with TouchpointLog(Settings(db=db_url)) as log:
        Projector(log).close()  # tables first, so that no process races to create them
    stop = tmp_path / "stop"
    runners = [subprocess.Popen([sys.executable, "-c", RUNNER, db_url, str(stop)])
               for _ in range(RUNNERS)]
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, db_url, str(w), str(CONTACTS_EACH),
                                 str(CUSTOMERS), ",".join(SIGNALS)]) for w in range(WRITERS)]
    try:
        assert [w.wait(timeout=300) for w in writers] == [0] * WRITERS
    finally:
        stop.touch()
        assert [r.wait(timeout=300) for r in runners] == [0] * RUNNERS

    summaries: Counter[str] = Counter()
    with TouchpointLog(Settings(db=db_url)) as log:
        projector = Projector(log)
        tables = projector.snapshot()
        assert set(projector.db.positions().values()) == {log.recorder.max_notification_id()}
        for n in range(CUSTOMERS):
            ref = f"C{n}"
            history = log.history(ref)
            assert [e.originator_version for e in history] == list(range(1, len(history) + 1))
            logged = [e for e in history if isinstance(e, Customer.ContactLogged)]
            summaries.update(e.summary for e in logged)
            customer = log.customer(ref)
            scheduled = {e.follow_up_id for e in history
                         if isinstance(e, Customer.FollowUpScheduled)}
            assert customer.stage.value == replayed_stage(history)
            assert set(customer.open_follow_ups) == scheduled
            assert [r["stage"] for r in tables["stage_current"] if r["customer"] == ref] == [
                customer.stage.value]
            assert {r["follow_up_id"] for r in tables["followup_items"]
                    if r["customer"] == ref and r["status"] == "open"} == scheduled
            assert [r["contacts"] for r in tables["archive_customers"]
                    if r["customer"] == ref] == [len(logged)]
        clean = Projector(log, db=ReportingDB(clean_url))
        clean.rebuild()
        assert clean.snapshot() == tables
        clean.close()
        projector.close()
    expected = Counter(f"w{w}-{i}" for w in range(WRITERS) for i in range(CONTACTS_EACH))
    assert summaries == expected  # every contact exactly once
    store = "PostgreSQL" if db_url.startswith("postgresql") else "SQLite"
    figures[f"concurrency {store}: writer processes"] = WRITERS
    figures[f"concurrency {store}: projection runner processes"] = RUNNERS
    figures[f"concurrency {store}: contacts written"] = sum(summaries.values())
    figures[f"concurrency {store}: contacts lost or duplicated"] = sum(
        ((summaries - expected) + (expected - summaries)).values())
