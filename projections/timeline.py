"""A customer's timeline, built on demand from its own events (no tables needed).

Contacts show their amended values; retracted contacts are hidden unless asked for.
Entries are ordered by when they happened (``at``), then by the order they were recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from touchlog.domain.customer import Customer

CONTACT_FIELDS = (
    "contact_id", "occurred_at", "recorded_at", "channel", "initiated_by", "purpose", "summary",
    "place", "actor", "outcome", "rating", "amount", "stage_signal", "retracted",
)


@dataclass(frozen=True)
class TimelineFilter:
    since: datetime | None = None
    until: datetime | None = None
    channel: str | None = None
    include_retracted: bool = False


def build_timeline(events: Iterable[Customer.Event],
                   window: TimelineFilter = TimelineFilter()) -> list[dict[str, Any]]:
    """Timeline entries: dicts with ``type``, ``at`` and the entry's fields."""
    entries: list[tuple[int, dict[str, Any]]] = []
    contacts: dict[str, dict[str, Any]] = {}
    for e in events:
        entry = _entry(e, contacts)
        if entry is not None:
            entries.append((e.originator_version, entry))
    # "at" is final only now (an amendment may move a contact), so it is parsed here, once.
    timed = sorted(((_instant(entry["at"]), version, entry) for version, entry in entries),
                   key=lambda item: item[:2])
    return [entry for at, _, entry in timed if _shown(at, entry, window)]


def _entry(e: Customer.Event, contacts: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    recorded_at = e.timestamp.isoformat()
    if isinstance(e, Customer.ContactLogged):
        card: dict[str, Any] = {"type": "contact", "at": e.occurred_at}
        card.update({f: getattr(e, f, None) for f in CONTACT_FIELDS})
        card.update(recorded_at=recorded_at, retracted=False, retraction_reason=None)
        contacts[e.contact_id] = card  # later amendments and retractions update it in place
        return card
    if isinstance(e, Customer.ContactAmended):
        card = contacts[e.contact_id]
        card.update(e.changes)
        if "occurred_at" in e.changes:
            card["at"] = e.changes["occurred_at"]
        return None
    if isinstance(e, Customer.ContactRetracted):
        contacts[e.contact_id].update(retracted=True, retraction_reason=e.reason)
        return None
    if isinstance(e, Customer.StageChanged):
        return {"type": "stage_changed", "at": e.at, "from": e.from_stage, "to": e.to_stage,
                "reason": e.reason, "actor": e.actor, "contact_id": e.contact_id,
                "cycle": e.cycle}
    if isinstance(e, Customer.FollowUpScheduled):
        at = contacts[e.contact_id]["occurred_at"] if e.contact_id in contacts else recorded_at
        return {"type": "follow_up_scheduled", "at": at, "follow_up_id": e.follow_up_id,
                "due_at": e.due_at, "owner": e.owner, "purpose": e.purpose,
                "contact_id": e.contact_id}
    if isinstance(e, Customer.FollowUpCompleted):
        return {"type": "follow_up_completed", "at": e.at, "follow_up_id": e.follow_up_id,
                "contact_id": e.contact_id, "actor": e.actor}
    if isinstance(e, Customer.FollowUpCancelled):
        return {"type": "follow_up_cancelled", "at": e.at, "follow_up_id": e.follow_up_id,
                "reason": e.reason, "actor": e.actor}
    if isinstance(e, Customer.FollowUpRescheduled):
        return {"type": "follow_up_rescheduled", "at": recorded_at,
                "follow_up_id": e.follow_up_id, "due_at": e.due_at, "reason": e.reason,
                "actor": e.actor}
    return None


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _shown(at: datetime, entry: dict[str, Any], window: TimelineFilter) -> bool:
    if window.since is not None and at < window.since:
        return False
    if window.until is not None and at > window.until:
        return False
    if entry["type"] != "contact":
        return window.channel is None
    if window.channel is not None and entry["channel"] != window.channel:
        return False
    return window.include_retracted or not entry["retracted"]

