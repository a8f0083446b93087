"""A customer's timeline, built on demand from its own events (no tables needed).

Contacts show their amended values; retracted contacts are hidden unless asked for.
Entries are ordered by when they happened (``at``), then by the order they were recorded.
Stage changes are the stays of the history derived from the facts (domain/stages.py), each
shown just after the event of the fact that began it.

The events are read as the projections read them (stored JSON decoded into ``Change``
tuples, see projections/batch.py), not as domain objects: a customer with thousands of
contacts is shown in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from touchlog.domain.customer import amend_card, scheduled_time
from touchlog.domain.errors import CustomerNotFound, UnreadableEvent
from touchlog.domain.identity import customer_id
from touchlog.domain.stages import StageFacts, Stay
from touchlog.domain.storage.events import event_rows
from touchlog.projections.readmodels.changes import NOT_THE_EVENT, Change, decode

if TYPE_CHECKING:
    from touchlog.domain.application import TouchpointLog

CONTACT_FIELDS = (
    "contact_id", "occurred_at", "recorded_at", "channel", "initiated_by", "purpose", "summary",
    "place", "actor", "outcome", "rating", "amount", "purchase", "person", "attributes",
    "stage_signal", "reason_category", "retracted",
)


def source_text(source: dict[str, Any] | None) -> str | None:
    """Where a record came from, in words: "i-3f9a1c2b7d line 12"."""
    if not source or "import" not in source:
        return None
    return f"{source['import']} line {source['line']}"


@dataclass(frozen=True)
class TimelineFilter:
    since: datetime | None = None
    until: datetime | None = None
    channel: str | None = None
    include_retracted: bool = False
    # Contacts whose attributes hold each of these stored values (name -> value).
    attributes: dict[str, Any] | None = None


def customer_events(log: TouchpointLog, reference: str) -> list[Change]:
    """Every event of the customer, and of the customers merged into it
    (``TouchpointLog.merged_streams``), in the order of the log."""
    rows: list[Any] = event_rows(log, log.merged_streams(reference), positions=True)
    if not rows:
        raise CustomerNotFound(reference)
    rows.sort(key=lambda row: row[4])
    return decode([(position, originator, version, topic, state)
                   for originator, version, topic, state, position in rows], log.keyring)


def build_timeline(events: Iterable[Change], window: TimelineFilter = TimelineFilter(), *,
                   sources: bool = False) -> list[dict[str, Any]]:
    """Timeline entries: dicts with ``type``, ``at`` and the entry's fields; with
    ``sources``, the entries of the events an import wrote name it and their line
    (``source``: "i-3f9a1c2b7d line 12"; None for those recorded otherwise).

    An event whose state is not its event's (a value no command records) is an
    UnreadableEvent naming it, not a crash.
    """
    entries: list[tuple[float, dict[str, Any]]] = []
    contacts: dict[str, dict[str, Any]] = {}
    stages = _Stages()
    customer = ""
    for e in events:
        customer = e.customer_id
        try:
            entry = _entry(e.kind, e.state, contacts)
            stages.add(e)
        except NOT_THE_EVENT as error:
            raise _unreadable(e.customer_id, e.version, e.kind, error) from None
        if entry is not None:
            if sources:
                entry["source"] = source_text(e.state.get("source"))
            entries.append((e.position, entry))
    try:
        entries += stages.entries()
    except NOT_THE_EVENT as error:  # a fact's values, read only when the history is derived
        raise _unreadable(customer, 0, "stage fact", error) from None
    # "at" is final only now (an amendment may move a contact), so it is parsed here, once.
    timed = []
    for version, entry in entries:
        if entry["type"] == "contact":  # a purchase: said to be one, or with an amount
            entry["purchase"] = bool(entry["purchase"]) or entry["amount"] is not None
        try:
            timed.append((_instant(entry["at"]), version, entry))
        except NOT_THE_EVENT as error:
            raise _unreadable(customer, version, entry["type"], error) from None
    timed.sort(key=lambda item: item[:2])
    return [entry for at, _, entry in timed if _shown(at, entry, window)]


# The events that change a customer's stage facts (besides its registration).
_STAGE_FACTS = frozenset({"MergedFrom", "ContactLogged", "ContactAmended", "ContactRetracted",
                          "StageChanged"})


class _Stages:
    """The customer's stage facts, and the changes of its derived history as entries."""

    def __init__(self) -> None:
        # Each customer's facts; a customer merged into another is absorbed into its
        # facts at the merge (``StageFacts.absorb``), as the aggregate reads it.
        self.facts_of: dict[str, StageFacts] = {}
        self.versions: dict[Any, int] = {}  # contact id, or an explicit change -> position

    @property
    def facts(self) -> StageFacts:
        return next(reversed(self.facts_of.values()), None) or StageFacts("")

    def add(self, c: Change) -> None:
        """Keeps the event's stage facts; an instant that is not one fails here, naming
        the event, rather than when the history is derived."""
        e = c.state
        for name in ("at", "occurred_at"):
            if name in e and not (e[name] is None and c.kind == "FollowUpRescheduled"):
                _instant(e[name])  # (a reschedule before version 2 has no time)
        if "occurred_at" in (e.get("changes") or {}):
            _instant(e["changes"]["occurred_at"])
        if c.kind == "Registered":
            self.facts_of[c.customer_id] = StageFacts(e["at"])
            return
        if c.kind not in _STAGE_FACTS:  # (a merged customer's erasure comes after its merge)
            return
        facts = self.facts_of[c.customer_id]
        if c.kind == "MergedFrom":
            merged = self.facts_of.pop(str(customer_id(e["merged"])), None)
            if merged is not None:
                facts.absorb(merged)
        elif c.kind == "ContactLogged":
            facts.contact_logged(e["contact_id"], e["occurred_at"], e["stage_signal"],
                                      e["actor"], e["reason_category"])
            self.versions[e["contact_id"]] = c.position
        elif c.kind == "ContactAmended":
            facts.contact_amended(e["contact_id"], e["changes"])
        elif c.kind == "ContactRetracted":
            facts.contact_retracted(e["contact_id"])
        elif c.kind == "StageChanged":
            facts.stage_changed(e["to_stage"], e["at"], e["reason"], e["actor"],
                                     e["contact_id"], e["reason_category"])
            self.versions.setdefault((e["at"], e["to_stage"], e["reason"], e["actor"]),
                                     c.position)

    def entries(self) -> list[tuple[float, dict[str, Any]]]:
        return [(self._version(s) + 0.5, {
            "type": "stage_changed", "at": s.entered_at, "from": s.from_stage, "to": s.to_stage,
            "reason": s.reason, "reason_category": s.reason_category, "actor": s.actor,
            "contact_id": s.contact_id, "cycle": s.cycle,
        }) for s in self.facts.history()[1:]]

    def _version(self, stay: Stay) -> int:
        if stay.contact_id is not None:
            return self.versions[stay.contact_id]
        return self.versions[(stay.entered_at, stay.to_stage, stay.reason, stay.actor)]


def _unreadable(customer: str, version: float, kind: str, error: Exception
                ) -> UnreadableEvent:
    return UnreadableEvent(customer, version, f"its state is not a {kind} "
                           f"({type(error).__name__}: {error})")


def _entry(kind: str, e: dict[str, Any], contacts: dict[str, dict[str, Any]]
           ) -> dict[str, Any] | None:
    recorded_at = e["timestamp"]  # ISO 8601 as stored: what isoformat() gives
    if kind == "ContactLogged":
        get = e.get
        card: dict[str, Any] = {  # CONTACT_FIELDS in order, written out: a timeline may be long
            "type": "contact", "at": e["occurred_at"], "contact_id": e["contact_id"],
            "occurred_at": e["occurred_at"], "recorded_at": recorded_at,
            "channel": get("channel"), "initiated_by": get("initiated_by"),
            "purpose": get("purpose"), "summary": get("summary"), "place": get("place"),
            "actor": get("actor"), "outcome": get("outcome"), "rating": get("rating"),
            "amount": get("amount"),
            "purchase": bool(get("purchase")),  # said to be one; an amount is settled below
            "person": get("person"), "attributes": get("attributes") or {},
            "stage_signal": get("stage_signal"),
            "reason_category": get("reason_category"), "retracted": False,
            "retraction_reason": None,
        }
        contacts[e["contact_id"]] = card  # later amendments and retractions update it in place
        return card
    if kind == "ContactAmended":
        card = contacts[e["contact_id"]]
        amend_card(card, e["changes"])
        if "occurred_at" in e["changes"]:
            card["at"] = e["changes"]["occurred_at"]
        return None
    if kind == "ContactRetracted":
        contacts[e["contact_id"]].update(retracted=True, retraction_reason=e["reason"])
        return None
    if kind == "FollowUpScheduled":
        linked = contacts.get(e["contact_id"]) if e["contact_id"] is not None else None
        return {"type": "follow_up_scheduled",
                "at": scheduled_time(e.get("scheduled_at"),
                                     linked["occurred_at"] if linked is not None else None,
                                     recorded_at),
                "follow_up_id": e["follow_up_id"], "due_at": e["due_at"], "owner": e["owner"],
                "purpose": e["purpose"], "contact_id": e["contact_id"]}
    if kind == "FollowUpCompleted":
        return {"type": "follow_up_completed", "at": e["at"], "follow_up_id": e["follow_up_id"],
                "contact_id": e["contact_id"], "actor": e["actor"]}
    if kind == "FollowUpCancelled":
        return {"type": "follow_up_cancelled", "at": e["at"], "follow_up_id": e["follow_up_id"],
                "reason": e["reason"], "actor": e["actor"]}
    if kind == "MergedFrom":
        return {"type": "merged", "at": e["at"], "merged": e["merged"], "reason": e["reason"],
                "actor": e["actor"]}
    if kind == "FollowUpRescheduled":
        return {"type": "follow_up_rescheduled", "at": e.get("at") or recorded_at,
                "follow_up_id": e["follow_up_id"], "due_at": e["due_at"],
                "reason": e["reason"], "actor": e["actor"]}
    return None


def _instant(text: str) -> datetime:
    """An instant as events store it: ISO 8601 with its offset (so any two compare)."""
    instant = datetime.fromisoformat(text)
    if instant.tzinfo is None:
        raise ValueError(f"the instant {text!r} has no offset")
    return instant


def _shown(at: datetime, entry: dict[str, Any], window: TimelineFilter) -> bool:
    if window.since is not None and at < window.since:
        return False
    if window.until is not None and at > window.until:
        return False
    if entry["type"] != "contact":
        return window.channel is None and not window.attributes
    if window.channel is not None and entry["channel"] != window.channel:
        return False
    if window.attributes and any(entry["attributes"].get(name) != value
                                 for name, value in window.attributes.items()):
        return False
    return window.include_retracted or not entry["retracted"]

