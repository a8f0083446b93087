"""kill -9 of ``touchlog customer erase`` at chosen points (tests/reliability/crashes.py):
before each step of the erasure (the recorded erasure, each projection's batch, the scrub,
the key's destruction, each write boundary of the certificate) and before some other
statements (all of them with --runslow).

The customer has another merged into it (its own stream and key). After each kill the
customer is either not erased yet (its keys stand) or erased for good;
a destroyed key never leaves projections showing the person's values; the log verifies;
and ``erase`` run again completes, erasing everything.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.integration.test_privacy import (
    DUPLICATE,
    DUPLICATE_SECRETS,
    PERSON,
    SECRETS,
    record,
)
from tests.reliability.crashes import COMMAND, TOUCHLOG, Point, killed, projected, traced
from tests.reliability.databases import Databases
from touchlog.domain.application import TouchpointLog
from touchlog.domain.identity import customer_id
from touchlog.domain.settings import Settings
from touchlog.projections.audit.verify import verify_chains


def _start(databases: Databases) -> str:
    db = databases.new()
    with TouchpointLog(Settings(db=db)) as log:
        record(log, PERSON, SECRETS)
        record(log, "P-2", ("Olaf Otterbein", "olaf@example.org", "Olaf's visit"))
        record(log, DUPLICATE, DUPLICATE_SECRETS)  # merged: its own stream and key
        log.merge(DUPLICATE, PERSON, "the same person", actor="ann")
    projected(db, catch_up=True)
    return db


def _erase(db: str, folder: Path) -> list[str]:
    return ["--db", db, "customer", "erase", PERSON, "--basis", "gdpr-17", "--request",
            "REQ-9", "--certificate", str(folder / "certificate.json")]


def _keys_destroyed(db: str) -> list[bool]:
    """Whether the key of the customer, and of the one merged into it, is destroyed."""
    uids = [customer_id(PERSON), customer_id(DUPLICATE)]
    with TouchpointLog(Settings(db=db), create=False) as log:
        keys = log.keyring.store.load(uids)
        return [keys.get((uid, 1)) is None for uid in uids]


def _shows_plain_values(snapshot: Any) -> list[str]:
    text = json.dumps(snapshot)
    return [s for s in (*SECRETS, *DUPLICATE_SECRETS) if s in text]


# The statements that begin or end a step of the erasure.
STEPS = ("INSERT INTO stored_events", 'COPY "public"."touchlog_events"',
         "UPDATE projection_tracking", "PRAGMA wal_checkpoint", "VACUUM", "DELETE FROM "
         "customer_keys", "INSERT INTO customer_keys", "WRITE", "PUBLISH")
OTHER_POINTS = 4


def test_a_killed_erase_never_leaves_a_destroyed_key_beside_plain_projections(
        databases: Databases, tmp_path: Path,
        at_most: Callable[[list[Point], int], list[Point]]) -> None:
    start = _start(databases)
    trace = traced(_erase(databases.new(template=start), tmp_path), COMMAND, tmp_path)
    steps = [p for before, p in zip([None, *trace], trace, strict=False)
             if p.statement.startswith(STEPS) or p.statement == "COMMIT" and before
             and before.statement.startswith(("INSERT INTO customer_keys", "INSERT INTO "
                                              "stored_events", "SELECT last_insert",
                                              "SELECT notification_id"))]
    assert any("customer_keys" in p.statement for p in steps)
    others = at_most([p for p in trace if p not in steps], OTHER_POINTS)
    outcomes = set()
    for point in sorted([*steps, *others], key=lambda p: p.number):
        db = databases.new(template=start)
        killed(_erase(db, tmp_path), point, tmp_path)
        with TouchpointLog(Settings(db=db), create=False) as log:
            assert verify_chains(log)[0].intact, point
        destroyed = any(_keys_destroyed(db))
        if destroyed:
            assert _shows_plain_values(projected(db)) == [], point
        outcomes.add(destroyed)
        again = subprocess.run([*TOUCHLOG, *_erase(db, tmp_path)], capture_output=True,
                               text=True, check=False)
        assert again.returncode == 0, (point, again.stderr)
        assert all(_keys_destroyed(db))
        assert _shows_plain_values(projected(db)) == [], point
        certificate = json.loads((tmp_path / "certificate.json").read_text())
        assert certificate["chain"]["intact"]
        databases.discard(db)
    assert outcomes == {False, True}  # kills landed before and after the key went
