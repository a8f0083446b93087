"""``touchlog contact amend|retract``, ``customer`` and ``followup`` end to end."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.cli import run
from touchlog.cli.main import cli


def data(result: Result) -> Any:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def db(sqlite_url: str) -> str:
    run(sqlite_url, "contact", "log", "ACME", "--channel", "phone", "--at", "2018-01-05",
        "--id", "c-1", "--actor", "ann", "--amount", "10.00")
    return sqlite_url


def timeline(db: str, *args: str) -> list[dict[str, Any]]:
    return list(data(run(db, "timeline", "ACME", "--format", "json", *args)))


def test_amend_changes_the_card_shown_and_clears_blank_fields(db: str) -> None:
    out = data(run(db, "contact", "amend", "c-1", "--customer", "ACME", "--amount", "1054.00",
                   "--actor", "", "--reason", "typo", "--by", "bob", "--format", "json"))
    assert out == {"customer": "ACME", "contact_id": "c-1",
                   "amended": {"actor": None, "amount": "1054.00"}}
    [card] = timeline(db)
    assert (card["amount"], card["actor"]) == ("1054.00", None)


def test_amend_refuses_bad_values_and_unknown_contacts_with_exit_1(db: str) -> None:
    bad = run(db, "contact", "amend", "c-1", "--customer", "ACME", "--rating", "9")
    assert bad.exit_code == 1 and "rating: expected a whole number from 1 to 5" in bad.stderr
    unknown = run(db, "contact", "amend", "c-9", "--customer", "ACME", "--summary", "x")
    assert unknown.exit_code == 1 and "no contact with id 'c-9'" in unknown.stderr
    nothing = run(db, "contact", "amend", "c-1", "--customer", "ACME")
    assert nothing.exit_code == 1 and "an amendment needs at least one field" in nothing.stderr


def test_amend_and_retract_find_the_customer_by_the_contact_id(db: str) -> None:
    out = data(run(db, "contact", "amend", "c-1", "--summary", "called", "--format", "json"))
    assert out["customer"] == "ACME"
    assert timeline(db)[0]["summary"] == "called"
    out = data(run(db, "contact", "retract", "c-1", "--reason", "dup", "--format", "json"))
    assert (out["customer"], out["retracted"]) == ("ACME", True)


def test_an_unknown_or_shared_contact_id_needs_the_customer(db: str) -> None:
    unknown = run(db, "contact", "retract", "c-404", "--reason", "dup")
    assert unknown.exit_code == 1 and "no contact with id 'c-404'" in unknown.stderr
    run(db, "contact", "log", "BETA", "--channel", "email", "--at", "2018-01-06", "--id", "c-1")
    shared = run(db, "contact", "amend", "c-1", "--summary", "x")
    assert shared.exit_code == 1
    assert "belongs to several customers (ACME, BETA); name one with --customer" in shared.stderr
    assert data(run(db, "contact", "amend", "c-1", "--customer", "BETA", "--summary", "x",
                    "--format", "json"))["customer"] == "BETA"


def test_retract_hides_the_contact_unless_asked_and_refuses_a_second_time(db: str) -> None:
    out = data(run(db, "contact", "retract", "c-1", "--customer", "ACME", "--reason", "dup",
                   "--format", "json"))
    assert out["retracted"] is True
    assert timeline(db) == []
    [card] = timeline(db, "--include-retracted")
    assert (card["retracted"], card["retraction_reason"]) == (True, "dup")
    again = run(db, "contact", "retract", "c-1", "--customer", "ACME", "--reason", "dup")
    assert again.exit_code == 1 and "already retracted" in again.stderr


def test_customer_set_then_show_gives_profile_stage_and_open_follow_ups(db: str) -> None:
    out = data(run(db, "customer", "set", "ACME", "--name", "Acme Ltd", "--owner", "ann",
                   "--format", "json"))
    assert out == {"customer": "ACME", "changed": True, "name": "Acme Ltd", "owner": "ann"}
    run(db, "followup", "schedule", "ACME", "--due", "2018-02-01", "--id", "f-1")
    shown = data(run(db, "customer", "show", "ACME", "--format", "json"))
    assert shown["name"] == "Acme Ltd" and shown["stage"] == "discovery"
    assert shown["cycle"] == 1 and shown["contacts"] == 1
    assert shown["open_follow_ups"] == [{"follow_up_id": "f-1", "owner": "ann", "purpose": None,
                                         "due_at": "2018-02-01T00:00:00+00:00"}]


def test_customer_show_as_table_and_csv(db: str) -> None:
    table = run(db, "customer", "show", "ACME", "--format", "table")
    assert table.stdout.startswith("customer") and "Open follow-ups:" in table.stdout
    csv = run(db, "customer", "show", "ACME", "--format", "csv")
    assert csv.stdout.splitlines()[1].startswith("ACME,")


def test_customer_errors_exit_1_or_2(db: str) -> None:
    missing = run(db, "customer", "show", "NOBODY")
    assert missing.exit_code == 1 and "no customer 'NOBODY'" in missing.stderr
    empty = run(db, "customer", "set", "ACME")
    assert empty.exit_code == 2 and "give at least one of" in empty.stderr


def test_a_follow_up_is_scheduled_rescheduled_and_completed(db: str) -> None:
    run(db, "customer", "set", "ACME", "--owner", "ann")
    out = data(run(db, "followup", "schedule", "ACME", "--due", "2018-02-01", "--purpose",
                   "demo", "--contact", "c-1", "--format", "json"))
    fid = out["follow_up_id"]
    assert out["status"] == "scheduled" and out["due_at"] == "2018-02-01T00:00:00+00:00"
    moved = data(run(db, "followup", "reschedule", "ACME", fid, "--due", "2018-02-10",
                     "--reason", "holiday", "--format", "json"))
    assert moved["due_at"] == "2018-02-10T00:00:00+00:00"
    done = data(run(db, "followup", "complete", "ACME", fid, "--contact", "c-1", "--actor",
                    "ann", "--format", "json"))
    assert done["status"] == "completed"
    kinds = [e["type"] for e in timeline(db)]
    assert kinds.count("follow_up_completed") == 1 and "follow_up_rescheduled" in kinds


def test_a_follow_up_is_cancelled_with_a_reason_and_only_once(db: str) -> None:
    run(db, "followup", "schedule", "ACME", "--due", "2018-02-01", "--owner", "ann",
        "--id", "f-1")
    assert run(db, "followup", "cancel", "ACME", "f-1", "--reason", "no longer").exit_code == 0
    again = run(db, "followup", "cancel", "ACME", "f-1", "--reason", "no longer")
    assert again.exit_code == 1 and "already cancelled" in again.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("schedule", "ACME", "--due", "soon", "--owner", "ann"), "follow_up_due"),
    (("schedule", "ACME", "--due", "2018-02-01"), "a follow-up needs an owner"),
    (("schedule", "NOBODY", "--due", "2018-02-01", "--owner", "ann"), "no customer"),
    (("complete", "ACME", "f-404"), "no follow-up with id 'f-404'"),
    (("cancel", "ACME", "f-404", "--reason", " "), "no follow-up"),
    (("reschedule", "ACME", "f-404", "--due", "2018-03-01"), "no follow-up"),
])
def test_follow_up_errors_exit_1_with_a_message(db: str, args: tuple[str, ...],
                                                 message: str) -> None:
    result = run(db, "followup", *args)
    assert result.exit_code == 1 and message in result.stderr
    assert "Traceback" not in result.output


def test_follow_up_usage_errors_exit_2(db: str) -> None:
    result = run(db, "followup", "cancel", "ACME", "f-1")
    assert result.exit_code == 2 and "Missing option '--reason'" in result.stderr


def test_corrections_work_on_postgresql_too(pg_db_url: str) -> None:
    run(pg_db_url, "contact", "log", "ACME", "--channel", "phone", "--at", "2018-01-05",
        "--id", "c-1")
    assert run(pg_db_url, "contact", "amend", "c-1", "--customer", "ACME", "--summary",
               "x").exit_code == 0
    assert run(pg_db_url, "contact", "retract", "c-1", "--customer", "ACME", "--reason",
               "dup").exit_code == 0
    assert data(run(pg_db_url, "customer", "show", "ACME", "--format",
                    "json"))["retracted_contacts"] == 1


@pytest.mark.parametrize("command", [
    ("contact", "amend"), ("contact", "retract"), ("customer", "show"), ("customer", "set"),
    ("followup", "schedule"), ("followup", "complete"), ("followup", "cancel"),
    ("followup", "reschedule"), ("import",), ("demo",), ("timeline",),
])
def test_every_command_has_help_with_an_example(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0 and "Example:" in result.stdout
