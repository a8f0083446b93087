"""A relationship's stage history depends on the facts, never on the order they were recorded.

Random histories (stage signals, explicit changes, dissolutions with reason categories,
retractions, amendments of time, backdated contacts) are recorded in two random orders on
one log, as two customers with the same contact ids; their ``stage_history`` and
``stage_current`` rows (all but the customer and the log position), the aggregate's current
stage and the audit's must be identical, on SQLite and PostgreSQL. One order is projected
after every command (many small batches), the other once at the end (one batch).
"""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.databases import KINDS, for_kind
from touchlog.domain.application import ContactEntry, TouchpointLog
from touchlog.domain.contact import Contact, ContactChanges
from touchlog.domain.importing import import_file
from touchlog.domain.settings import Settings
from touchlog.projections.audit.replay import reconstruct
from touchlog.projections.queries.reads import Queries

EXAMPLES = int(os.environ.get("TOUCHLOG_STAGE_EXAMPLES", "30"))
T0 = datetime(2018, 1, 1, tzinfo=UTC)
STAGES = ["discovery", "exploration", "expansion", "commitment", "dissolution"]
SIGNALS = st.sampled_from([None, None, *STAGES])
CATEGORIES = st.sampled_from([None, "moved_away", "competition"])
_names = itertools.count()


@dataclass(frozen=True)
class ContactFact:
    contact_id: str
    hours: int  # after T0
    signal: str | None
    actor: str
    amended_hours: int | None  # an amendment of its time, or none
    retracted: bool
    category: str | None  # why the relationship ended, with a dissolution signal


@dataclass(frozen=True)
class ExplicitChange:
    hours: int
    stage: str
    reason: str
    category: str | None


@dataclass(frozen=True)
class History:
    contacts: tuple[ContactFact, ...]
    changes: tuple[ExplicitChange, ...]

    def commands(self) -> list[tuple[str, int]]:
        ops = [("log", n) for n in range(len(self.contacts))]
        ops += [("amend", n) for n, c in enumerate(self.contacts) if c.amended_hours is not None]
        ops += [("retract", n) for n, c in enumerate(self.contacts) if c.retracted]
        ops += [("set", n) for n in range(len(self.changes))]
        return ops


HOURS = st.integers(min_value=0, max_value=24 * 60)


@st.composite
def histories(draw: st.DrawFn) -> History:
    def category(stage: str | None) -> str | None:
        return draw(CATEGORIES) if stage == "dissolution" else None

    signals = [draw(SIGNALS) for _ in range(draw(st.integers(1, 6)))]
    contacts = tuple(
        ContactFact(f"k{n}", draw(HOURS), signal, draw(st.sampled_from(["ann", "bob"])),
                    draw(st.none() | HOURS), draw(st.booleans() if n else st.just(False)),
                    category(signal))
        for n, signal in enumerate(signals))
    stages = [draw(st.sampled_from(STAGES)) for _ in range(draw(st.integers(0, 2)))]
    changes = tuple(ExplicitChange(draw(HOURS), stage, f"decided {n}", category(stage))
                    for n, stage in enumerate(stages))
    return History(contacts, changes)


@st.composite
def orders(draw: st.DrawFn, history: History) -> list[tuple[str, int]]:
    """A random recording order: a contact's log before its amendment before its
    retraction, and a contact logged first (it registers the customer)."""
    ops = draw(st.permutations(history.commands()))
    rank = {"log": 0, "amend": 1, "retract": 2}
    for n in range(len(history.contacts)):
        places = sorted(i for i, (kind, m) in enumerate(ops) if kind != "set" and m == n)
        mine = sorted((op for op in ops if op[0] != "set" and op[1] == n),
                      key=lambda op: rank[op[0]])
        for place, op in zip(places, mine, strict=True):
            ops[place] = op
    first = next(i for i, op in enumerate(ops) if op[0] == "log")
    ops.insert(0, ops.pop(first))
    return ops


def at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


def record(log: TouchpointLog, queries: Queries | None, reference: str, history: History,
           order: list[tuple[str, int]]) -> None:
    for kind, n in order:
        if kind == "set":
            change = history.changes[n]
            log.change_stage(reference, change.stage, change.reason, "carl", at=at(change.hours),
                             reason_category=change.category)
            if queries is not None:
                queries.stage(reference)
            continue
        contact = history.contacts[n]
        if kind == "log":
            log.log_contacts([ContactEntry(reference, Contact(
                occurred_at=at(contact.hours), channel="phone", actor=contact.actor,
                contact_id=contact.contact_id, stage_signal=contact.signal,
                reason_category=contact.category))])
        elif kind == "amend":
            assert contact.amended_hours is not None
            log.amend_contact(reference, contact.contact_id,
                              ContactChanges(occurred_at=at(contact.amended_hours)))
        else:
            log.retract_contact(reference, contact.contact_id, "not a real customer")
        if queries is not None:
            queries.stage(reference)  # catches the stages projection up: one small batch


def stage_rows(queries: Queries, reference: str) -> dict[str, Any]:
    current = queries.db.query(
        "SELECT stage, since, cycle, changes FROM stage_current WHERE customer = ?",
        [reference])
    history = queries.db.query(
        "SELECT * FROM stage_history WHERE customer = ? ORDER BY seq", [reference])
    for row in history:
        del row["customer"], row["position"]
    return {"current": current, "history": history}


def aggregate_stage(log: TouchpointLog, reference: str) -> tuple[str, str, int]:
    customer = log.customer(reference)
    return customer.stage.value, customer.stage_since, customer.cycle


def audit_stage(log: TouchpointLog, reference: str) -> tuple[str, str, int]:
    stage = reconstruct(log.history(reference))["stage"]
    return stage["stage"], stage["since"], stage["cycle"]


@pytest.fixture(params=KINDS, scope="module")
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[TouchpointLog, Queries]]:
    databases = for_kind(request, tmp_path_factory.mktemp("stages"))
    url = databases.new()
    log = TouchpointLog(Settings(db=url))
    queries = Queries(log)
    yield log, queries
    queries.close()
    log.close()
    databases.discard_all()


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_the_same_facts_in_any_recording_order_give_the_same_stage_history(
        store: tuple[TouchpointLog, Queries], data: st.DataObject) -> None:
    log, queries = store
    history = data.draw(histories())
    first, second = data.draw(orders(history)), data.draw(orders(history))
    one, two = f"A{next(_names)}", f"B{next(_names)}"
    record(log, queries, one, history, first)  # projected after every command
    record(log, None, two, history, second)  # projected once, at the end
    queries.stage(two)

    rows = stage_rows(queries, one)
    assert rows == stage_rows(queries, two)
    assert aggregate_stage(log, one) == aggregate_stage(log, two)
    current = rows["current"][0]
    assert aggregate_stage(log, one) == (current["stage"], _text(current["since"]),
                                         current["cycle"])
    assert audit_stage(log, one) == aggregate_stage(log, one) == audit_stage(log, two)
    assert all(r["duration_seconds"] is None or r["duration_seconds"] >= 0
               for r in rows["history"])


class Opener:
    """The import's LogOpener for an open log."""

    def __init__(self, log: TouchpointLog) -> None:
        self.log = log
        self.settings = log.settings

    def __call__(self) -> TouchpointLog:
        return self.log


def csv_file(reference: str, contacts: list[ContactFact]) -> io.StringIO:
    rows = [f"{reference},{at(c.hours).isoformat()},phone,{c.signal or ''},"
            f"{c.category or ''},{c.actor},{c.contact_id}\n" for c in contacts]
    return io.StringIO("customer,occurred_at,channel,stage,reason_category,actor,contact_id\n"
                       + "".join(rows))


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_two_csv_files_imported_in_either_order_give_the_same_stage_history(
        store: tuple[TouchpointLog, Queries], data: st.DataObject) -> None:
    """A CRM export and an activities export of one customer's contacts."""
    log, queries = store
    contacts = list(data.draw(histories()).contacts)
    split = data.draw(st.integers(0, len(contacts)))
    crm, activities = contacts[:split], contacts[split:]
    one, two = f"A{next(_names)}", f"B{next(_names)}"
    for reference, files in ((one, (crm, activities)), (two, (activities, crm))):
        for part in files:
            summary = import_file(Opener(log), csv_file(reference, part))
            assert summary.imported == len(part)
    assert stage_rows(queries, one) == stage_rows(queries, two)
    assert aggregate_stage(log, one) == aggregate_stage(log, two)


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def test_a_dissolution_dated_before_commitment_recorded_after_it_ends_in_commitment(
        tmp_path: Path) -> None:
    """The two-source customer: a CRM export says commitment in 2017, an activities export
    says the customer left in 2016; imported in either order, the relationship dissolved
    in 2016 and came back, committed, in cycle 2."""
    with TouchpointLog(Settings(db=str(tmp_path / "t.db"))) as log:
        queries = Queries(log)
        for reference, order in (("ONE", ["commitment", "dissolution"]),
                                 ("TWO", ["dissolution", "commitment"])):
            for signal in order:
                when = "2017-03-01T09:00" if signal == "commitment" else "2016-05-10T09:00"
                log.log_contacts([ContactEntry(reference, Contact(
                    occurred_at=when, channel="phone", actor="ann", stage_signal=signal,
                    contact_id=f"{signal}-1"))])
        for reference in ("ONE", "TWO"):
            history = [(r["seq"], r["cycle"], r["from_stage"], r["to_stage"],
                        _text(r["entered_at"]), r["left_at"] and _text(r["left_at"]))
                       for r in queries.stage_history(reference)]
            assert history == [
                (1, 1, None, "discovery", "2016-05-10T09:00:00+00:00",
                 "2016-05-10T09:00:00+00:00"),
                (2, 1, "discovery", "dissolution", "2016-05-10T09:00:00+00:00",
                 "2017-03-01T09:00:00+00:00"),
                (3, 2, "dissolution", "commitment", "2017-03-01T09:00:00+00:00", None),
            ], reference
            assert queries.stage(reference)["stage"] == "commitment"
            assert queries.stage(reference)["cycle"] == 2
            assert log.customer(reference).stage.value == "commitment"
        queries.close()
