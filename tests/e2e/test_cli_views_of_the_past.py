"""``--as-of`` is a real view of the past, ``--until`` a whole day, stays in days and hours."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from tests.reliability.databases import KINDS, for_kind
from touchlog.cli.main import cli
from touchlog.domain.application import ContactEntry, TouchpointLog
from touchlog.domain.contact import Contact
from touchlog.domain.settings import Settings


@pytest.fixture(params=KINDS)
def db(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    """ACME: exploration in January, a purchase and commitment in March, gone in June."""
    databases = for_kind(request, tmp_path)
    url = databases.new()
    with TouchpointLog(Settings(db=url)) as log:
        log.log_contacts([ContactEntry("ACME", Contact(
            occurred_at=at, channel=channel, stage_signal=signal, amount=amount, rating=4))
            for at, channel, signal, amount in (
                ("2018-01-05T10:00", "phone", "exploration", None),
                ("2018-03-01T09:00", "store", "commitment", "99.50"),
                ("2018-06-01T12:00", "email", "dissolution", None))])
    yield url
    databases.discard_all()


def run(db: str, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--db", db, *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output) if "json" in args else result.output


def test_stage_show_as_of_is_the_stage_then(db: str) -> None:
    then = run(db, "stage", "show", "ACME", "--as-of", "2018-02-01", "--format", "json")
    assert (then["stage"], then["since"][:10], then["cycle"]) == ("exploration", "2018-01-05", 1)
    assert run(db, "stage", "show", "ACME", "--format", "json")["stage"] == "dissolution"
    before = run(db, "stage", "show", "ACME", "--as-of", "2017-12-31", "--format", "json")
    assert (before["stage"], before["since"], before["cycle"]) == (None, None, None)


def test_archive_as_of_counts_what_had_happened_then_with_the_stage_then(db: str) -> None:
    [then] = run(db, "archive", "ACME", "--as-of", "2018-04-01", "--format", "json")
    assert (then["stage"], then["contacts"], then["purchases"], then["channels"]) == (
        "commitment", 2, 1, {"phone": 1, "store": 1})
    assert then["last_contact_at"][:10] == "2018-03-01"
    assert then["total_amount"] == "99.50" and then["open_follow_ups"] is None
    assert run(db, "archive", "--as-of", "2017-01-01", "--format", "json") == []


def test_timeline_until_a_day_includes_that_whole_day(db: str) -> None:
    entries = run(db, "timeline", "ACME", "--until", "2018-03-01", "--format", "json")
    assert [e["at"][:10] for e in entries if e["type"] == "contact"] == [
        "2018-01-05", "2018-03-01"]


def test_stage_history_tables_show_time_in_stage_in_days_and_hours(db: str) -> None:
    table = run(db, "stage", "history", "ACME", "--format", "table")
    assert "54d 23h" in table  # exploration: 2018-01-05 10:00 to 2018-03-01 09:00
    rows = run(db, "stage", "history", "ACME", "--format", "json")
    assert rows[1]["duration_seconds"] == 54 * 86_400 + 23 * 3_600


def test_followups_help_says_the_queue_is_todays() -> None:
    result = CliRunner().invoke(cli, ["followups", "--help"])
    assert "The queue itself is today's" in " ".join(result.output.split())
