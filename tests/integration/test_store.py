"""The event log on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from touchlog.domain.application import ContactEntry, TouchpointLog
from touchlog.domain.contact import Contact, ContactChanges, FollowUpPlan, validated
from touchlog.domain.customer import Customer
from touchlog.domain.errors import CustomerNotFound, InvalidInput, StoreError
from touchlog.domain.identity import customer_id
from touchlog.domain.settings import Settings
from touchlog.domain.storage.location import locate, redact
from touchlog.domain.storage.sqlite import PAGE_SIZE
from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.queries.timeline import CONTACT_FIELDS, TimelineFilter

EVENT_TYPES = {
    "Registered", "ProfileUpdated", "ContactLogged", "ContactAmended", "ContactRetracted",
    "StageChanged", "FollowUpScheduled", "FollowUpCompleted", "FollowUpCancelled",
    "FollowUpRescheduled",
}


@pytest.fixture
def app(db_url: str) -> Iterator[TouchpointLog]:
    with TouchpointLog(Settings(db=db_url)) as log:
        yield log


def card(**fields: Any) -> Contact:
    return validated(Contact, {"occurred_at": "2018-01-05T10:00", "channel": "phone",
                               "actor": "ann", **fields})


def full_history(app: TouchpointLog) -> None:
    """One customer through every kind of event."""
    app.update_profile("ACME", {"name": "Acme Ltd", "owner": "ann"})
    first = app.log_contact("ACME", card(stage_signal="exploration"),
                            follow_up=FollowUpPlan(due_at="2018-01-12"))
    second = app.log_contact("ACME", card(occurred_at="2018-01-06", amount="1054.00",
                                          summary="bought 中文 ünïcode"))
    app.amend_contact("ACME", second.contact_id, ContactChanges(rating=5), reason="typo")
    app.retract_contact("ACME", first.contact_id, "wrong customer", actor="bob")
    follow_up = app.schedule_follow_up("ACME", FollowUpPlan(due_at="2018-02-01", purpose="x"))
    app.reschedule_follow_up("ACME", follow_up, "2018-02-08", reason="holiday")
    app.cancel_follow_up("ACME", follow_up, "no longer needed")
    app.complete_follow_up("ACME", f"f-{first.contact_id[2:]}", contact_id=second.contact_id)
    app.change_stage("ACME", "dissolution", "moved away", "bob")


def stored_rows(app: TouchpointLog) -> list[tuple[str, bytes]]:
    notifications = app.recorder.select_notifications(start=None, limit=100_000)
    return [(n.topic, n.state) for n in notifications]


def test_every_event_type_round_trips_through_the_store(app: TouchpointLog) -> None:
    full_history(app)
    history = app.history("ACME")
    assert {type(e).__name__ for e in history} == EVENT_TYPES
    assert [e.originator_version for e in history] == list(range(1, len(history) + 1))
    amended = next(e for e in history if isinstance(e, Customer.ContactAmended))
    assert amended.changes == {"rating": 5}
    logged = [e for e in history if isinstance(e, Customer.ContactLogged)]
    assert logged[1].summary == "bought 中文 ünïcode" and logged[1].amount == "1054.00"
    assert all(isinstance(e.timestamp, datetime) and e.timestamp.tzinfo for e in history)


def test_timeline_reads_what_the_domain_events_hold(app: TouchpointLog) -> None:
    from touchlog.projections.queries.timeline import build_timeline, customer_events

    full_history(app)
    history = app.history("ACME")
    changes = customer_events(app, "ACME")
    assert [(c.position, c.kind) for c in changes] == [
        (e.originator_version, type(e).__name__) for e in history]
    entries = build_timeline(changes, TimelineFilter(include_retracted=True))
    logged = {e.contact_id: e for e in history if isinstance(e, Customer.ContactLogged)}
    contacts = [entry for entry in entries if entry["type"] == "contact"]
    assert [c["recorded_at"] for c in contacts] == [
        logged[c["contact_id"]].timestamp.isoformat() for c in contacts]
    assert all(list(c)[2:-1] == list(CONTACT_FIELDS) for c in contacts)  # type, at, …, reason
    assert {c["rating"] for c in contacts} == {None, 5}
    assert sum(c["retracted"] for c in contacts) == 1
    assert [e["type"] for e in entries].count("follow_up_rescheduled") == 1
    with pytest.raises(CustomerNotFound):
        customer_events(app, "NOBODY")


def test_stored_state_is_plain_json_without_type_tags(app: TouchpointLog) -> None:
    full_history(app)
    for topic, state in stored_rows(app):
        assert topic.startswith("touchlog.domain.customer:Customer.")
        decoded = json.loads(state)
        assert "_type_" not in state.decode() and "link" in decoded
        assert isinstance(decoded["timestamp"], str)


def test_replaying_a_customer_reproduces_its_state(app: TouchpointLog, db_url: str) -> None:
    full_history(app)
    before = app.customer("ACME")
    with TouchpointLog(Settings(db=db_url)) as fresh:
        replayed = fresh.customer("ACME")
    assert replayed == before  # every attribute, including the chain head
    assert replayed.stage.value == "dissolution" and replayed.open_follow_ups == {}


@pytest.mark.parametrize("bad", [
    lambda app: app.log_contact("ACME", card(occurred_at=datetime(2018, 1, 5))),
    lambda app: app.log_contact("ACME", card(channel="pigeon")),
    lambda app: app.log_contact("ACME", card(rating=7)),
    lambda app: app.log_contact("ACME", card(amount="-1")),
    lambda app: app.log_contact("  ", card()),
    lambda app: app.log_contact("ACME", card(stage_signal="courtship")),
    lambda app: app.change_stage("ACME", "courtship", "why", "bob"),
    lambda app: app.schedule_follow_up("ACME", FollowUpPlan(due_at="2018-01-01")),  # no owner
])
def test_bad_input_is_refused_and_nothing_is_written(app: TouchpointLog, bad: Any) -> None:
    app.log_contact("ACME", card())
    before = stored_rows(app)
    with pytest.raises(InvalidInput):
        bad(app)
    assert stored_rows(app) == before


def test_a_batch_with_one_bad_contact_writes_nothing(app: TouchpointLog) -> None:
    entries = [ContactEntry("A", card()), ContactEntry("B", card(channel="pigeon"))]
    with pytest.raises(InvalidInput, match="channel"):
        app.log_contacts(entries)
    assert stored_rows(app) == []


def test_register_says_whether_the_customer_is_new(app: TouchpointLog) -> None:
    assert app.register("ACME", at="2018-01-01") is True
    assert app.register("ACME") is False
    assert [type(e).__name__ for e in app.history("ACME")] == ["Registered"]


def test_a_reference_means_the_same_customer_whatever_the_surrounding_spaces(
    app: TouchpointLog,
) -> None:
    first = app.log_contact(" ACME ", card())
    again = app.log_contact("ACME", card())
    assert (first.reference, again.reference, again.logged) == ("ACME", "ACME", False)
    assert again.contact_id == first.contact_id
    assert app.customer(" ACME").reference == "ACME"


def test_a_stale_customer_cannot_overwrite_a_newer_one(app: TouchpointLog) -> None:
    from eventsourcing.persistence import IntegrityError

    app.log_contact("ACME", card())
    stale = app.customer("ACME")
    app.log_contact("ACME", card(summary="from another writer"))
    stale.update_profile({"name": "late"})
    with pytest.raises(IntegrityError):
        app.save(stale)


def _writer(db_url: str, worker: int, count: int) -> None:
    with TouchpointLog(Settings(db=db_url)) as app:
        for i in range(count):
            reference = f"C{(i * 7 + worker) % 20}"
            app.log_contact(reference, card(summary=f"w{worker}-{i}"),
                            follow_up=FollowUpPlan(due_at="2018-02-01") if i % 5 == 0 else None)


def test_concurrent_writers_lose_and_duplicate_nothing(db_url: str) -> None:
    with TouchpointLog(Settings(db=db_url)):
        pass  # create the tables before the writers race for it
    workers, count = 4, 40
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_writer, args=(db_url, w, count)) for w in range(workers)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(120)
        assert p.exitcode == 0
    with TouchpointLog(Settings(db=db_url)) as app:
        summaries = []
        for n in range(20):
            history = app.history(f"C{n}")
            assert [e.originator_version for e in history] == list(range(1, len(history) + 1))
            summaries += [e.summary for e in history if isinstance(e, Customer.ContactLogged)]
            customer = app.customer(f"C{n}")
            assert len(customer.follow_ups) == sum(
                isinstance(e, Customer.FollowUpScheduled) for e in history)
    assert sorted(summaries) == sorted(f"w{w}-{i}" for w in range(workers) for i in range(count))


def test_the_sqlite_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    with TouchpointLog(Settings(db=str(db))) as app:
        app.log_contact("ACME", card())
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600


def test_new_sqlite_files_have_pages_made_for_bulk_inserts(tmp_path: Path) -> None:
    log, reports = tmp_path / "log.db", tmp_path / "reports.db"
    with TouchpointLog(Settings(db=str(log))) as app:
        app.log_contact("ACME", card())
        ReportingDB(str(reports)).close()
    for path in (log, reports):
        with closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE == 16_384
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_queries_refuse_to_create_a_missing_database(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no database at"):
        TouchpointLog(Settings(db=str(tmp_path / "missing.db")), create=False)
    assert not (tmp_path / "missing.db").exists()


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        TouchpointLog(Settings(db=str(tmp_path / "no" / "such" / "log.db")))


def test_postgres_urls_become_library_settings_and_passwords_are_redacted() -> None:
    url = "postgresql://tl:s3cr%40t@db.example:6543/crm?schema=sales"
    location = locate(url)
    env = location.database.environment(location, create=False)
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == (
        "db.example", "6543", "crm")
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_SCHEMA"]) == (
        "tl", "s3cr@t", "sales")
    assert "s3cr" not in redact(url) and redact(url).startswith("postgresql://tl:***@db.example")


def test_a_password_in_the_query_string_is_used_and_redacted_as_libpq_does() -> None:
    url = "postgresql://tl@db.example/crm?sslmode=require&password=s3cr%40t&schema=sales"
    location = locate(url)
    env = location.database.environment(location, create=False)
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("tl", "s3cr@t")
    assert redact(url) == ("postgresql://tl@db.example/crm?sslmode=require&password=***"
                           "&schema=sales")
    both = "postgresql://tl:old@db.example/crm?password=new"  # libpq: the query string wins
    assert locate(both).database.environment(locate(both), create=False)[
        "POSTGRES_PASSWORD"] == "new"
    assert "old" not in redact(both) and "new" not in redact(both)


def test_an_unreachable_postgres_server_is_a_clear_error_without_the_password() -> None:
    with pytest.raises(StoreError) as refused:
        TouchpointLog(Settings(db="postgresql://tl:hunter2@127.0.0.1:1/nope"))
    assert "hunter2" not in str(refused.value) and "***" in str(refused.value)


def test_customer_ids_never_change_because_stored_events_depend_on_them() -> None:
    assert str(customer_id("ACME")) == "f8905d8a-0b88-5dad-8394-b6c321c1a04c"


_LARGE_SAVE = """
import sys
from touchlog.domain.application import ContactEntry, TouchpointLog
from touchlog.domain.contact import Contact
from touchlog.domain.settings import Settings
with TouchpointLog(Settings(db=sys.argv[1])) as app:
    app.log_contacts([ContactEntry(f"C{i % 500}", Contact(
        occurred_at="2019-03-01T10:00Z", channel="email", summary=f"s{i}"))
        for i in range(10_000)])
"""


def test_one_save_of_ten_thousand_events_completes(db_url: str) -> None:
    # The library's pipelined PostgreSQL insert hung on saves this large; the bound only
    # catches a hang (the save itself takes seconds).
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", _LARGE_SAVE, db_url], check=True, timeout=300)
    with TouchpointLog(Settings(db=db_url)) as app:
        assert len(app.recorder.select_notifications(start=None, limit=20_000)) == 10_500
