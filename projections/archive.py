"""The contact archive: one row per contact, one per customer, and contacts per channel.

Contacts keep their amended values; retracted contacts stay (with the reason) but count in
no statistic. A customer's statistics are recomputed in SQL from its contact rows after each
batch, which is simple and stays right whatever an amendment changed.
"""

from __future__ import annotations

from typing import Any

from touchlog.projections.batch import Batch, Change, ContactRows, dispatch, known_references
from touchlog.projections.schema import ARCHIVE_CONTACTS
from touchlog.projections.viewdb import ViewDB

LIVE = "retracted = ?"  # bound to False: portable between 0/1 and boolean columns


class ArchiveProjection:
    """Projection ``archive``: tables archive_contacts, archive_customers, archive_channels."""

    name = "archive"

    def apply(self, db: ViewDB, batch: Batch) -> None:
        refs = known_references(db, "archive_customers", batch)
        state = _State()
        dispatch(HANDLERS, state, refs, batch)
        state.write(db)


class _State:
    def __init__(self) -> None:
        self.new: list[list[Any]] = []
        self.contacts = ContactRows(ARCHIVE_CONTACTS)
        self.stage: dict[str, tuple[str, int]] = {}
        self.follow_ups: dict[str, int] = {}
        self.touched: dict[str, int] = {}  # customer -> last position that changed it

    def write(self, db: ViewDB) -> None:
        db.executemany(
            "INSERT INTO archive_customers (customer, customer_id, stage, contacts, purchases, "
            "total_amount, open_follow_ups, position) VALUES (?, ?, ?, 0, 0, '0', 0, ?) "
            "ON CONFLICT DO NOTHING", self.new)
        self.contacts.write(db)
        db.executemany("UPDATE archive_customers SET stage = ? WHERE customer = ?",
                       [[s, c] for c, (s, _) in self.stage.items()])
        db.executemany(
            "UPDATE archive_customers SET open_follow_ups = open_follow_ups + ? "
            "WHERE customer = ?", [[d, c] for c, d in self.follow_ups.items()])
        _recompute(db, self.contacts.customers, self.touched)


def _recompute(db: ViewDB, customers: set[str], touched: dict[str, int]) -> None:
    """Statistics of the customers whose contacts changed, from their live contact rows."""
    stats = (
        f"SELECT count(*), min(occurred_at), max(occurred_at), count(amount), "
        f"coalesce({db.sum_amount}(amount), '0'), "
        "max(CASE WHEN amount IS NOT NULL THEN occurred_at END), "
        f"{_average(db)} FROM archive_contacts k "
        f"WHERE k.customer = archive_customers.customer AND k.{LIVE}"
    )
    db.executemany(
        "UPDATE archive_customers SET (contacts, first_contact_at, last_contact_at, purchases, "
        f"total_amount, last_purchase_at, average_rating) = ({stats}) WHERE customer = ?",
        [[False, c] for c in customers])
    db.executemany("DELETE FROM archive_channels WHERE customer = ?", [[c] for c in customers])
    db.executemany(
        "INSERT INTO archive_channels (customer, channel, contacts, position) "
        f"SELECT customer, channel, count(*), max(position) FROM archive_contacts "
        f"WHERE customer = ? AND {LIVE} GROUP BY customer, channel",
        [[c, False] for c in customers])
    db.executemany("UPDATE archive_customers SET position = ? WHERE customer = ?",
                   [[p, c] for c, p in touched.items()])


def _average(db: ViewDB) -> str:
    if db.dialect == "postgres":
        return "round(avg(rating)::numeric, 2)::double precision"
    return "round(avg(rating), 2)"


def _registered(s: _State, ref: str, c: Change) -> None:
    s.new.append([ref, c.customer_id, "discovery", c.position])
    s.touched[ref] = c.position


def _stage_changed(s: _State, ref: str, c: Change) -> None:
    s.stage[ref] = (c.state["to_stage"], c.position)
    s.touched[ref] = c.position


def _follow_up(delta: int) -> Any:
    def handle(s: _State, ref: str, c: Change) -> None:
        s.follow_ups[ref] = s.follow_ups.get(ref, 0) + delta
        s.touched[ref] = c.position
    return handle


def _contact(method: str) -> Any:
    def handle(s: _State, ref: str, c: Change) -> None:
        getattr(s.contacts, method)(ref, c.position, c.state)
        s.touched[ref] = c.position
    return handle


HANDLERS: dict[str, Any] = {
    "Registered": _registered,
    "ContactLogged": _contact("logged"),
    "ContactAmended": _contact("amended"),
    "ContactRetracted": _contact("retracted"),
    "StageChanged": _stage_changed,
    "FollowUpScheduled": _follow_up(+1),
    "FollowUpCompleted": _follow_up(-1),
    "FollowUpCancelled": _follow_up(-1),
}
