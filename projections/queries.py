"""What the CLI (and any caller) reads: plain dicts with the JSON contract's keys.

Every query first catches its projection up, so a user reads their own writes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from touchlog.domain.application import TouchpointLog
from touchlog.domain.errors import ContactNotFound, CustomerNotFound, InvalidInput
from touchlog.domain.values import parse_instant
from touchlog.projections.runner import Projector
from touchlog.projections.schema import CADENCE_OWNER
from touchlog.projections.viewdb import ViewDB

ARCHIVE_KEYS = ("customer", "stage", "contacts", "first_contact_at", "last_contact_at",
                "purchases", "total_amount", "last_purchase_at", "average_rating",
                "open_follow_ups")
STATUSES = ("overdue", "upcoming", "all")


class Queries:
    """Read models of one log, caught up before every read."""

    def __init__(self, log: TouchpointLog, db: ViewDB | None = None) -> None:
        self.log = log
        self.projector = Projector(log, db)
        self.db = self.projector.db

    def archive(self, reference: str | None = None) -> list[dict[str, Any]]:
        """One record per customer (or just ``reference``), ordered by reference."""
        self.projector.catch_up(["archive"])
        where, params = ("WHERE customer = ?", [reference]) if reference else ("", [])
        rows = self.db.query(f"SELECT {', '.join(ARCHIVE_KEYS)} FROM archive_customers "
                             f"{where} ORDER BY customer", params)
        if reference and not rows:
            raise CustomerNotFound(reference)
        channels: dict[str, dict[str, int]] = {}
        for c in self.db.query(f"SELECT customer, channel, contacts FROM archive_channels "
                               f"{where} ORDER BY customer, channel", params):
            channels.setdefault(c["customer"], {})[c["channel"]] = c["contacts"]
        return [_archive_record(row, channels.get(row["customer"], {})) for row in rows]

    def followups(self, owner: str | None = None, as_of: datetime | str | None = None,
                  status: str = "all", within_days: int | None = None) -> list[dict[str, Any]]:
        """Open scheduled follow-ups and cadence items, soonest due first.

        ``within_days`` keeps upcoming items due no later than ``as_of`` plus that many
        days; overdue items are always kept (unless ``status`` says otherwise).
        """
        if status not in STATUSES:
            raise InvalidInput("status", status, f"expected one of {', '.join(STATUSES)}")
        if within_days is not None and within_days < 0:
            raise InvalidInput("within", within_days, "expected days >= 0")
        moment = parse_instant(as_of, "as_of") if as_of is not None else datetime.now(UTC)
        self.projector.catch_up(["followups"])
        horizon = moment + timedelta(days=within_days) if within_days is not None else None
        chosen = []
        for due, item in (*self._scheduled(owner), *self._cadence(owner)):
            item["status"] = "overdue" if due < moment else "upcoming"
            if owner is not None and item["owner"] != owner:
                continue
            if status != "all" and item["status"] != status:
                continue
            if horizon is not None and item["status"] == "upcoming" and due > horizon:
                continue
            chosen.append((due, item["customer"], item))
        chosen.sort(key=lambda c: c[:2])
        return [item for _, _, item in chosen]

    def _scheduled(self, owner: str | None) -> list[tuple[datetime, dict[str, Any]]]:
        mine = " AND i.owner = ?" if owner is not None else ""
        rows = self.db.query(
            "SELECT i.customer, i.follow_up_id, i.due_at, i.owner, i.purpose, c.stage "
            "FROM followup_items i JOIN followup_customers c ON c.customer = i.customer "
            f"WHERE i.status = 'open'{mine}", [owner] if owner is not None else [])
        return [(datetime.fromisoformat(r["due_at"]),
                 {"customer": r["customer"], "kind": "scheduled",
                  "follow_up_id": r["follow_up_id"], "due_at": r["due_at"], "owner": r["owner"],
                  "purpose": r["purpose"], "stage": r["stage"]}) for r in rows]

    def _cadence(self, owner: str | None) -> list[tuple[datetime, dict[str, Any]]]:
        cadence = self.log.settings.cadence_days
        # The same expression as the index on followup_customers, so the index serves it.
        mine = f" AND {CADENCE_OWNER} = ?" if owner is not None else ""
        rows = self.db.query(
            "SELECT customer, stage, owner, last_contact_at, last_contact_actor "
            f"FROM followup_customers WHERE last_contact_at IS NOT NULL{mine}",
            [owner] if owner is not None else [])
        # Per stage: the interval and the item's purpose (stages without a cadence: none).
        plans = {stage.value: (timedelta(days=days), f"stay in touch ({stage.value}: every "
                               f"{days} days)") for stage, days in cadence.items() if days}
        items = []
        for r in rows:
            plan = plans.get(r["stage"])
            if plan is None:
                continue
            # Stored instants are UTC already, so isoformat() gives the contract's form.
            try:
                due = datetime.fromisoformat(r["last_contact_at"]) + plan[0]
            except OverflowError:  # a contact near 9999-12-31: next due after the calendar
                continue
            items.append((due, {"customer": r["customer"], "kind": "cadence",
                                "follow_up_id": None, "due_at": due.isoformat(),
                                "owner": r["owner"] or r["last_contact_actor"],
                                "purpose": plan[1], "stage": r["stage"]}))
        return items

    def stage(self, reference: str) -> dict[str, Any]:
        """Where the relationship stands: stage, since when, cycle."""
        self.projector.catch_up(["stages"])
        rows = self.db.query("SELECT customer, stage, since, cycle FROM stage_current "
                             "WHERE customer = ?", [reference])
        if not rows:
            raise CustomerNotFound(reference)
        return rows[0]

    def stage_history(self, reference: str) -> list[dict[str, Any]]:
        """Every stay in a stage, in the order the changes were recorded."""
        self.stage(reference)
        return self.db.query(
            "SELECT customer, seq, cycle, from_stage, to_stage, entered_at, left_at, "
            "duration_seconds, reason, actor, contact_id FROM stage_history "
            "WHERE customer = ? ORDER BY seq", [reference])

    def contact_customer(self, contact_id: str) -> str:
        """The reference of the customer a contact id belongs to."""
        self.projector.catch_up(["archive"])
        rows = self.db.query("SELECT DISTINCT customer FROM archive_contacts "
                             "WHERE contact_id = ? ORDER BY customer", [contact_id])
        if not rows:
            raise ContactNotFound(contact_id)
        if len(rows) > 1:
            names = ", ".join(r["customer"] for r in rows)
            raise InvalidInput("contact_id", contact_id,
                               f"belongs to several customers ({names}); name one with --customer")
        return str(rows[0]["customer"])

    def lag(self) -> list[dict[str, Any]]:
        """How far behind the log's head each projection is (without catching up)."""
        return self.projector.status()

    def close(self) -> None:
        self.projector.close()


def _archive_record(row: dict[str, Any], channels: dict[str, int]) -> dict[str, Any]:
    record = {k: row[k] for k in ARCHIVE_KEYS}
    record["channels"] = channels
    return {k: record[k] for k in (*ARCHIVE_KEYS[:5], "channels", *ARCHIVE_KEYS[5:])}
