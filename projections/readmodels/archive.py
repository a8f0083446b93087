"""The contact archive: one row per contact, one per customer, and contacts per channel.

Contacts keep their amended values; retracted contacts stay (with the reason) but count in
no statistic. A customer's statistics always come from all its live contact rows, so they
stay right whatever an amendment changed. A customer registered in the batch has every
contact row in memory, so its statistics are computed there and written once (nearly every
customer of a rebuild or an import); a customer seen before is recomputed in SQL from its
stored rows. The statistics therefore have two forms, for speed: Python (``_statistics``)
and SQL (``_recompute``), both built on one definition of a sum and an average
(``exact_sum``, ``rating_average`` in projections/engine/dialect.py: exact decimal sums,
averages rounded half up to two places, on SQLite and PostgreSQL alike).
``test_rebuild_equals_incremental_on_random_histories`` and
``test_statistics_are_the_same_whether_computed_in_memory_or_in_sql`` prove them equal.
"""

from __future__ import annotations

from typing import Any

from touchlog.domain.customer import PROFILE_FIELDS
from touchlog.projections.engine.dialect import exact_sum, rating_average
from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.engine.schema import (
    ARCHIVE_CHANNELS,
    ARCHIVE_CONTACTS,
    ARCHIVE_CUSTOMERS,
    PURCHASE,
)
from touchlog.projections.readmodels import summaries
from touchlog.projections.readmodels.attributes import contact_attributes, customer_attributes
from touchlog.projections.readmodels.changes import (
    Batch,
    Change,
    ContactRows,
    dispatch,
    known_references,
)
from touchlog.projections.readmodels.summaries import (
    AMOUNT,
    CHANNEL,
    CONTACT_AT,
    CONTACT_ID,
    OCCURRED,
    PURCHASED,
    RATING,
    RETRACTED,
)

LIVE = "retracted = ?"  # bound to False: portable between 0/1 and boolean columns


class ArchiveProjection:
    """Projection ``archive``: tables archive_contacts, archive_customers, archive_channels."""

    name = "archive"
    kept_sealed = frozenset[str]()

    def read(self, db: ReportingDB, batch: Batch) -> dict[str, str]:
        return known_references(db, "archive_customers", batch)

    def prepare(self, batch: Batch, known: dict[str, str]) -> _State:
        return dispatch(HANDLERS, _State(), known, batch)


CUSTOMER_COLUMNS = ARCHIVE_CUSTOMERS.column_names
# Where archive_contacts rows (ContactRows lists) keep the values statistics need, beyond
# those the summaries read (summaries.CONTACT_AT).
ACTOR, POSITION = (CONTACT_AT[name] for name in ("actor", "position"))


class _State:
    def __init__(self) -> None:
        self.new: dict[str, str] = {}  # reference -> customer id, registered in this batch
        self.contacts = ContactRows(ARCHIVE_CONTACTS)
        self.follow_ups: dict[str, int] = {}
        self.profiles: dict[str, dict[str, str | None]] = {}  # customer -> fields set
        self.touched: dict[str, int] = {}  # customer -> last position that changed it
        self.contact_attributes = contact_attributes()
        self.customer_attributes = customer_attributes()
        self.merges: list[tuple[str, str, int]] = []  # (duplicate, kept, position): last

    def write(self, db: ReportingDB) -> None:
        # The report summaries move by what the changed customers contribute after the
        # writes less what they did before (summaries.py); a customer registered in the
        # batch contributed nothing, and its rows are all in memory.
        merged = {ref for duplicate, kept, _ in self.merges for ref in (duplicate, kept)}
        stored = sorted((self.contacts.customers - self.new.keys()) | merged)
        before = summaries.contributions(summaries.read_contacts(db, stored))
        self._write(db)
        after = summaries.contributions([
            *summaries.read_contacts(db, stored),
            *(row for row in self.contacts.inserts.values()
              if row[0] in self.new and row[0] not in merged)])
        summaries.apply_difference(db, before, after)

    def _write(self, db: ReportingDB) -> None:
        rows: dict[str, list[list[Any]]] = {ref: [] for ref in self.new}
        for row in self.contacts.inserts.values():
            mine = rows.get(row[0])
            if mine is not None and not row[RETRACTED]:
                mine.append(row)
        customers, channels = [], []
        for ref, customer_id in self.new.items():
            live = rows[ref]
            statistics = _statistics(live)
            profile = self.profiles.get(ref, {})
            customers.append([
                ref, customer_id, *statistics, self.follow_ups.get(ref, 0),
                *(profile.get(f) for f in PROFILE_FIELDS), self.touched[ref],
                statistics[TOTAL]])
            channels += _channels(ref, live)
        db.insert("archive_customers", CUSTOMER_COLUMNS, customers,
                  numbers=dict(ARCHIVE_CUSTOMERS.numbers))
        db.insert("archive_channels", ARCHIVE_CHANNELS.column_names, channels)
        self.contacts.write(db)
        self.contact_attributes.write(db)
        self.customer_attributes.write(db)
        db.executemany(
            "UPDATE archive_customers SET open_follow_ups = open_follow_ups + ? "
            "WHERE customer = ?",
            [[d, c] for c, d in self.follow_ups.items() if c not in self.new])
        for ref, fields in self.profiles.items():
            if ref not in self.new:
                sets = ", ".join(f"{f} = ?" for f in fields)
                db.execute(f"UPDATE archive_customers SET {sets} WHERE customer = ?",
                           [*fields.values(), ref])
        _recompute(db, self.contacts.customers - self.new.keys(),
                   {c: p for c, p in self.touched.items() if c not in self.new})
        for duplicate, kept, position in self.merges:
            _merge(db, duplicate, kept, position)


def _merge(db: ReportingDB, duplicate: str, kept: str, position: int) -> None:
    """The duplicate's contacts (with their attributes) become the kept customer's, with its
    open follow-ups and the profile fields and customer attributes the kept one has no value
    for; its own rows go."""
    db.execute("UPDATE archive_contacts SET customer = ? WHERE customer = ?", [kept, duplicate])
    db.execute("UPDATE archive_contact_attributes SET customer = ? WHERE customer = ?",
               [kept, duplicate])
    db.execute(
        "INSERT INTO archive_customer_attributes (customer, name, value, value_number, "
        "position) SELECT ?, d.name, d.value, d.value_number, ? "
        "FROM archive_customer_attributes d WHERE d.customer = ? AND NOT EXISTS (SELECT 1 "
        "FROM archive_customer_attributes k WHERE k.customer = ? AND k.name = d.name)",
        [kept, position, duplicate, kept])
    db.execute("DELETE FROM archive_customer_attributes WHERE customer = ?", [duplicate])
    fill = ", ".join(f"{f} = coalesce({f}, (SELECT d.{f} FROM archive_customers d "
                     "WHERE d.customer = ?))" for f in PROFILE_FIELDS)
    db.execute(
        "UPDATE archive_customers SET open_follow_ups = open_follow_ups + coalesce("
        "(SELECT d.open_follow_ups FROM archive_customers d WHERE d.customer = ?), 0), "
        f"{fill} WHERE customer = ?", [duplicate, *[duplicate] * len(PROFILE_FIELDS), kept])
    db.execute("DELETE FROM archive_customers WHERE customer = ?", [duplicate])
    db.execute("DELETE FROM archive_channels WHERE customer = ?", [duplicate])
    _recompute(db, {kept}, {kept: position})


TOTAL = 5  # total_amount's place in ``_statistics``


def _statistics(live: list[list[Any]]) -> list[Any]:
    """contacts, first_contact_at, last_contact_at, last_contact_actor, purchases,
    total_amount, last_purchase_at, average_rating: what ``_recompute`` selects, from rows
    in memory. The last contact is the latest by occurred_at, then contact id."""
    if not live:
        return [0, None, None, None, 0, "0", None, None]
    times = [row[OCCURRED] for row in live]
    last = max(live, key=lambda row: (row[OCCURRED], row[CONTACT_ID]))
    bought = [row for row in live if row[PURCHASED] or row[AMOUNT] is not None]
    ratings = [row[RATING] for row in live if row[RATING] is not None]
    return [len(live), min(times), last[OCCURRED], last[ACTOR], len(bought),
            exact_sum(row[AMOUNT] for row in bought if row[AMOUNT] is not None) or "0",
            max(row[OCCURRED] for row in bought) if bought else None,
            rating_average(sum(ratings), len(ratings))]


def _channels(ref: str, live: list[list[Any]]) -> list[list[Any]]:
    counts: dict[str, list[Any]] = {}
    for row in live:
        entry = counts.get(row[CHANNEL])
        if entry is None:
            counts[row[CHANNEL]] = [ref, row[CHANNEL], 1, row[POSITION]]
        else:
            entry[2] += 1
            entry[3] = max(entry[3], row[POSITION])
    return list(counts.values())


def _recompute(db: ReportingDB, customers: set[str], touched: dict[str, int]) -> None:
    """Statistics of the customers seen before whose contacts changed, from their live
    contact rows."""
    total = f"coalesce({db.dialect.sum_amounts}, '0')"
    last_actor = ("(SELECT l.actor FROM archive_contacts l WHERE l.customer = "
                  f"archive_customers.customer AND l.{LIVE} "
                  "ORDER BY l.occurred_at DESC, l.contact_id DESC LIMIT 1)")
    stats = (
        f"SELECT count(*), min(occurred_at), max(occurred_at), {last_actor}, "
        f"count(CASE WHEN {PURCHASE} THEN 1 END), {total}, "
        f"max(CASE WHEN {PURCHASE} THEN occurred_at END), "
        f"{db.dialect.average_rating}, {db.dialect.number(total)} FROM archive_contacts k "
        f"WHERE k.customer = archive_customers.customer AND k.{LIVE}"
    )
    db.executemany(
        "UPDATE archive_customers SET (contacts, first_contact_at, last_contact_at, "
        "last_contact_actor, purchases, total_amount, last_purchase_at, average_rating, "
        f"total_amount_value) = ({stats}) WHERE customer = ?",
        [[False, False, c] for c in customers])
    db.executemany("DELETE FROM archive_channels WHERE customer = ?", [[c] for c in customers])
    db.executemany(
        "INSERT INTO archive_channels (customer, channel, contacts, position) "
        f"SELECT customer, channel, count(*), max(position) FROM archive_contacts "
        f"WHERE customer = ? AND {LIVE} GROUP BY customer, channel",
        [[c, False] for c in customers])
    db.executemany("UPDATE archive_customers SET position = ? WHERE customer = ?",
                   [[p, c] for c, p in touched.items()])


def _registered(s: _State, ref: str, c: Change) -> None:
    s.new[ref] = c.customer_id
    s.touched[ref] = c.position


def _profile(s: _State, ref: str, c: Change) -> None:
    fields = {f: c.state["changes"][f] for f in PROFILE_FIELDS if f in c.state["changes"]}
    if fields:
        s.profiles.setdefault(ref, {}).update(fields)
        s.touched[ref] = c.position
    if c.state["attributes"]:
        s.customer_attributes.set((ref,), c.state["attributes"], c.position)


def _merged(s: _State, ref: str, c: Change) -> None:
    s.merges.append((ref, c.state["into"], c.position))


def _follow_up(delta: int) -> Any:
    def handle(s: _State, ref: str, c: Change) -> None:
        s.follow_ups[ref] = s.follow_ups.get(ref, 0) + delta
        s.touched[ref] = c.position
    return handle


def _contact(method: str) -> Any:
    def handle(s: _State, ref: str, c: Change) -> None:
        getattr(s.contacts, method)(ref, c.position, c.state)
        s.touched[ref] = c.position
        attributes = (c.state.get("attributes") if method == "logged"
                      else c.state["changes"].get("attributes") if method == "amended" else None)
        if attributes:
            s.contact_attributes.set((ref, c.state["contact_id"]), attributes, c.position)
    return handle


HANDLERS: dict[str, Any] = {
    "Registered": _registered,
    "ProfileUpdated": _profile,
    "MergedInto": _merged,
    "ContactLogged": _contact("logged"),
    "ContactAmended": _contact("amended"),
    "ContactRetracted": _contact("retracted"),
    "FollowUpScheduled": _follow_up(+1),
    "FollowUpCompleted": _follow_up(-1),
    "FollowUpCancelled": _follow_up(-1),
}
