"""The follow-up queue's facts: scheduled follow-ups, and what the cadence needs per customer.

Cadence items are not stored: they depend on the reading time and on the deployment's
cadence settings, so the query derives them from ``followup_customers`` (owner, last
live contact and its actor) and the customer's stage (``stage_current``, the stages
projection's). A retracted contact does not reset the cadence; an amended
``occurred_at`` moves it.
"""

from __future__ import annotations

from typing import Any

from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.engine.schema import FOLLOWUP_CONTACTS, FOLLOWUP_CUSTOMERS, FOLLOWUP_ITEMS
from touchlog.projections.readmodels.changes import (
    CONTACTS_AND_PROFILES,
    Batch,
    Change,
    ContactRows,
    dispatch,
    known_references,
)

ITEM_COLUMNS = FOLLOWUP_ITEMS.column_names
# A customer's last live contact and its actor, from its contact rows.
LAST_CONTACT = (
    "UPDATE followup_customers SET (last_contact_at, last_contact_actor) = "
    "(SELECT occurred_at, actor FROM followup_contacts k WHERE "
    "k.customer = followup_customers.customer AND k.retracted = ? "
    "ORDER BY occurred_at DESC, contact_id DESC LIMIT 1) WHERE customer = ?")
CUSTOMER_COLUMNS = FOLLOWUP_CUSTOMERS.column_names


class FollowUpsProjection:
    """Projection ``followups``: followup_items, followup_customers, followup_contacts."""

    name = "followups"
    kept_sealed = CONTACTS_AND_PROFILES

    def read(self, db: ReportingDB, batch: Batch) -> dict[str, str]:
        return known_references(db, "followup_customers", batch)

    def prepare(self, batch: Batch, known: dict[str, str]) -> _State:
        return dispatch(HANDLERS, _State(), known, batch)


CONTACT_AT = {name: i for i, name in enumerate(FOLLOWUP_CONTACTS.column_names)}


class _State:
    def __init__(self) -> None:
        self.new: dict[str, dict[str, Any]] = {}  # reference -> its followup_customers row
        self.customer_changes: dict[str, dict[str, Any]] = {}
        self.contacts = ContactRows(FOLLOWUP_CONTACTS)
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.item_changes: dict[tuple[str, str], dict[str, Any]] = {}
        self.merges: list[tuple[str, str, int]] = []  # (duplicate, kept, position): last

    def change_item(self, key: tuple[str, str], **changes: Any) -> None:
        target = self.items.get(key) or self.item_changes.setdefault(key, {})
        target.update(changes)

    def write(self, db: ReportingDB) -> None:
        self._settle_new()
        db.insert("followup_customers", CUSTOMER_COLUMNS,
                  [[row[c] for c in CUSTOMER_COLUMNS] for row in self.new.values()])
        _update_each(db, "followup_customers", ("customer",), self.customer_changes)
        self.contacts.write(db)
        seen_before = self.contacts.customers - self.new.keys()
        db.executemany(LAST_CONTACT, [[False, c] for c in seen_before])
        db.insert("followup_items", ITEM_COLUMNS,
                  [[row.get(c) for c in ITEM_COLUMNS] for row in self.items.values()])
        _update_each(db, "followup_items", ("customer", "follow_up_id"), self.item_changes)
        for duplicate, kept, position in self.merges:
            _merge(db, duplicate, kept, position)

    def _settle_new(self) -> None:
        """Customers registered in this batch: every change and their last live contact
        (latest occurred_at, then contact id, as the UPDATE for the others orders them)
        go into their one insert."""
        at, actor = CONTACT_AT["occurred_at"], CONTACT_AT["actor"]
        last: dict[str, tuple[str, str, str | None]] = {}
        for (ref, contact_id), contact in self.contacts.inserts.items():
            if ref in self.new and not contact[CONTACT_AT["retracted"]]:
                candidate = (contact[at], contact_id, contact[actor])
                if ref not in last or candidate[:2] > last[ref][:2]:
                    last[ref] = candidate
        for ref, customer in self.new.items():
            customer.update(self.customer_changes.pop(ref, {}))
            if ref in last:
                customer["last_contact_at"], _, customer["last_contact_actor"] = last[ref]


def _merge(db: ReportingDB, duplicate: str, kept: str, position: int) -> None:
    """The duplicate's follow-ups and contacts become the kept customer's, and its owner
    the kept one's if that has none; the cadence then counts from their last live contact."""
    for table in ("followup_items", "followup_contacts"):
        db.execute(f"UPDATE {table} SET customer = ? WHERE customer = ?", [kept, duplicate])
    db.execute(
        "UPDATE followup_customers SET owner = coalesce(owner, (SELECT d.owner FROM "
        "followup_customers d WHERE d.customer = ?)), position = ? WHERE customer = ?",
        [duplicate, position, kept])
    db.execute("DELETE FROM followup_customers WHERE customer = ?", [duplicate])
    db.execute(LAST_CONTACT, [False, kept])


def _update_each(db: ReportingDB, table: str, key: tuple[str, ...],
                 changes: dict[Any, dict[str, Any]]) -> None:
    """Updates rows, one executemany per distinct set of changed columns."""
    groups: dict[tuple[str, ...], list[list[Any]]] = {}
    for k, values in changes.items():
        fields = tuple(sorted(values))
        keys = k if isinstance(k, tuple) else (k,)
        groups.setdefault(fields, []).append([*(values[f] for f in fields), *keys])
    where = " AND ".join(f"{c} = ?" for c in key)
    for fields, rows in groups.items():
        sets = ", ".join(f"{f} = ?" for f in fields)
        db.executemany(f"UPDATE {table} SET {sets} WHERE {where}", rows)


def _registered(s: _State, ref: str, c: Change) -> None:
    s.new[ref] = {"customer": ref, "customer_id": c.customer_id, "owner": None,
                  "last_contact_at": None, "last_contact_actor": None, "position": c.position}


def _customer(s: _State, ref: str, position: int, **changes: Any) -> None:
    s.customer_changes.setdefault(ref, {}).update(changes, position=position)


def _profile(s: _State, ref: str, c: Change) -> None:
    if "owner" in c.state["changes"]:
        _customer(s, ref, c.position, owner=c.state["changes"]["owner"])


def _contact(method: str) -> Any:
    def handle(s: _State, ref: str, c: Change) -> None:
        getattr(s.contacts, method)(ref, c.position, c.state)
        _customer(s, ref, c.position)
    return handle


def _scheduled(s: _State, ref: str, c: Change) -> None:
    e = c.state
    s.items[(ref, e["follow_up_id"])] = {
        "customer": ref, "follow_up_id": e["follow_up_id"], "due_at": e["due_at"],
        "owner": e["owner"], "purpose": e["purpose"], "contact_id": e["contact_id"],
        "status": "open", "closed_at": None, "position": c.position,
    }


def _closed(status: str) -> Any:
    def handle(s: _State, ref: str, c: Change) -> None:
        s.change_item((ref, c.state["follow_up_id"]), status=status, closed_at=c.state["at"],
                      position=c.position)
    return handle


def _merged(s: _State, ref: str, c: Change) -> None:
    s.merges.append((ref, c.state["into"], c.position))


def _rescheduled(s: _State, ref: str, c: Change) -> None:
    s.change_item((ref, c.state["follow_up_id"]), due_at=c.state["due_at"],
                  position=c.position)


HANDLERS: dict[str, Any] = {
    "Registered": _registered,
    "ProfileUpdated": _profile,
    "ContactLogged": _contact("logged"),
    "ContactAmended": _contact("amended"),
    "ContactRetracted": _contact("retracted"),
    "FollowUpScheduled": _scheduled,
    "FollowUpCompleted": _closed("completed"),
    "FollowUpCancelled": _closed("cancelled"),
    "FollowUpRescheduled": _rescheduled,
    "MergedInto": _merged,
}
