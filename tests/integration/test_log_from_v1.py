"""A log written by touchlog v1 still loads, verifies, rebuilds and reads the same.

`tests/fixtures/log-v1/` holds a SQLite event log made by an earlier touchlog through its CLI
(`tests/fixtures/make_log_v1.sh`) and that version's own answers about it. Stored event
topics name module paths (`touchlog.domain.customer:Customer.ContactLogged`), so moving or
renaming a module must keep them loading. These tests use only the CLI and the JSON files,
never internal modules, so they hold however the code is laid out.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from touchlog.cli.main import cli

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "log-v1"
# Settings that could point the CLI elsewhere or change its vocabulary.
CLEAN_ENV = {"TOUCHLOG_DB": None, "TOUCHLOG_CONFIG": None, "TOUCHLOG_REPORTING_DB": None}


def expected(name: str) -> Any:
    return json.loads((FIXTURE / name).read_text(encoding="utf-8"))


CUSTOMERS: list[dict[str, Any]] = expected("customers.json")
CUSTOMER_IDS = [c["reference"] for c in CUSTOMERS]


def expected_timeline(reference: str) -> list[dict[str, Any]]:
    [n] = [c["n"] for c in CUSTOMERS if c["reference"] == reference]
    return list(expected(f"timeline-{n}.json"))


# Fields added since v1 wrote the fixture: its events have none, so they read null.
ADDED = ("reason_category",)


def as_v1(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as v1 answered, once the fields added since are checked to be null."""
    assert all(row.get(name) is None for row in rows for name in ADDED), rows
    return [{k: v for k, v in row.items() if k not in ADDED} for row in rows]


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A private copy of the v1 log: the committed file is never opened in place."""
    copy = tmp_path / "log-v1.db"
    shutil.copyfile(FIXTURE / "log-v1.db", copy)
    monkeypatch.chdir(tmp_path)  # no touchlog.toml from the caller's folder
    return str(copy)


def run(db: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--db", db, *args], env=CLEAN_ENV)


def data(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def verify(db: str) -> dict[str, Any]:
    return dict(data(run(db, "verify", "--format", "json")))


def timeline(db: str, reference: str) -> list[dict[str, Any]]:
    return as_v1(data(run(db, "timeline", reference, "--include-retracted", "--format", "json")))


def stage_history(db: str, reference: str) -> list[dict[str, Any]]:
    return as_v1(data(run(db, "stage", "history", reference, "--format", "json")))


def test_the_fixture_is_one_self_contained_sqlite_file() -> None:
    assert (FIXTURE / "log-v1.db").read_bytes()[:16] == b"SQLite format 3\x00"
    assert not (FIXTURE / "log-v1.db-wal").exists()
    assert not (FIXTURE / "log-v1.db-shm").exists()


def test_a_log_written_by_v1_verifies_intact(db: str) -> None:
    then = expected("verify.json")
    now = verify(db)
    assert now["intact"] is True and now["breaks"] == []
    assert (now["customers"], now["events"]) == (then["customers"], then["events"])


@pytest.mark.parametrize("customer", CUSTOMERS, ids=CUSTOMER_IDS)
def test_every_v1_customer_reads_the_same_timeline(db: str, customer: dict[str, Any]) -> None:
    reference = customer["reference"]
    assert timeline(db, reference) == expected_timeline(reference)


def test_a_rebuild_from_the_v1_log_gives_the_same_archive_and_stage_histories(db: str) -> None:
    rebuilt = run(db, "projections", "rebuild")
    assert rebuilt.exit_code == 0, rebuilt.output

    assert data(run(db, "archive", "--format", "json")) == expected("archive.json")
    for customer in CUSTOMERS:
        history = stage_history(db, customer["reference"])
        assert history == expected(f"stage-history-{customer['n']}.json"), customer


def test_the_v1_reporting_tables_are_made_again_and_give_the_same_stage_histories(
        db: str) -> None:
    """The fixture holds v1's own reporting tables: no stage_facts, and a stage_history
    without reason_category. The first query makes them again and applies the log anew."""
    for customer in CUSTOMERS:
        history = stage_history(db, customer["reference"])
        assert history == expected(f"stage-history-{customer['n']}.json"), customer
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


def test_a_new_contact_logged_on_the_v1_log_keeps_it_intact(db: str) -> None:
    before = timeline(db, "ACME")
    assert before == expected_timeline("ACME")
    logged = data(run(db, "contact", "log", "ACME", "--channel", "store",
                      "--at", "2019-03-05T10:00", "--actor", "ann", "--amount", "99.00",
                      "--rating", "5", "--stage", "expansion", "--format", "json"))
    assert logged["logged"] is True

    after = verify(db)
    then = expected("verify.json")
    assert after["intact"] is True and after["breaks"] == []
    # The contact alone: its stage signal is a fact the stage history is derived from.
    assert (after["customers"], after["events"]) == (then["customers"], then["events"] + 1)
    now = timeline(db, "ACME")
    new = [e for e in now if e.get("contact_id") == logged["contact_id"]]
    assert [e for e in now if e not in new] == before
    assert [(e["type"], e.get("to")) for e in new] == [("contact", None),
                                                      ("stage_changed", "expansion")]


def test_a_contact_the_v1_log_already_holds_is_recognised_and_not_logged_twice(db: str) -> None:
    # The same card as make_log_v1.sh's ACME letter of 2018-09-20: its derived id must match.
    again = data(run(db, "contact", "log", "ACME", "--channel", "letter",
                     "--at", "2018-09-20T00:00", "--actor", "ann",
                     "--summary", "sorry to see you go", "--format", "json"))
    assert again["logged"] is False
    assert again["contact_id"] in {e.get("contact_id") for e in expected_timeline("ACME")}
    assert verify(db)["events"] == expected("verify.json")["events"]


def test_the_v1_reporting_tables_are_adopted_without_a_rebuild(db: str) -> None:
    logged = data(run(db, "contact", "log", "ACME", "--channel", "store",
                      "--at", "2019-03-05T10:00", "--actor", "ann", "--format", "json"))
    assert logged["logged"] is True
    archive = {r["customer"]: r for r in data(run(db, "archive", "--format", "json"))}
    then = {r["customer"]: r for r in expected("archive.json")}
    assert archive["ACME"]["contacts"] == then["ACME"]["contacts"] + 1
    assert {k: v for k, v in archive.items() if k != "ACME"} == {
        k: v for k, v in then.items() if k != "ACME"}
    status = data(run(db, "projections", "status", "--format", "json"))
    assert [(s["lag"], s["problem"]) for s in status if s["projection"] == "archive"] == [
        (0, None)]


def test_a_customer_of_a_log_written_before_sealing_can_be_erased(db: str) -> None:
    """Its old events keep their values in the clear in the file (the certificate counts
    them); every read shows them erased, and the log still verifies (docs/privacy.md)."""
    before = data(run(db, "archive", "--format", "json"))
    made = data(run(db, "customer", "erase", "ACME", "--basis", "gdpr-17", "--request", "R1"))
    assert made["events_in_the_clear"] > 0 and made["chain"]["intact"]
    assert verify(db)["intact"]
    assert data(run(db, "verify", "--projections", "--format", "json"))["intact"]
    assert data(run(db, "customer", "show", "ACME", "--format", "json"))["name"] == "[erased]"
    purposes = {e.get("purpose") for e in timeline(db, "ACME") if e["type"] == "contact"}
    assert purposes <= {"[erased]", None} and "[erased]" in purposes
    assert data(run(db, "archive", "--format", "json")) == before  # counts and amounts
    assert "Acme Ltd" in Path(db).read_bytes().decode("utf-8", "replace")  # in the clear
