"""What every projection's batch needs: the customers it already knows, and contact rows.

Events other than ``Registered`` carry only the customer's id, so each projection keeps the
id next to the reference in its own customer table and looks the batch's ids up at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol
from uuid import UUID

from touchlog.domain.customer import Customer
from touchlog.projections.schema import Table
from touchlog.projections.viewdb import ViewDB

Batch = Sequence[tuple[int, Any]]  # (notification id, domain event)

# The contact card fields an amendment may change; anything else is ignored, never SQL.
AMENDABLE = frozenset({
    "occurred_at", "channel", "initiated_by", "purpose", "summary", "place", "actor",
    "outcome", "rating", "amount", "deliberate", "hard", "active",
})


class Projection(Protocol):
    """A read model: a name, and a function that applies one batch inside a transaction."""

    name: str

    def apply(self, db: ViewDB, batch: Batch) -> None: ...


def known_references(db: ViewDB, table: str, batch: Batch) -> dict[UUID, str]:
    """The references of the batch's customers registered in earlier batches."""
    ids = list({str(e.originator_id) for _, e in batch if not isinstance(e, Customer.Registered)})
    rows = db.by_keys(table, "customer_id", ids, "customer_id, customer")
    return {UUID(r["customer_id"]): r["customer"] for r in rows}


def reference(refs: dict[UUID, str], e: Any) -> str:
    """The event's customer reference; a registration teaches it to the batch."""
    if isinstance(e, Customer.Registered):
        refs[e.originator_id] = e.reference
    return refs[e.originator_id]


class ContactRows:
    """Contact rows of one batch: inserts, merged amendments and retractions.

    An amendment to a contact logged in the same batch is folded into its insert; later
    amendments of a field win, as in the log.
    """

    def __init__(self, table: Table) -> None:
        self.table = table
        self.columns = table.column_names
        self.has_reason = "retraction_reason" in self.columns
        self.inserts: dict[tuple[str, str], dict[str, Any]] = {}
        self.amends: dict[tuple[str, str], dict[str, Any]] = {}
        self.retracts: dict[tuple[str, str], tuple[str, int]] = {}

    def logged(self, customer: str, position: int, e: Any) -> None:
        row = {c: getattr(e, c, None) for c in self.columns}
        row.update(customer=customer, retracted=False, position=position)
        if "recorded_at" in row:
            row["recorded_at"] = e.timestamp.isoformat()
        self.inserts.setdefault((customer, e.contact_id), row)

    def amended(self, customer: str, position: int, e: Any) -> None:
        changes = {k: v for k, v in e.changes.items() if k in AMENDABLE and k in self.columns}
        key = (customer, e.contact_id)
        target = self.inserts.get(key)
        if target is None:
            target = self.amends.setdefault(key, {})
        target.update(changes, position=position)

    def retracted(self, customer: str, position: int, e: Any) -> None:
        key = (customer, e.contact_id)
        if key in self.inserts:
            self.inserts[key].update(retracted=True, retraction_reason=e.reason,
                                     position=position)
        else:
            self.retracts[key] = (e.reason, position)

    def write(self, db: ViewDB) -> None:
        table, names = self.table.name, self.columns
        db.executemany(
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
            "ON CONFLICT DO NOTHING",
            [[row.get(n) for n in names] for row in self.inserts.values()],
        )
        by_fields: dict[tuple[str, ...], list[list[Any]]] = {}
        for (customer, contact_id), changes in self.amends.items():
            fields = tuple(sorted(changes))
            by_fields.setdefault(fields, []).append(
                [*(changes[f] for f in fields), customer, contact_id])
        for fields, rows in by_fields.items():
            sets = ", ".join(f"{f} = ?" for f in fields)
            db.executemany(f"UPDATE {table} SET {sets} WHERE customer = ? AND contact_id = ?",
                           rows)
        reason = ", retraction_reason = ?" if self.has_reason else ""
        db.executemany(
            f"UPDATE {table} SET retracted = ?{reason}, position = ? "
            "WHERE customer = ? AND contact_id = ?",
            [[True, *([r] if reason else []), p, c, k]
             for (c, k), (r, p) in self.retracts.items()],
        )

    @property
    def customers(self) -> set[str]:
        return {c for c, _ in (*self.inserts, *self.amends, *self.retracts)}
