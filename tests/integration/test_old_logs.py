"""Logs written by earlier versions of touchlog still load, verify, rebuild and read the same.

Each folder `tests/fixtures/log-vN/` holds a SQLite event log made by an earlier touchlog
through its CLI (`tests/fixtures/make_old_log.sh`, the same history every time) and that
version's own answers about it. log-v1 predates the module re-layout and stage history derived
from facts; log-v2 is the first with reason categories and today's reporting tables. Stored
event topics name module paths (`touchlog.domain.customer:Customer.ContactLogged`), so moving
or renaming a module must keep them loading. These tests use only the CLI and the JSON files,
never internal modules, so they hold however the code is laid out.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from touchlog.cli.main import cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OLD_LOGS = ("log-v1", "log-v2")
# Settings that could point the CLI elsewhere or change its vocabulary.
CLEAN_ENV = {"TOUCHLOG_DB": None, "TOUCHLOG_CONFIG": None, "TOUCHLOG_REPORTING_DB": None}
# Fields added since each old log was written: its events have none, so they read as their
# defaults (the person and the category null, no attributes), and a contact is a purchase
# when it has an amount.
SINCE_V2 = {"person": None, "attributes": {}}
ADDED = {"log-v1": {"reason_category": None, **SINCE_V2}, "log-v2": SINCE_V2}


@dataclass(frozen=True)
class OldLog:
    """One fixture folder: its log and that version's answers."""

    name: str

    @property
    def folder(self) -> Path:
        return FIXTURES / self.name

    def expected(self, name: str) -> Any:
        return json.loads((self.folder / name).read_text(encoding="utf-8"))

    def expected_timeline(self, reference: str) -> list[dict[str, Any]]:
        [n] = [c["n"] for c in CUSTOMERS if c["reference"] == reference]
        return list(self.expected(f"timeline-{n}.json"))

    def as_then(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows as the old version answered, once the fields added since are checked to
        hold their defaults."""
        added = ADDED[self.name]
        assert all(row.get(name, default) == default
                   for row in rows for name, default in added.items()), rows
        assert all(row["purchase"] == (row["amount"] is not None)
                   for row in rows if row.get("type") == "contact"), rows
        return [{k: v for k, v in row.items() if k not in added and k != "purchase"}
                for row in rows]


# Every fixture holds the same customers (one script made them all).
CUSTOMERS: list[dict[str, Any]] = OldLog(OLD_LOGS[0]).expected("customers.json")
CUSTOMER_IDS = [c["reference"] for c in CUSTOMERS]


@pytest.fixture(params=OLD_LOGS)
def old(request: pytest.FixtureRequest) -> OldLog:
    return OldLog(request.param)


@pytest.fixture
def db(old: OldLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A private copy of the old log: the committed file is never opened in place."""
    copy = tmp_path / f"{old.name}.db"
    shutil.copyfile(old.folder / f"{old.name}.db", copy)
    monkeypatch.chdir(tmp_path)  # no touchlog.toml from the caller's folder
    return str(copy)


def run(db: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--db", db, *args], env=CLEAN_ENV)


def data(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def verify(db: str) -> dict[str, Any]:
    return dict(data(run(db, "verify", "--format", "json")))


def timeline(old: OldLog, db: str, reference: str) -> list[dict[str, Any]]:
    return old.as_then(data(run(db, "timeline", reference, "--include-retracted",
                                "--format", "json")))


def stage_history(old: OldLog, db: str, reference: str) -> list[dict[str, Any]]:
    return old.as_then(data(run(db, "stage", "history", reference, "--format", "json")))


def test_the_fixture_is_one_self_contained_sqlite_file(old: OldLog) -> None:
    log = old.folder / f"{old.name}.db"
    assert log.read_bytes()[:16] == b"SQLite format 3\x00"
    assert not log.with_name(log.name + "-wal").exists()
    assert not log.with_name(log.name + "-shm").exists()


def test_an_old_log_verifies_intact(old: OldLog, db: str) -> None:
    then = old.expected("verify.json")
    now = verify(db)
    assert now["intact"] is True and now["breaks"] == []
    assert (now["customers"], now["events"]) == (then["customers"], then["events"])


@pytest.mark.parametrize("customer", CUSTOMERS, ids=CUSTOMER_IDS)
def test_every_old_customer_reads_the_same_timeline(old: OldLog, db: str,
                                                    customer: dict[str, Any]) -> None:
    reference = customer["reference"]
    assert timeline(old, db, reference) == old.expected_timeline(reference)


def test_a_rebuild_from_the_old_log_gives_the_same_archive_and_stage_histories(
        old: OldLog, db: str) -> None:
    rebuilt = run(db, "projections", "rebuild")
    assert rebuilt.exit_code == 0, rebuilt.output

    assert old.as_then(data(run(db, "archive", "--format", "json"))) == old.expected(
        "archive.json")
    for customer in CUSTOMERS:
        history = stage_history(old, db, customer["reference"])
        assert history == old.expected(f"stage-history-{customer['n']}.json"), customer


def test_the_old_reporting_tables_are_made_again_and_give_the_same_stage_histories(
        old: OldLog, db: str) -> None:
    """Each fixture holds its version's own reporting tables (v1's have no stage_facts, and
    a stage_history without reason_category). Where they differ from today's, the first query
    makes them again and applies the log anew."""
    for customer in CUSTOMERS:
        history = stage_history(old, db, customer["reference"])
        assert history == old.expected(f"stage-history-{customer['n']}.json"), customer
        stage = data(run(db, "stage", "show", customer["reference"], "--format", "json"))
        last = history[-1]
        assert (stage["stage"], stage["since"], stage["cycle"]) == (
            last["to_stage"], last["entered_at"], last["cycle"])
        if len(history) > 1:  # the stage then, the audit's and the history's, alike
            then = history[-2]["entered_at"]
            audit = data(run(db, "audit", customer["reference"], "--as-of", then,
                             "--format", "json"))
            assert (audit["stage"]["stage"], audit["stage"]["since"]) == (
                history[-2]["to_stage"], then)
    checked = data(run(db, "verify", "--projections", "--format", "json"))
    assert checked["intact"] is True, checked["differences"]


def test_a_new_contact_logged_on_the_old_log_keeps_it_intact(old: OldLog, db: str) -> None:
    before = timeline(old, db, "ACME")
    assert before == old.expected_timeline("ACME")
    logged = data(run(db, "contact", "log", "ACME", "--channel", "store",
                      "--at", "2019-03-05T10:00", "--actor", "ann", "--amount", "99.00",
                      "--rating", "5", "--stage", "expansion", "--format", "json"))
    assert logged["logged"] is True

    after = verify(db)
    then = old.expected("verify.json")
    assert after["intact"] is True and after["breaks"] == []
    # The contact alone: its stage signal is a fact the stage history is derived from.
    assert (after["customers"], after["events"]) == (then["customers"], then["events"] + 1)
    now = timeline(old, db, "ACME")
    new = [e for e in now if e.get("contact_id") == logged["contact_id"]]
    assert [e for e in now if e not in new] == before
    assert [(e["type"], e.get("to")) for e in new] == [("contact", None),
                                                      ("stage_changed", "expansion")]


def test_a_contact_the_old_log_already_holds_is_recognised_and_not_logged_twice(
        old: OldLog, db: str) -> None:
    # The same card as make_old_log.sh's ACME letter of 2018-09-20: its derived id must match.
    again = data(run(db, "contact", "log", "ACME", "--channel", "letter",
                     "--at", "2018-09-20T00:00", "--actor", "ann",
                     "--summary", "sorry to see you go", "--format", "json"))
    assert again["logged"] is False
    assert again["contact_id"] in {e.get("contact_id") for e in old.expected_timeline("ACME")}
    assert verify(db)["events"] == old.expected("verify.json")["events"]


def test_the_old_reporting_tables_are_adopted_without_a_rebuild(old: OldLog, db: str) -> None:
    logged = data(run(db, "contact", "log", "ACME", "--channel", "store",
                      "--at", "2019-03-05T10:00", "--actor", "ann", "--format", "json"))
    assert logged["logged"] is True
    archive = {r["customer"]: r
               for r in old.as_then(data(run(db, "archive", "--format", "json")))}
    then = {r["customer"]: r for r in old.expected("archive.json")}
    assert archive["ACME"]["contacts"] == then["ACME"]["contacts"] + 1
    assert {k: v for k, v in archive.items() if k != "ACME"} == {
        k: v for k, v in then.items() if k != "ACME"}
    status = data(run(db, "projections", "status", "--format", "json"))
    assert [(s["lag"], s["problem"]) for s in status if s["projection"] == "archive"] == [
        (0, None)]


def test_a_customer_of_a_log_written_before_sealing_can_be_erased(old: OldLog, db: str) -> None:
    """Its old events keep their values in the clear in the file (the certificate counts
    them); every read shows them erased, and the log still verifies (docs/privacy.md)."""
    before = data(run(db, "archive", "--format", "json"))
    made = data(run(db, "customer", "erase", "ACME", "--basis", "gdpr-17", "--request", "R1"))
    assert made["events_in_the_clear"] > 0 and made["chain"]["intact"]
    assert verify(db)["intact"]
    assert data(run(db, "verify", "--projections", "--format", "json"))["intact"]
    assert data(run(db, "customer", "show", "ACME", "--format", "json"))["name"] == "[erased]"
    purposes = {e.get("purpose") for e in timeline(old, db, "ACME") if e["type"] == "contact"}
    assert purposes <= {"[erased]", None} and "[erased]" in purposes
    assert data(run(db, "archive", "--format", "json")) == before  # counts and amounts
    assert "Acme Ltd" in Path(db).read_bytes().decode("utf-8", "replace")  # in the clear
