"""The example mappings of docs/mappings/ imported through the CLI, with no code.

Every expectation is computed by hand from the sample file beside each mapping (the
comments show the arithmetic): times in the mapping's time zone turned into UTC across
daylight-saving changes, references zero-padded, rows giving two contacts or none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run

MAPPINGS = Path(__file__).resolve().parents[2] / "docs" / "mappings"


def imported(db: str, sample: str, mapping: str, *options: str) -> dict[str, Any]:
    result = run(db, "import", str(MAPPINGS / sample), "--mapping", str(MAPPINGS / mapping),
                 "--format", "json", *options)
    assert result.exit_code == 0, result.stderr
    return dict(json.loads(result.stdout))


def timeline(db: str, customer: str) -> list[dict[str, Any]]:
    result = run(db, "timeline", customer, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return list(json.loads(result.stdout))


def contacts(db: str, customer: str) -> list[tuple[str, str, str]]:
    return [(e["contact_id"], e["occurred_at"], e["channel"]) for e in timeline(db, customer)
            if e["type"] == "contact"]


def archive(db: str, customer: str) -> dict[str, Any]:
    result = run(db, "archive", customer, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return dict(json.loads(result.stdout)[0])


def followups(db: str) -> list[tuple[str, str, str, str]]:
    result = run(db, "followups", "--format", "json")
    assert result.exit_code == 0, result.stderr
    return sorted((f["customer"], f["kind"], f["due_at"], f["owner"])
                  for f in json.loads(result.stdout) if f["kind"] == "scheduled")


def test_a_pipeline_export_gives_each_deal_its_opening_and_its_close(db_url: str) -> None:
    summary = imported(db_url, "pipeline.csv", "pipeline.toml")
    assert summary.pop("import").startswith("i-")
    assert summary == {"rows": 4, "imported": 6, "duplicates": 0, "changed": 0, "rejected": 0,
                       "customers": 3, "new_customers": 3,
                       "first_new_customers": ["00007", "00042", "00311"], "skipped": 0,
                       "records": {"opened": 4, "won": 1, "lost": 1}}
    # Organisation 42 is customer 00042 (zero_pad = 5). Berlin is UTC+1 until the clocks go
    # forward on 26 March 2017, UTC+2 after: 10:15 → 09:15Z, 16:40 → 15:40Z, 09:00 → 07:00Z.
    assert contacts(db_url, "00042") == [
        ("pipedrive-deal-101:opened", "2017-01-09T09:15:00+00:00", "personal"),
        ("pipedrive-deal-101:closed", "2017-03-24T15:40:00+00:00", "personal"),
        ("pipedrive-deal-102:opened", "2017-05-02T07:00:00+00:00", "personal")]
    acme = archive(db_url, "00042")
    assert (acme["stage"], acme["purchases"], acme["total_amount"]) == ("commitment", 1,
                                                                         "12500.00")
    # Organisation 7: opened 26.03.2017 01:30, an hour before the change (UTC+1); lost at
    # 02:30 on 29 October, an hour the clocks went through twice: the first, UTC+2.
    assert contacts(db_url, "00007") == [
        ("pipedrive-deal-103:opened", "2017-03-26T00:30:00+00:00", "personal"),
        ("pipedrive-deal-103:closed", "2017-10-29T00:30:00+00:00", "personal")]
    lost = [e for e in timeline(db_url, "00007") if e["type"] == "contact"][1]
    assert (lost["outcome"], lost["summary"]) == ("negative", "lost reason: zu teuer")
    # Next activity dates are dates: midnight in Berlin (UTC+2 in summer) is 22:00Z before.
    assert followups(db_url) == [
        ("00042", "scheduled", "2017-05-14T22:00:00+00:00", "anna"),
        ("00311", "scheduled", "2017-07-31T22:00:00+00:00", "ben")]
    again = imported(db_url, "pipeline.csv", "pipeline.toml")
    assert (again["imported"], again["duplicates"]) == (0, 6)  # the ids make it idempotent


def test_a_hubspot_activities_export_gives_calls_emails_and_held_meetings(
        sqlite_url: str) -> None:
    summary = imported(sqlite_url, "hubspot-activities.csv", "hubspot-activities.toml")
    # The note, the task and the cancelled meeting give no contact.
    assert (summary["imported"], summary["skipped"], summary["records"]) == (
        4, 3, {"call": 2, "email": 1, "meeting": 1})
    # New York: UTC-5 until 11 March 2018 02:00, then UTC-4.
    assert contacts(sqlite_url, "1001") == [
        ("hubspot-9001", "2018-03-10T14:30:00+00:00", "phone"),
        ("hubspot-9002", "2018-03-11T18:05:00+00:00", "email"),
        ("hubspot-9003", "2018-03-12T14:00:00+00:00", "meeting")]
    events = timeline(sqlite_url, "1001")
    email = next(e for e in events if e.get("contact_id") == "hubspot-9002")
    assert (email["initiated_by"], email["purpose"]) == ("customer", "Re: pricing")
    assert archive(sqlite_url, "1001")["stage"] == "exploration"  # the completed demo
    # 01:30 on 4 November 2018 happened twice in New York: the first, still UTC-4.
    [call] = [e for e in timeline(sqlite_url, "2002") if e["type"] == "contact"]
    assert (call["occurred_at"], call["initiated_by"], call["outcome"]) == (
        "2018-11-04T05:30:00+00:00", "customer", "neutral")


def test_a_salesforce_task_export_gives_completed_tasks_and_their_reminders(
        sqlite_url: str) -> None:
    summary = imported(sqlite_url, "salesforce-tasks.csv", "salesforce-tasks.toml")
    # The open task and the task without an account give none.
    assert (summary["imported"], summary["skipped"], summary["customers"]) == (3, 2, 2)
    assert contacts(sqlite_url, "0015g00000C1cccAAA") == [
        ("salesforce-00T5g00000A1aaaEAA", "2018-01-24T03:12:16+00:00", "phone"),
        ("salesforce-00T5g00000A2aaaEAA", "2018-01-25T10:00:00+00:00", "email")]
    [inbound] = [e for e in timeline(sqlite_url, "0015g00000C2cccAAA") if e["type"] == "contact"]
    assert (inbound["initiated_by"], inbound["outcome"]) == ("customer", "neutral")
    assert followups(sqlite_url) == [
        ("0015g00000C1cccAAA", "scheduled", "2018-02-01T09:00:00+00:00", "0055g00000D1dddAAA")]


def test_a_whitespace_purchase_log_in_gb18030_fills_the_archive(sqlite_url: str) -> None:
    summary = imported(sqlite_url, "purchase-log.txt", "purchase-log.toml")
    assert (summary["rows"], summary["imported"], summary["customers"]) == (5, 5, 2)
    # "2" and "00002" are one customer; the two identical lines are two purchases.
    # Shanghai is UTC+8 all year: 10:02:11 → 02:02:11Z, 23:59:59 → 15:59:59Z.
    two = archive(sqlite_url, "00002")
    assert (two["purchases"], two["total_amount"], two["last_purchase_at"]) == (
        3, "99.95", "2017-02-02T15:59:59+00:00")  # 39.98 + 39.98 + 19.99
    seventeen = archive(sqlite_url, "00017")
    assert (seventeen["purchases"], seventeen["total_amount"]) == (2, "135.50")  # 120 + 15.5
    places = {e["place"] for e in timeline(sqlite_url, "00017") if e["type"] == "contact"}
    assert places == {"北京王府井店"}
    again = imported(sqlite_url, "purchase-log.txt", "purchase-log.toml")
    assert (again["imported"], again["duplicates"]) == (0, 5)


def test_a_web_visit_log_gives_the_visits_of_known_customers_by_medium(
        sqlite_url: str) -> None:
    summary = imported(sqlite_url, "web-visits.jsonl", "web-visits.toml")
    assert (summary["imported"], summary["skipped"]) == (3, 1)  # one anonymous visit
    # 19:00+02:00 is 17:00Z; the visit without a medium is on the web.
    assert contacts(sqlite_url, "00002") == [
        ("visit-e1", "2018-04-02T08:15:00+00:00", "advertising"),
        ("visit-e3", "2018-04-03T17:00:00+00:00", "email")]
    first = timeline(sqlite_url, "00002")[0]
    assert (first["place"], first["summary"], first["initiated_by"]) == (
        "/products/kettle", "campaign spring from nytimes", "customer")
    [typed_in] = timeline(sqlite_url, "00031")
    assert (typed_in["channel"], typed_in["place"], typed_in["summary"]) == (
        "web", "/blog/tea", None)


def test_a_dry_run_with_a_mapping_counts_per_record_and_shows_the_first_contacts(
        sqlite_url: str) -> None:
    summary = imported(sqlite_url, "pipeline.csv", "pipeline.toml", "--dry-run")
    assert summary["records"] == {"opened": 4, "won": 1, "lost": 1}
    assert summary["dry_run"] is True
    first, second = summary["preview"][:2]
    assert (first["line"], first["record"], first["customer"], first["contact_id"]) == (
        2, "opened", "00042", "pipedrive-deal-101:opened")
    assert (second["record"], second["amount"], second["stage_signal"]) == (
        "won", "12500.00", "commitment")
    assert not Path(sqlite_url).exists()  # nothing recorded, not even a database


@pytest.mark.parametrize("sample,mapping", [
    ("pipeline.csv", "pipeline.toml"), ("hubspot-activities.csv", "hubspot-activities.toml"),
    ("salesforce-tasks.csv", "salesforce-tasks.toml"),
    ("purchase-log.txt", "purchase-log.toml"), ("web-visits.jsonl", "web-visits.toml")])
def test_every_example_mapping_imports_its_sample_without_a_rejection(
        sqlite_url: str, sample: str, mapping: str) -> None:
    result = run(sqlite_url, "import", str(MAPPINGS / sample), "--mapping",
                 str(MAPPINGS / mapping), "--format", "json")
    # stderr names the database it created, nothing else
    assert result.exit_code == 0 and result.stderr.startswith("created a new database at ")
    assert len(result.stderr.splitlines()) == 1
    assert json.loads(result.stdout)["imported"] > 0
