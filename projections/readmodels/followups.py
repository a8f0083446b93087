"""The follow-up queue's facts: the scheduled follow-ups.

Cadence items are not stored: they depend on the reading time and on the deployment's
cadence settings, so the query derives them from what the archive keeps per customer
(``archive_customers``: owner, last live contact and its actor) and the customer's stage
(``stage_current``, the stages projection's). A retracted contact does not reset the
cadence; an amended ``occurred_at`` moves it. This projection keeps its customers only to
know them by id (``followup_customers``).
"""

from __future__ import annotations

from typing import Any

from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.engine.schema import FOLLOWUP_CUSTOMERS, FOLLOWUP_ITEMS
from touchlog.projections.readmodels.changes import (
    CONTACTS_AND_PROFILES,
    Batch,
    Change,
    dispatch,
    known_references,
)

ITEM_COLUMNS = FOLLOWUP_ITEMS.column_names
CUSTOMER_COLUMNS = FOLLOWUP_CUSTOMERS.column_names


class FollowUpsProjection:
    """Projection ``followups``: followup_items, followup_customers."""

    name = "followups"
    kept_sealed = CONTACTS_AND_PROFILES

    def read(self, db: ReportingDB, batch: Batch) -> dict[str, str]:
        return known_references(db, "followup_customers",
                                [c for c in batch if c.kind in HANDLERS])

    def prepare(self, batch: Batch, known: dict[str, str]) -> _State:
        return dispatch(HANDLERS, _State(), known, batch)


class _State:
    def __init__(self) -> None:
        self.new: list[list[Any]] = []  # followup_customers rows registered in this batch
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.item_changes: dict[tuple[str, str], dict[str, Any]] = {}
        self.merges: list[tuple[str, str, int]] = []  # (duplicate, kept, position): last

    def change_item(self, key: tuple[str, str], **changes: Any) -> None:
        target = self.items.get(key) or self.item_changes.setdefault(key, {})
        target.update(changes)

    def write(self, db: ReportingDB) -> None:
        db.insert("followup_customers", CUSTOMER_COLUMNS, self.new)
        db.insert("followup_items", ITEM_COLUMNS,
                  [[row.get(c) for c in ITEM_COLUMNS] for row in self.items.values()])
        _update_each(db, "followup_items", ("customer", "follow_up_id"), self.item_changes)
        for duplicate, kept, position in self.merges:
            _merge(db, duplicate, kept, position)


def _merge(db: ReportingDB, duplicate: str, kept: str, position: int) -> None:
    """The duplicate's follow-ups become the kept customer's; its own row goes."""
    db.execute("UPDATE followup_items SET customer = ? WHERE customer = ?", [kept, duplicate])
    db.execute("UPDATE followup_customers SET position = ? WHERE customer = ?",
               [position, kept])
    db.execute("DELETE FROM followup_customers WHERE customer = ?", [duplicate])


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
    s.new.append([ref, c.customer_id, c.position])


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
    "FollowUpScheduled": _scheduled,
    "FollowUpCompleted": _closed("completed"),
    "FollowUpCancelled": _closed("cancelled"),
    "FollowUpRescheduled": _rescheduled,
    "MergedInto": _merged,
}
