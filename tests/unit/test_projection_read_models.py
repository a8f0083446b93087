"""Each projection fed events straight from the Customer aggregate (no event store).

The events go through the stored form (the mapper's JSON), as they would from the log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import Mapper

from touchlog.domain.customer import Customer
from touchlog.domain.storage.transcoder import PlainJSONTranscoder
from touchlog.domain.values import Stage
from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.readmodels.archive import ArchiveProjection
from touchlog.projections.readmodels.changes import apply, decode
from touchlog.projections.readmodels.followups import FollowUpsProjection
from touchlog.projections.readmodels.stages import StagesProjection

T0 = "2018-01-01T00:00:00+00:00"


def card(contact_id: str, occurred_at: str, **fields: Any) -> dict[str, Any]:
    base = {"contact_id": contact_id, "occurred_at": occurred_at, "channel": "phone",
            "initiated_by": "company", "purpose": None, "summary": None, "place": None,
            "actor": None, "outcome": None, "rating": None, "amount": None,
            "stage_signal": None, "reason_category": None,
            "deliberate": True, "hard": False, "active": True}
    return {**base, **fields}


MAPPER: Mapper[Any] = Mapper(transcoder=PlainJSONTranscoder())


@pytest.fixture
def db(tmp_path: Path) -> ReportingDB:
    return ReportingDB(str(tmp_path / "views.db"))


def feed(db: ReportingDB, projection: Any, customer: Customer, start: int = 0) -> int:
    stored = [MAPPER.to_stored_event(e) for e in customer.collect_events()]
    batch = decode([(start + i + 1, s.originator_id, s.originator_version, s.topic, s.state)
                    for i, s in enumerate(stored)])
    with db.transaction():
        apply(projection, db, batch)
    return start + len(batch)


def acme() -> Customer:
    c = Customer(reference="ACME", at=T0)
    c.log_contact(card("c1", "2018-01-05T00:00:00+00:00", amount="1000.00", rating=4))
    c.log_contact(card("c2", "2018-01-06T00:00:00+00:00", channel="email", amount="54.00",
                       rating=5, actor="bob"))
    c.log_contact(card("c3", "2018-01-07T00:00:00+00:00", amount="9.99", rating=1))
    return c


def test_archive_counts_live_contacts_with_exact_amounts(db: ReportingDB) -> None:
    c = acme()
    c.retract_contact("c3", "not a real customer")
    feed(db, ArchiveProjection(), c)
    [row] = db.query("SELECT * FROM archive_customers")
    assert (row["contacts"], row["purchases"], row["total_amount"]) == (2, 2, "1054.00")
    assert row["last_contact_at"] == "2018-01-06T00:00:00+00:00"
    assert row["average_rating"] == 4.5
    channels = db.query("SELECT channel, contacts FROM archive_channels ORDER BY channel")
    assert channels == [{"channel": "email", "contacts": 1}, {"channel": "phone", "contacts": 1}]


def test_retracted_contact_stays_visible_with_its_reason(db: ReportingDB) -> None:
    c = acme()
    c.retract_contact("c3", "duplicate card")
    feed(db, ArchiveProjection(), c)
    [row] = db.query("SELECT retracted, retraction_reason FROM archive_contacts "
                     "WHERE contact_id = 'c3'")
    assert row == {"retracted": 1, "retraction_reason": "duplicate card"}


def test_amendment_in_a_later_batch_recomputes_the_statistics(db: ReportingDB) -> None:
    c = acme()
    position = feed(db, ArchiveProjection(), c)
    c.amend_contact("c2", {"amount": "60.50", "occurred_at": "2018-02-01T00:00:00+00:00",
                           "channel": "phone"})
    feed(db, ArchiveProjection(), c, position)
    [row] = db.query("SELECT total_amount, last_contact_at FROM archive_customers")
    assert row == {"total_amount": "1070.49", "last_contact_at": "2018-02-01T00:00:00+00:00"}
    assert db.query("SELECT channel, contacts FROM archive_channels") == [
        {"channel": "phone", "contacts": 3}]


def test_open_follow_ups_count_drops_when_completed(db: ReportingDB) -> None:
    c = acme()
    c.schedule_follow_up("f1", "2018-02-01T00:00:00+00:00", "ann", at=T0, contact_id="c1")
    c.schedule_follow_up("f2", "2018-02-02T00:00:00+00:00", "ann", at=T0)
    c.complete_follow_up("f1", "2018-01-20T00:00:00+00:00")
    feed(db, ArchiveProjection(), c)
    assert db.query("SELECT open_follow_ups FROM archive_customers") == [{"open_follow_ups": 1}]


def test_stage_history_closes_each_stay_and_counts_cycles(db: ReportingDB) -> None:
    c = Customer(reference="ACME", at=T0)
    c.change_stage(Stage.DISSOLUTION, "2018-01-02T00:00:00+00:00", "moved away", "ann")
    position = feed(db, StagesProjection(), c)
    c.log_contact(card("c1", "2018-03-01T00:00:00+00:00", stage_signal="exploration"))
    feed(db, StagesProjection(), c, position)
    history = db.query("SELECT seq, cycle, from_stage, to_stage, left_at, duration_seconds "
                       "FROM stage_history ORDER BY seq")
    assert [(h["from_stage"], h["to_stage"], h["cycle"]) for h in history] == [
        (None, "discovery", 1), ("discovery", "dissolution", 1), ("dissolution", "exploration", 2)]
    assert history[0]["duration_seconds"] == 86400
    assert history[1]["left_at"] == "2018-03-01T00:00:00+00:00"
    assert history[2]["left_at"] is None
    assert db.query("SELECT stage, cycle FROM stage_current") == [
        {"stage": "exploration", "cycle": 2}]


def test_the_cadence_reads_the_archives_owner_and_latest_live_contact(db: ReportingDB) -> None:
    def history() -> Customer:
        c = acme()
        c.update_profile({"owner": "ann"})
        c.retract_contact("c3", "wrong customer")
        c.schedule_follow_up("f1", "2018-02-01T00:00:00+00:00", "bob", at=T0, purpose="demo")
        c.reschedule_follow_up("f1", "2018-02-03T00:00:00+00:00", at=T0)
        return c

    feed(db, FollowUpsProjection(), history())
    feed(db, ArchiveProjection(), history())
    [customer] = db.query("SELECT owner, last_contact_at, last_contact_actor "
                          "FROM archive_customers")
    assert customer == {"owner": "ann", "last_contact_at": "2018-01-06T00:00:00+00:00",
                        "last_contact_actor": "bob"}
    [item] = db.query("SELECT due_at, status FROM followup_items")
    assert item == {"due_at": "2018-02-03T00:00:00+00:00", "status": "open"}
    assert db.query("SELECT customer FROM followup_customers") == [{"customer": "ACME"}]


def test_events_a_projection_does_not_use_are_skipped(db: ReportingDB) -> None:
    c = Customer(reference="ACME", at=T0)
    c.update_profile({"owner": "ann"})
    feed(db, StagesProjection(), c)
    assert db.query("SELECT stage, changes FROM stage_current") == [
        {"stage": "discovery", "changes": 1}]
