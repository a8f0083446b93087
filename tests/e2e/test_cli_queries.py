"""``touchlog archive``, ``followups`` and ``stage`` through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from touchlog.cli.main import cli
from touchlog.domain.application import TouchpointLog
from touchlog.domain.contact import Contact, FollowUpPlan
from touchlog.domain.settings import Settings


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "t.db")
    with TouchpointLog(Settings(db=path)) as log:
        log.update_profile("ACME", {"owner": "ann"})
        log.log_contact("ACME", Contact(occurred_at="2018-01-05", channel="phone",
                                        amount="1054.00", rating=4),
                        follow_up=FollowUpPlan(due_at="2018-01-20", owner="bob", purpose="demo"))
    return path


def run(db: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--db", db, *args])
    return result.exit_code, result.output


def test_archive_prints_the_json_contract(db: str) -> None:
    code, out = run(db, "archive", "ACME", "--format", "json")
    assert code == 0
    [record] = json.loads(out)
    assert record == {
        "customer": "ACME", "stage": "discovery", "contacts": 1,
        "first_contact_at": "2018-01-05T00:00:00+00:00",
        "last_contact_at": "2018-01-05T00:00:00+00:00", "channels": {"phone": 1},
        "purchases": 1, "total_amount": "1054.00",
        "last_purchase_at": "2018-01-05T00:00:00+00:00", "average_rating": 4.0,
        "open_follow_ups": 1, "attributes": {}}


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_archive_renders_tables_and_csv(db: str, fmt: str) -> None:
    code, out = run(db, "archive", "--format", fmt)
    assert code == 0 and "ACME" in out and "1054.00" in out


def test_archive_of_an_unknown_customer_exits_1_with_a_message(db: str) -> None:
    code, out = run(db, "archive", "NOPE")
    assert code == 1 and "no customer 'NOPE'" in out


def test_followups_lists_scheduled_and_cadence_items_with_status(db: str) -> None:
    code, out = run(db, "followups", "--as-of", "2018-01-25", "--format", "json")
    assert code == 0
    items = json.loads(out)
    assert [(i["kind"], i["due_at"], i["owner"], i["status"]) for i in items] == [
        ("cadence", "2018-01-19T00:00:00+00:00", "ann", "overdue"),
        ("scheduled", "2018-01-20T00:00:00+00:00", "bob", "overdue")]
    assert items[1]["follow_up_id"] and items[0]["follow_up_id"] is None


def test_followups_filters_by_owner_status_and_horizon(db: str) -> None:
    _, out = run(db, "followups", "--owner", "bob", "--as-of", "2018-01-10", "--format", "json")
    assert [i["kind"] for i in json.loads(out)] == ["scheduled"]
    _, out = run(db, "followups", "--status", "upcoming", "--within", "5",
                 "--as-of", "2018-01-10", "--format", "json")
    assert json.loads(out) == []
    _, out = run(db, "followups", "--status", "overdue", "--as-of", "2018-01-10",
                 "--format", "csv")
    assert out.strip() == ""


def test_followups_refuses_a_bad_date_and_a_bad_status(db: str) -> None:
    assert run(db, "followups", "--as-of", "soon")[0] == 1
    assert run(db, "followups", "--status", "late")[0] == 2
    assert run(db, "followups", "--within", "-1")[0] == 2


def test_stage_set_then_show_and_history(db: str) -> None:
    code, _ = run(db, "stage", "set", "ACME", "commitment", "--reason", "framework deal",
                  "--actor", "ann", "--at", "2018-02-01")
    assert code == 0
    _, out = run(db, "stage", "show", "ACME", "--format", "json")
    assert json.loads(out)["stage"] == "commitment"
    _, out = run(db, "stage", "history", "ACME", "--format", "json")
    history = json.loads(out)
    assert [h["to_stage"] for h in history] == ["discovery", "commitment"]
    assert history[1]["reason"] == "framework deal" and history[1]["actor"] == "ann"


def test_stage_set_to_the_current_stage_says_nothing_changed_and_needs_a_reason(db: str
                                                                               ) -> None:
    code, out = run(db, "stage", "set", "ACME", "discovery", "--reason", "x", "--actor", "a")
    assert code == 0 and "already in stage discovery then" in out
    assert run(db, "stage", "set", "ACME", "commitment")[0] == 2
    assert run(db, "stage", "set", "ACME", "nirvana", "--reason", "x")[0] == 2


def test_stage_show_of_an_unknown_customer_exits_1(db: str) -> None:
    assert run(db, "stage", "show", "NOPE")[0] == 1
