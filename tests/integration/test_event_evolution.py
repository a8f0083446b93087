"""Old events keep loading after their class gains a field (upcasting through our JSON form),
and new ones verify: their link covers the class version they are stored with."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from touchlog.domain.application import ContactEntry, TouchpointLog
from touchlog.domain.contact import Contact, ContactChanges, FollowUpPlan
from touchlog.domain.identity import customer_id
from touchlog.domain.settings import Settings
from touchlog.domain.storage.transcoder import EventMapper
from touchlog.projections.audit.verify import verify_chains
from touchlog.projections.readmodels.changes import decode


class Account(Aggregate):
    """Stands for any touchlog aggregate whose event gained a field in version 2."""

    class Opened(Aggregate.Created):
        class_version = 2
        name: str
        currency: str  # added in version 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            state["currency"] = "EUR"  # what every version-1 account implicitly used

    @event(Opened)
    def __init__(self, name: str, currency: str) -> None:
        self.name = name
        self.currency = currency


class AccountLog(TouchpointLog):
    """touchlog's application with Account's events as the only ones it resolves."""

    def construct_mapper(self) -> Mapper[uuid.UUID]:
        return EventMapper(self.construct_transcoder(),
                           {get_topic(Account.Opened): Account.Opened}, (get_topic(Account),))


@pytest.fixture
def app(tmp_path: Path) -> Iterator[TouchpointLog]:
    with AccountLog(Settings(db=str(tmp_path / "log.db"))) as log:
        yield log


@pytest.fixture
def customers(tmp_path: Path) -> Iterator[TouchpointLog]:
    """touchlog's own application, with the Customer's events."""
    with TouchpointLog(Settings(db=str(tmp_path / "customers.db"))) as log:
        yield log


def test_a_version_1_event_without_the_new_field_loads_upcast(app: TouchpointLog) -> None:
    account_id = uuid.uuid4()
    v1_state = {"name": "Acme", "originator_topic": get_topic(Account),
                "timestamp": "2018-01-05T00:00:00+00:00"}
    app.recorder.insert_events([StoredEvent(
        originator_id=account_id, originator_version=1, topic=get_topic(Account.Opened),
        state=json.dumps(v1_state).encode(),
    )])
    account = app.repository.get(account_id)
    assert (account.name, account.currency) == ("Acme", "EUR")


def test_new_events_record_their_class_version(app: TouchpointLog) -> None:
    account = Account(name="Beta", currency="USD")
    app.save(account)
    (stored,) = app.recorder.select_events(account.id)
    assert json.loads(stored.state)["class_version"] == 2
    assert app.repository.get(account.id).currency == "USD"


def test_contacts_and_stage_changes_stored_before_reason_categories_load_with_none(
        customers: TouchpointLog) -> None:
    """Version 1 of ContactLogged and StageChanged had no reason_category."""
    customers.log_contacts([ContactEntry("ACME", Contact(
        occurred_at="2018-01-05", channel="phone", stage_signal="dissolution",
        reason_category="died", contact_id="k1"))])
    customers.change_stage("ACME", "commitment", "back", "ann", at="2018-02-01")
    for stored in customers.recorder.select_events(customer_id("ACME"))[1:]:
        state = json.loads(stored.state)
        assert state["class_version"] in (2, 3) and "reason_category" in state
        del state["class_version"], state["reason_category"]  # as version 1 stored it
        for added in ("person", "attributes", "purchase", "source"):  # ContactLogged's v3
            state.pop(added, None)
        old = StoredEvent(originator_id=stored.originator_id,
                          originator_version=stored.originator_version, topic=stored.topic,
                          state=json.dumps(state).encode())
        event = customers.mapper.to_domain_event(old)
        assert event.reason_category is None  # type: ignore[attr-defined]
        [change] = decode([(1, stored.originator_id, stored.originator_version, stored.topic,
                            old.state)])
        assert change.state["reason_category"] is None


def test_events_stored_before_sources_load_with_none(customers: TouchpointLog) -> None:
    """ContactLogged before version 3, and ContactAmended, ContactRetracted and
    FollowUpScheduled before version 2, had no source."""
    customers.log_contacts([ContactEntry("ACME", Contact(
        occurred_at="2018-01-05", channel="phone", actor="ann", contact_id="k1"),
        FollowUpPlan(due_at="2018-02-01"))])
    customers.amend_contact("ACME", "k1", ContactChanges(summary="called"))
    customers.retract_contact("ACME", "k1", "wrong customer")
    for stored in customers.recorder.select_events(customer_id("ACME"))[1:]:
        state = json.loads(stored.state)
        assert state["source"] is None
        del state["source"]
        state["class_version"] -= 1
        if state["class_version"] == 1:
            del state["class_version"]
        old = StoredEvent(originator_id=stored.originator_id,
                          originator_version=stored.originator_version, topic=stored.topic,
                          state=json.dumps(state).encode())
        assert customers.mapper.to_domain_event(old).source is None  # type: ignore[attr-defined]
        [change] = decode([(1, stored.originator_id, stored.originator_version, stored.topic,
                            old.state)])
        assert change.state["source"] is None


def test_events_of_version_2_are_chained_as_stored_with_their_class_version(
        customers: TouchpointLog) -> None:
    customers.log_contacts([ContactEntry("ACME", Contact(
        occurred_at="2018-01-05", channel="phone", stage_signal="dissolution",
        reason_category="died"))])
    customers.change_stage("ACME", "dissolution", "gone", "ann", at="2018-02-01",
                     reason_category="moved_away")
    report, _ = verify_chains(customers)
    assert report.intact and report.events == 3


def _stored_as(stored: StoredEvent, state: dict[str, object]) -> StoredEvent:
    return StoredEvent(originator_id=stored.originator_id,
                       originator_version=stored.originator_version, topic=stored.topic,
                       state=json.dumps(state).encode())


def test_contacts_and_profile_updates_stored_before_attributes_load_with_defaults(
        customers: TouchpointLog) -> None:
    """Version 2 of ContactLogged had no person, attributes or purchase flag; version 1 of
    ProfileUpdated no attributes: today's main wrote them so."""
    customers.log_contacts([ContactEntry("ACME", Contact(
        occurred_at="2018-01-05", channel="phone", amount="5.00", contact_id="k1"))])
    customers.update_profile("ACME", {"owner": "ann"})
    logged, profile = customers.recorder.select_events(customer_id("ACME"))[1:]
    contact_state = json.loads(logged.state)
    assert contact_state["class_version"] == 3
    for added in ("person", "attributes", "purchase"):
        del contact_state[added]
    contact_state["class_version"] = 2
    profile_state = json.loads(profile.state)
    assert profile_state["class_version"] == 2
    del profile_state["class_version"], profile_state["attributes"]
    old_contact = _stored_as(logged, contact_state)
    old_profile = _stored_as(profile, profile_state)
    contact = customers.mapper.to_domain_event(old_contact)
    assert (contact.person, contact.attributes, contact.purchase) == (  # type: ignore[attr-defined]
        None, {}, False)
    assert customers.mapper.to_domain_event(old_profile).attributes == {}  # type: ignore[attr-defined]
    changes = decode([(1, logged.originator_id, 2, logged.topic, old_contact.state),
                      (2, profile.originator_id, 3, profile.topic, old_profile.state)])
    assert (changes[0].state["person"], changes[0].state["attributes"],
            changes[0].state["purchase"]) == (None, {}, False)
    assert changes[1].state["attributes"] == {}
