"""kill -9 of ``touchlog imports undo`` and of ``contact retract|amend --from FILE`` right
before the COMMIT of their third batch (found in a traced run from a copy of the same
database, tests/reliability/crashes.py): the log holds the first two batches whole, and the
same command run again does the rest exactly once."""

from __future__ import annotations

import csv
import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from tests.reliability.crashes import COMMAND, TOUCHLOG, batch_commits, killed, traced
from tests.reliability.databases import Databases
from touchlog.domain.application import TouchpointLog
from touchlog.domain.settings import Settings
from touchlog.domain.storage.events import stored_rows

CUSTOMERS, PER_CUSTOMER, BATCH = 120, 2, 20


def touchlog(*args: str) -> dict[str, Any]:
    done = subprocess.run([*TOUCHLOG, *args, "--format", "json"], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def imported(databases: Databases, folder: Path) -> tuple[str, str]:
    """A log holding one import of CUSTOMERS customers with PER_CUSTOMER contacts each, and
    the import's id."""
    path = folder / "contacts.csv"
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["customer", "occurred_at", "channel", "contact_id", "amount"])
        for i in range(CUSTOMERS * PER_CUSTOMER):
            writer.writerow([f"C{i % CUSTOMERS:04d}", f"2018-01-{i % 28 + 1:02d}", "store",
                             f"k{i}", "10.00"])
    db = databases.new()
    return db, str(touchlog("--db", db, "import", str(path))["import"])


def retracted(db: str) -> Counter[str]:
    """Contacts retracted, by customer id."""
    with TouchpointLog(Settings(db=db), create=False) as log, stored_rows(log) as rows:
        return Counter(str(raw) for raw, _version, topic, _state in rows
                       if topic.endswith("ContactRetracted"))


def contents(db: str) -> list[str]:
    """The amounts of every amendment recorded."""
    with TouchpointLog(Settings(db=db), create=False) as log, stored_rows(log) as rows:
        return [orjson.loads(state)["changes"]["amount"] for _raw, _version, topic, state in rows
                if topic.endswith("ContactAmended")]


def test_an_undo_killed_before_its_third_batch_keeps_two_whole_and_a_rerun_does_the_rest(
        databases: Databases, tmp_path: Path) -> None:
    base, import_id = imported(databases, tmp_path)
    args = ["imports", "undo", import_id, "--reason", "wrong file",
            "--batch-size", str(BATCH)]
    third = batch_commits(traced(["--db", databases.new(template=base), *args], COMMAND,
                                 tmp_path))[2]
    db = databases.new(template=base)
    killed(["--db", db, *args], third, tmp_path)
    by_customer = retracted(db)
    assert len(by_customer) == 2 * BATCH and set(by_customer.values()) == {PER_CUSTOMER}
    rerun = touchlog("--db", db, *args)
    assert (rerun["retracted"], rerun["already_retracted"]) == (
        (CUSTOMERS - 2 * BATCH) * PER_CUSTOMER, 2 * BATCH * PER_CUSTOMER)
    assert sum(retracted(db).values()) == CUSTOMERS * PER_CUSTOMER
    assert touchlog("--db", db, "imports", "show", import_id)["status"] == "undone"
    subprocess.run([*TOUCHLOG, "--db", db, "verify", "--projections"], check=True,
                   capture_output=True, timeout=300)


def test_a_bulk_correction_killed_before_its_third_batch_keeps_two_and_a_rerun_adds_the_rest(
        databases: Databases, tmp_path: Path) -> None:
    base, _ = imported(databases, tmp_path)
    fixes = tmp_path / "fixes.csv"
    rows = CUSTOMERS * PER_CUSTOMER
    fixes.write_text("contact_id,customer,amount\n" + "".join(
        f"k{i},C{i % CUSTOMERS:04d},{i + 100}.00\n" for i in range(rows)))
    args = ["contact", "amend", "--from", str(fixes), "--batch-size", str(BATCH)]
    third = batch_commits(traced(["--db", databases.new(template=base), *args], COMMAND,
                                 tmp_path))[2]
    db = databases.new(template=base)
    killed(["--db", db, *args], third, tmp_path)
    assert contents(db) == [f"{i + 100}.00" for i in range(2 * BATCH)]
    rerun = touchlog("--db", db, *args)
    assert (rerun["amended"], rerun["unchanged"]) == (rows - 2 * BATCH, 2 * BATCH)
    assert sorted(contents(db)) == sorted(f"{i + 100}.00" for i in range(rows))
    subprocess.run([*TOUCHLOG, "--db", db, "verify", "--projections"], check=True,
                   capture_output=True, timeout=300)
