"""``customer merge``: a duplicate read as the customer kept, in every view, from both
streams left as they are (docs/cli.md "customer merge")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import ok, run
from touchlog.domain.application import TouchpointLog
from touchlog.domain.customer import EVENT_CLASSES, Customer
from touchlog.domain.settings import Settings
from touchlog.projections.engine.runner import Projector


def contact(db: str, reference: str, at: str, *extra: str) -> str:
    return str(ok(db, "contact", "log", reference, "--channel", "phone", "--at", at,
                  *extra)["contact_id"])


def duplicates(db: str) -> dict[str, str]:
    """KEEP (exploration since 2018) and its duplicate "Keep co" (commitment since 2017,
    with a purchase, a follow-up, an email and an owner); each read once by the tables."""
    ids = {
        "keep": contact(db, "KEEP", "2018-01-10", "--stage", "exploration", "--actor", "ann"),
        "dup": contact(db, "Keep co", "2017-05-01", "--stage", "commitment", "--amount",
                       "120.50", "--rating", "4", "--follow-up-due", "2018-06-01",
                       "--follow-up-owner", "bob"),
        "dup_later": contact(db, "Keep co", "2017-09-01", "--channel", "email"),
    }
    ok(db, "customer", "set", "Keep co", "--email", "buyer@keep.example", "--owner", "bob")
    ok(db, "customer", "set", "KEEP", "--name", "Keep Ltd")
    ok(db, "archive")  # the tables have seen both apart
    return ids


def merged(db: str) -> dict[str, str]:
    ids = duplicates(db)
    ok(db, "customer", "merge", "Keep co", "--into", "KEEP", "--reason", "one company",
       "--actor", "ann")
    return ids


def test_merge_records_the_merge_on_both_customers(db_url: str) -> None:
    ids = duplicates(db_url)
    result = ok(db_url, "customer", "merge", "Keep co", "--into", "KEEP", "--reason",
                "one company", "--actor", "ann")

    assert result == {"merged": "Keep co", "into": "KEEP", "reason": "one company"}
    with TouchpointLog(Settings(db=db_url)) as log:
        dup, keep = log.history("Keep co"), log.history("KEEP")
    assert isinstance(dup[-1], Customer.MergedInto) and dup[-1].into == "KEEP"
    assert isinstance(keep[-1], Customer.MergedFrom) and keep[-1].merged == "Keep co"
    assert (dup[-1].reason, keep[-1].actor) == ("one company", "ann")
    # Both streams are as they were before, plus the merge.
    assert [e.contact_id for e in dup if isinstance(e, Customer.ContactLogged)] == [
        ids["dup"], ids["dup_later"]]
    assert [e.contact_id for e in keep if isinstance(e, Customer.ContactLogged)] == [ids["keep"]]
    # verify reads only the topics of Customer's own event classes: these are among them.
    assert {"touchlog.domain.customer:Customer.MergedInto",
            "touchlog.domain.customer:Customer.MergedFrom"} <= EVENT_CLASSES.keys()
    assert ok(db_url, "verify")["intact"] and ok(db_url, "verify", "--projections")["intact"]


def test_every_view_shows_the_duplicate_under_the_customer_kept(db_url: str,
                                                                tmp_path: Path) -> None:
    ids = merged(db_url)

    [record] = ok(db_url, "archive")
    assert record["customer"] == "KEEP"
    assert (record["contacts"], record["purchases"], record["total_amount"]) == (3, 1, "120.50")
    assert (record["first_contact_at"], record["open_follow_ups"]) == (
        "2017-05-01T00:00:00+00:00", 1)
    assert record["channels"] == {"email": 1, "phone": 2}
    # The stage history is derived from both customers' facts: commitment since 2017 (a
    # signal behind it, exploration in 2018, changes nothing).
    assert record["stage"] == "commitment"
    history = ok(db_url, "stage", "history", "KEEP")
    assert [(s["to_stage"], s["entered_at"][:10]) for s in history] == [
        ("discovery", "2017-05-01"), ("commitment", "2017-05-01")]
    [listed] = ok(db_url, "customer", "list")
    assert (listed["customer"], listed["name"], listed["email"], listed["owner"]) == (
        "KEEP", "Keep Ltd", "buyer@keep.example", "bob")
    queue = ok(db_url, "followups", "--as-of", "2018-05-01", "--status", "all")
    assert [(q["customer"], q["kind"], q["owner"]) for q in queue
            if q["kind"] == "scheduled"] == [("KEEP", "scheduled", "bob")]
    shown = ok(db_url, "customer", "show", "KEEP")
    assert (shown["contacts"], shown["stage"], shown["merged"]) == (3, "commitment",
                                                                    ["Keep co"])
    timeline = ok(db_url, "timeline", "KEEP")
    assert {e["contact_id"] for e in timeline if e["type"] == "contact"} == set(ids.values())
    assert [e["merged"] for e in timeline if e["type"] == "merged"] == ["Keep co"]
    out = tmp_path / "contacts.jsonl"
    assert run(db_url, "export", "contacts", "--format", "jsonl", "-o", str(out)).exit_code == 0
    assert {json.loads(line)["customer"] for line in out.read_text().splitlines()} == {"KEEP"}
    rfm = ok(db_url, "report", "rfm-customers")
    assert [r["customer"] for r in rfm] == ["KEEP"]


def test_the_duplicates_reference_reads_and_records_as_the_customer_kept(db_url: str) -> None:
    ids = merged(db_url)

    assert ok(db_url, "stage", "show", "Keep co")["customer"] == "KEEP"
    assert ok(db_url, "customer", "show", "Keep co")["customer"] == "KEEP"
    assert len(ok(db_url, "timeline", "Keep co")) == len(ok(db_url, "timeline", "KEEP"))
    logged = ok(db_url, "contact", "log", "Keep co", "--channel", "web", "--at", "2018-08-01")
    assert logged["customer"] == "KEEP" and logged["logged"]
    again = ok(db_url, "contact", "log", "Keep co", "--channel", "phone", "--at", "2017-05-01",
               "--stage", "commitment", "--amount", "120.50", "--rating", "4")
    assert again == {"customer": "KEEP", "contact_id": ids["dup"], "logged": False}
    # The duplicate's own contacts and follow-ups are corrected through either reference.
    amended = ok(db_url, "contact", "amend", ids["dup"], "--customer", "Keep co",
                 "--summary", "first order")
    assert amended["customer"] == "KEEP"
    ok(db_url, "contact", "retract", ids["dup_later"], "--reason", "wrong customer")
    [follow_up] = ok(db_url, "customer", "show", "KEEP")["open_follow_ups"]
    ok(db_url, "followup", "complete", "Keep co", follow_up["follow_up_id"], "--actor", "ann")
    ok(db_url, "stage", "show", "KEEP")
    [record] = ok(db_url, "archive")
    assert (record["contacts"], record["open_follow_ups"]) == (3, 0)
    with TouchpointLog(Settings(db=db_url)) as log:  # the duplicate's stream ended
        assert isinstance(log.history("Keep co")[-1], Customer.MergedInto)
    assert ok(db_url, "verify")["intact"]
    assert ok(db_url, "verify", "--projections")["intact"]


def test_merge_then_rebuild_gives_the_read_models_of_merge_then_incremental(
        db_url: str) -> None:
    ids = merged(db_url)
    ok(db_url, "archive")
    contact(db_url, "Keep co", "2018-09-01", "--stage", "dissolution")
    ok(db_url, "followups")
    ok(db_url, "contact", "amend", ids["dup_later"], "--customer", "KEEP", "--at", "2016-12-01")
    ok(db_url, "customer", "set", "Keep co", "--phone", "555")
    ok(db_url, "customer", "list")

    with TouchpointLog(Settings(db=db_url)) as log:
        projector = Projector(log)
        try:
            projector.catch_up()
            incremental = projector.snapshot()
            projector.rebuild()
            rebuilt = projector.snapshot()
        finally:
            projector.close()
    assert rebuilt == incremental
    assert {r["customer"] for r in incremental["archive_customers"]} == {"KEEP"}
    assert {r["customer"] for r in incremental["stage_facts"]} == {"KEEP"}
    assert ok(db_url, "verify", "--projections")["intact"]
    assert ok(db_url, "verify")["intact"]


def test_audit_as_of_before_the_merge_shows_them_apart(db_url: str) -> None:
    ids = merged(db_url)

    before = "2018-02-01"
    keep = ok(db_url, "audit", "KEEP", "--as-of", before)
    dup = ok(db_url, "audit", "Keep co", "--as-of", before)
    assert [c["contact_id"] for c in keep["contacts"]] == [ids["keep"]]
    assert {c["contact_id"] for c in dup["contacts"]} == {ids["dup"], ids["dup_later"]}
    assert (keep["stage"]["stage"], dup["stage"]["stage"]) == ("exploration", "commitment")


@pytest.mark.parametrize(("duplicate", "into", "message"), [
    ("KEEP", "KEEP", "a customer cannot be merged into itself"),
    ("Keep co", "KEEP", "was merged into 'KEEP' already"),
    ("OTHER", "Keep co", "was merged into 'KEEP'; merge into that one"),
    ("KEEP", "Keep co", "was merged into 'KEEP'; merge into that one"),
    ("OTHER", "keep", "no customer 'keep'; did you mean 'KEEP'?"),
])
def test_merges_that_cannot_be_are_refused(db_url: str, duplicate: str, into: str,
                                           message: str) -> None:
    merged(db_url)
    contact(db_url, "OTHER", "2018-01-01")
    with TouchpointLog(Settings(db=db_url)) as log:
        events = log.recorder.max_notification_id()

    result = run(db_url, "customer", "merge", duplicate, "--into", into, "--reason", "x")

    assert result.exit_code == 1 and message in result.stderr, result.output
    assert "Traceback" not in result.output
    with TouchpointLog(Settings(db=db_url)) as log:
        assert log.recorder.max_notification_id() == events  # nothing recorded


def test_a_merge_needs_a_reason(db_url: str) -> None:
    duplicates(db_url)
    result = run(db_url, "customer", "merge", "Keep co", "--into", "KEEP", "--reason", " ")
    assert result.exit_code == 1 and "a merge needs a reason" in result.stderr


def test_a_second_duplicate_merges_into_the_same_customer(db_url: str) -> None:
    merged(db_url)
    contact(db_url, "KEEP-3", "2016-01-01")
    ok(db_url, "customer", "merge", "KEEP-3", "--into", "KEEP", "--reason", "also one")

    [record] = ok(db_url, "archive")
    assert record["contacts"] == 4 and ok(db_url, "customer", "show", "KEEP")["merged"] == [
        "Keep co", "KEEP-3"]
    assert ok(db_url, "verify", "--projections")["intact"]


def test_customers_holding_one_contact_id_twice_cannot_be_merged(db_url: str) -> None:
    for reference in ("KEEP", "Keep co"):
        ok(db_url, "contact", "log", reference, "--channel", "phone", "--at", "2018-01-01",
           "--id", "crm-17")
    result = run(db_url, "customer", "merge", "Keep co", "--into", "KEEP", "--reason", "x")
    assert result.exit_code == 1 and "both customers hold the id 'crm-17'" in result.stderr
    assert ok(db_url, "customer", "show", "Keep co")["merged"] == []
