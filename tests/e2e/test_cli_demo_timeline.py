"""``touchlog demo`` and ``touchlog timeline`` end to end."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from tests.cli import run


def events(db: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])


def test_demo_builds_a_sample_and_shows_timeline_stages_and_queue(sqlite_url: str) -> None:
    result = run(sqlite_url, "demo", "--customers", "40")
    assert result.exit_code == 0, result.stderr
    assert "Timeline of CUST-0001" in result.stdout
    assert "Customers per stage" in result.stdout and "Overdue follow-ups" in result.stdout
    assert result.stdout.rstrip().endswith(
        f"touchlog --db {sqlite_url} report html -o report.html")
    archive = json.loads(run(sqlite_url, "customer", "show", "CUST-0002",
                             "--format", "json").stdout)
    assert archive["retracted_contacts"] == 1


def test_running_the_demo_twice_adds_nothing(sqlite_url: str) -> None:
    first = run(sqlite_url, "demo", "--customers", "30", "--seed", "3")
    count = events(sqlite_url)
    second = run(sqlite_url, "demo", "--customers", "30", "--seed", "3", "--force")
    assert second.exit_code == 0, second.stderr
    assert events(sqlite_url) == count
    assert first.stdout.split("Customers per stage")[0] == \
        second.stdout.split("Customers per stage")[0]


def timeline_db(sqlite_url: str) -> str:
    for at, channel, extra in [("2018-01-05", "phone", ["--stage", "exploration"]),
                               ("2018-02-05", "email", ["--id", "c-2"]),
                               ("2018-03-05", "store", ["--amount", "1054.00"])]:
        run(sqlite_url, "contact", "log", "ACME", "--channel", channel, "--at", at,
            "--actor", "ann", *extra)
    return sqlite_url


def entries(db: str, *args: str) -> list[dict[str, Any]]:
    result = run(db, "timeline", "ACME", "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    return list(json.loads(result.stdout))


def test_timeline_json_interleaves_contacts_and_stage_changes_in_occurred_order(
        sqlite_url: str) -> None:
    got = entries(timeline_db(sqlite_url))
    assert [e["type"] for e in got] == ["contact", "stage_changed", "contact", "contact"]
    contact = got[-1]
    assert {"contact_id", "occurred_at", "recorded_at", "channel", "initiated_by", "purpose",
            "summary", "place", "actor", "outcome", "rating", "amount", "stage_signal",
            "retracted"} <= set(contact)
    assert (contact["amount"], contact["at"]) == ("1054.00", "2018-03-05T00:00:00+00:00")


def test_timeline_filters_by_time_and_channel(sqlite_url: str) -> None:
    db = timeline_db(sqlite_url)
    assert [e["channel"] for e in entries(db, "--since", "2018-02-01")] == ["email", "store"]
    assert [e["channel"] for e in entries(db, "--until", "2018-02-01",
                                           "--channel", "phone")] == ["phone"]


def test_timeline_table_is_one_short_line_per_entry(sqlite_url: str) -> None:
    result = run(timeline_db(sqlite_url), "timeline", "ACME", "--format", "table")
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["at", "type", "channel", "actor", "detail"]
    assert lines[2].startswith("2018-01-05 ") and "signals exploration" in lines[2]
    assert "discovery → exploration" in lines[3]


def test_timeline_csv_keeps_every_field(sqlite_url: str) -> None:
    result = run(timeline_db(sqlite_url), "timeline", "ACME", "--format", "csv")
    assert result.stdout.splitlines()[0].startswith("type,at,contact_id,occurred_at")


def test_timeline_errors_exit_1_or_2(sqlite_url: str, tmp_path: Any) -> None:
    db = timeline_db(sqlite_url)
    unknown = run(db, "timeline", "NOBODY")
    assert unknown.exit_code == 1 and "no customer 'NOBODY'" in unknown.stderr
    bad = run(db, "timeline", "ACME", "--since", "last week")
    assert bad.exit_code == 1 and "since: expected an ISO 8601" in bad.stderr
    nodb = run(str(tmp_path / "none.db"), "timeline", "ACME")
    assert nodb.exit_code == 1 and "no database at" in nodb.stderr
    usage = run(db, "timeline", "ACME", "--format", "xml")
    assert usage.exit_code == 2
