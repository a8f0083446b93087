"""``Queries.followups``: the queue the SQL builds equals the queue worked out item by item.

The reference below is the queue's definition in plain Python (what the query did before it
moved into SQL): scheduled follow-ups still open, plus one cadence item per customer with a
live contact whose stage has a cadence, due that many days after the last contact (none
when that falls after 9999-12-31), going to the customer's owner or, without one (or with a
blank one), to the last contact's actor; overdue when due before the as-of time; sorted by
due time, then customer, a customer's scheduled items before its cadence item. The tables
are filled directly, so the edges the projection rarely produces (blank owners, instants
at both ends of the calendar, equal due times) are easy to reach, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from touchlog.domain.application import TouchpointLog
from touchlog.domain.contact import Contact, FollowUpPlan
from touchlog.domain.settings import Settings
from touchlog.domain.values import Stage
from touchlog.projections.queries.reads import Queries

STAGES = [s.value for s in Stage]
FIRST = datetime(1, 1, 1, tzinfo=UTC)
LAST = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)


@dataclass(frozen=True)
class Customer:
    customer: str
    stage: str
    owner: str | None
    last_contact_at: datetime | None
    last_contact_actor: str | None


@dataclass(frozen=True)
class Item:
    customer: str
    follow_up_id: str
    due_at: datetime
    owner: str
    purpose: str | None
    status: str


def reference(customers: list[Customer], items: list[Item], cadence: dict[str, int | None],
              owner: str | None, moment: datetime, status: str,
              within_days: int | None) -> list[dict[str, Any]]:
    stage_of = {c.customer: c.stage for c in customers}
    queue: list[tuple[datetime, dict[str, Any]]] = []
    for i in items:
        if i.status == "open" and i.customer in stage_of:
            queue.append((i.due_at, {
                "customer": i.customer, "kind": "scheduled", "follow_up_id": i.follow_up_id,
                "due_at": i.due_at.isoformat(), "owner": i.owner, "purpose": i.purpose,
                "stage": stage_of[i.customer]}))
    for c in customers:
        days = cadence.get(c.stage)
        if not days or c.last_contact_at is None:
            continue
        try:
            due = c.last_contact_at + timedelta(days=days)
        except OverflowError:
            continue
        queue.append((due, {
            "customer": c.customer, "kind": "cadence", "follow_up_id": None,
            "due_at": due.isoformat(), "owner": c.owner or c.last_contact_actor,
            "purpose": f"stay in touch ({c.stage}: every {days} days)", "stage": c.stage}))
    try:
        horizon = moment + timedelta(days=within_days) if within_days is not None else None
    except OverflowError:
        horizon = None
    chosen = []
    for due, item in queue:
        item["status"] = "overdue" if due < moment else "upcoming"
        if owner is not None and item["owner"] != owner:
            continue
        if status != "all" and item["status"] != status:
            continue
        if horizon is not None and item["status"] == "upcoming" and due > horizon:
            continue
        chosen.append(item)
    chosen.sort(key=order)
    return chosen


def order(item: dict[str, Any]) -> tuple[datetime, str, bool]:
    return datetime.fromisoformat(item["due_at"]), item["customer"], item["kind"] == "cadence"


def everything(item: dict[str, Any]) -> tuple[Any, ...]:
    return (*order(item), item["follow_up_id"] or "")


class Tables:
    """One database whose follow-up items, and each customer's owner, last live contact
    and stage (archive_customers, stage_current), the test fills itself (the log stays
    empty)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.log = TouchpointLog(Settings(db=url))
        self.queries = Queries(self.log)
        self.db = self.queries.db

    def fill(self, customers: list[Customer], items: list[Item]) -> None:
        with self.db.transaction():
            self.db.execute("DELETE FROM archive_customers")
            self.db.execute("DELETE FROM followup_items")
            self.db.execute("DELETE FROM stage_current")
            self.db.executemany(
                "INSERT INTO archive_customers (customer, customer_id, contacts, purchases, "
                "total_amount, open_follow_ups, owner, last_contact_at, last_contact_actor, "
                "position) VALUES (?, ?, 1, 0, '0', 0, ?, ?, ?, 1)",
                [[c.customer, f"id-{c.customer}", c.owner, _text(c.last_contact_at),
                  c.last_contact_actor] for c in customers])
            self.db.executemany(
                "INSERT INTO stage_current (customer, customer_id, stage, since, cycle, "
                "changes, position) VALUES (?, ?, ?, ?, 1, 1, 1)",
                [[c.customer, f"id-{c.customer}", c.stage, _text(FIRST)] for c in customers])
            self.db.executemany(
                "INSERT INTO followup_items (customer, follow_up_id, due_at, owner, purpose, "
                "status, position) VALUES (?, ?, ?, ?, ?, ?, 1)",
                [[i.customer, i.follow_up_id, _text(i.due_at), i.owner, i.purpose, i.status]
                 for i in items])

    def followups(self, cadence: dict[str, int | None], **query: Any) -> list[dict[str, Any]]:
        self.log.settings = Settings(db=self.url, cadence_days={
            Stage(stage): days for stage, days in cadence.items()})
        return self.queries.followups(**query)

    def close(self) -> None:
        self.queries.close()
        self.log.close()


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


@pytest.fixture
def tables(db_url: str) -> Iterator[Tables]:
    t = Tables(db_url)
    yield t
    t.close()


# Few distinct values, so that equal due times, shared owners and ties between customers
# come up often; instants at both ends of the calendar, with and without microseconds.
REFS = st.sampled_from(["A", "B", "C", "a", "Z9", "É"])
PEOPLE = st.sampled_from([None, "", "ann", "bob", "Ann"])
INSTANTS = st.one_of(
    st.sampled_from([datetime(2018, 1, d, 9, tzinfo=UTC) for d in (1, 5, 12, 19, 26)]),
    st.sampled_from([FIRST, FIRST + timedelta(days=3, microseconds=1), LAST,
                     LAST - timedelta(days=7), LAST - timedelta(days=30, hours=1),
                     datetime(2018, 1, 19, 9, 0, 0, 500_000, tzinfo=UTC)]),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59),
                 timezones=st.just(UTC)),
)
CUSTOMERS = st.lists(st.builds(Customer, REFS, st.sampled_from(STAGES), PEOPLE,
                               st.one_of(st.none(), INSTANTS), PEOPLE),
                     max_size=8, unique_by=lambda c: c.customer)
ITEMS = st.lists(st.builds(Item, REFS, st.sampled_from(["f1", "f2", "f3"]), INSTANTS,
                           st.sampled_from(["ann", "bob", ""]), st.sampled_from([None, "demo"]),
                           st.sampled_from(["open", "open", "completed", "cancelled"])),
                 max_size=10, unique_by=lambda i: (i.customer, i.follow_up_id))
DAYS = st.sampled_from([None, 1, 7, 14, 30, 3_652_058, 3_652_059, 10**12])
CADENCE = st.fixed_dictionaries({stage: DAYS for stage in STAGES})
QUERY = st.fixed_dictionaries({
    "owner": st.sampled_from([None, "ann", "bob", "", "zed"]),
    "as_of": INSTANTS,
    "status": st.sampled_from(["all", "overdue", "upcoming"]),
    "within_days": st.sampled_from([None, 0, 1, 7, 10_000, 4_000_000]),
})


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(customers=CUSTOMERS, items=ITEMS, cadence=CADENCE, query=QUERY)
def test_the_queue_equals_its_definition(tables: Tables, customers: list[Customer],
                                         items: list[Item], cadence: dict[str, int | None],
                                         query: dict[str, Any]) -> None:
    tables.fill(customers, items)
    got = tables.followups(cadence, **query)
    want = reference(customers, items, cadence, query["owner"], query["as_of"],
                     query["status"], query["within_days"])
    assert [order(i) for i in got] == [order(i) for i in want]
    assert sorted(got, key=everything) == sorted(want, key=everything)
    assert all(list(i) == list(want[0]) for i in got)  # the keys, in the contract's order


def test_a_blank_owner_sends_the_cadence_item_to_the_last_actor(db_url: str) -> None:
    with TouchpointLog(Settings(db=db_url)) as log:
        log.update_profile("ACME", {"owner": ""})
        log.log_contact("ACME", Contact(occurred_at="2018-01-05", channel="phone",
                                        actor="bob"))
        queries = Queries(log)
        [everyone] = queries.followups(as_of="2018-01-10")
        assert (everyone["kind"], everyone["owner"]) == ("cadence", "bob")
        assert queries.followups(owner="bob", as_of="2018-01-10") == [everyone]
        assert queries.followups(owner="", as_of="2018-01-10") == []
        queries.close()


def test_equal_due_times_list_scheduled_items_first_then_by_customer(tables: Tables) -> None:
    due = datetime(2018, 1, 19, 9, tzinfo=UTC)
    tables.fill([Customer("B", "discovery", "ann", datetime(2018, 1, 5, 9, tzinfo=UTC), None),
                 Customer("A", "discovery", "ann", datetime(2018, 1, 5, 9, tzinfo=UTC), None)],
                [Item("B", "f1", due, "ann", None, "open"),
                 Item("A", "f1", due, "ann", None, "open")])
    got = tables.followups({"discovery": 14}, owner="ann", as_of="2018-01-01")
    assert [(i["customer"], i["kind"], i["due_at"]) for i in got] == [
        ("A", "scheduled", "2018-01-19T09:00:00+00:00"),
        ("A", "cadence", "2018-01-19T09:00:00+00:00"),
        ("B", "scheduled", "2018-01-19T09:00:00+00:00"),
        ("B", "cadence", "2018-01-19T09:00:00+00:00")]


def test_a_horizon_past_the_calendar_keeps_everything(tables: Tables) -> None:
    tables.fill([Customer("A", "discovery", "ann", LAST - timedelta(days=20), None)],
                [Item("A", "f1", LAST, "ann", None, "open")])
    got = tables.followups({"discovery": 14}, as_of="9999-12-30", within_days=10)
    assert [(i["kind"], i["status"]) for i in got] == [("cadence", "overdue"),
                                                       ("scheduled", "upcoming")]


def test_a_cadence_longer_than_the_calendar_has_no_items(tables: Tables) -> None:
    tables.fill([Customer("A", "discovery", "ann", FIRST, None)], [])
    assert tables.followups({"discovery": 10**12}, as_of="2018-01-01") == []
    [item] = tables.followups({"discovery": 3_652_058}, as_of="2018-01-01")
    assert item["due_at"] == "9999-12-31T00:00:00+00:00"


def test_without_any_cadence_only_scheduled_items_are_listed(tables: Tables) -> None:
    tables.fill([Customer("A", "discovery", "ann", FIRST, None)],
                [Item("A", "f1", FIRST, "ann", "demo", "open")])
    got = tables.followups(dict.fromkeys(STAGES), owner="ann", as_of="0001-01-01")
    assert [(i["kind"], i["status"], i["purpose"]) for i in got] == [
        ("scheduled", "upcoming", "demo")]


def test_followups_reads_its_own_writes(db_url: str) -> None:
    with TouchpointLog(Settings(db=db_url)) as log:
        queries = Queries(log)
        assert queries.followups(owner="ann") == []
        log.log_contact("ACME", Contact(occurred_at="2018-01-05", channel="phone", actor="ann"),
                        follow_up=FollowUpPlan(due_at="2018-01-20", owner="ann", purpose="demo"))
        got = queries.followups(owner="ann", as_of="2018-01-19T12:00")
        assert [(i["kind"], i["due_at"], i["status"], i["purpose"]) for i in got] == [
            ("cadence", "2018-01-19T00:00:00+00:00", "overdue",
             "stay in touch (discovery: every 14 days)"),
            ("scheduled", "2018-01-20T00:00:00+00:00", "upcoming", "demo")]
        queries.close()
