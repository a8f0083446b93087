"""A customer as it stood at time T, as the log knew it at time K (docs/audit.md).

Two clocks: ``known_at`` K keeps only events recorded (event timestamp) at or before K;
``as_of`` T then keeps what had happened by T: contacts that occurred by T, the stage as it
stood at T (the stay in force at T of the history ``stage_history`` derives from the facts
known at K), follow-ups open at T. Corrections (amendments, retractions) and the profile
have no time of their own in the world, so only K filters them. The result names every
event version it used, so an auditor can point at the exact records behind it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from touchlog.domain.customer import CARD_FIELDS, Customer, amend_card, scheduled_time
from touchlog.domain.errors import TouchlogError
from touchlog.domain.stages import StageFacts, Stay, stay_at


class NothingKnown(TouchlogError):
    """The log held nothing about the customer at the requested time."""


def reconstruct(events: Iterable[Customer.Event], as_of: datetime | None = None,
                known_at: datetime | None = None) -> dict[str, Any]:
    """The customer's state at ``as_of`` from the events recorded by ``known_at``."""
    known = [e for e in events if known_at is None or e.timestamp <= known_at]
    if not known or not isinstance(known[0], Customer.Registered):
        raise NothingKnown(f"nothing was recorded about this customer by {known_at}")
    replay = _Replay(as_of)
    for e in known:
        replay.apply(e)
    head = known[-1]
    return {
        "customer": replay.reference,
        "customer_id": head.originator_id.hex,
        "as_of": as_of.isoformat() if as_of else None,
        "known_at": known_at.isoformat() if known_at else None,
        "head": {"version": head.originator_version, "link": head.link},
        **replay.result(),
    }


def _happened(at: str | None, as_of: datetime | None) -> bool:
    return as_of is None or (at is not None and datetime.fromisoformat(at) <= as_of)


class _Replay:
    """Folds events in recording order; the ``as_of`` filter applies per kind of fact."""

    def __init__(self, as_of: datetime | None) -> None:
        self.as_of = as_of
        self.reference = ""
        self.registered: dict[str, Any] = {}
        self.stage_facts = StageFacts("")
        self.change_versions: dict[tuple[Any, ...], int] = {}  # explicit stage changes
        self.profile: dict[str, str | None] = {}
        self.profile_versions: list[int] = []
        self.contacts: dict[str, dict[str, Any]] = {}
        self.follow_ups: dict[str, dict[str, Any]] = {}

    def apply(self, e: Customer.Event) -> None:
        version, recorded = e.originator_version, e.timestamp.isoformat()
        if isinstance(e, Customer.Registered):
            self.reference = e.reference
            self.registered = {"at": e.at, "version": version}
            self.stage_facts = StageFacts(e.at)
        elif isinstance(e, Customer.ProfileUpdated):
            self.profile.update(e.changes)
            self.profile_versions.append(version)
        elif isinstance(e, Customer.ContactLogged):
            card = {f: getattr(e, f) for f in CARD_FIELDS}
            self.contacts[e.contact_id] = {**card, "recorded_at": recorded, "version": version,
                                           "amended_in": [], "retraction": None}
            self.stage_facts.contact_logged(e.contact_id, e.occurred_at, e.stage_signal, e.actor,
                                            e.reason_category)
        elif isinstance(e, Customer.ContactAmended | Customer.ContactRetracted):
            self._correct(e, version)
        elif isinstance(e, Customer.StageChanged):
            self.stage_facts.stage_changed(e.to_stage, e.at, e.reason, e.actor, e.contact_id,
                                           e.reason_category)
            self.change_versions.setdefault((e.at, e.to_stage, e.reason, e.actor), version)
        else:
            self._follow_up(e, version, recorded)

    def _correct(self, e: Customer.Event, version: int) -> None:
        card = self.contacts.get(e.contact_id)  # type: ignore[attr-defined]
        if card is None:  # its contact was recorded after K (clocks out of step)
            return
        if isinstance(e, Customer.ContactAmended):
            amend_card(card, {k: v for k, v in e.changes.items() if k in CARD_FIELDS})
            card["amended_in"].append(version)
            self.stage_facts.contact_amended(e.contact_id, e.changes)
        elif isinstance(e, Customer.ContactRetracted):
            card["retraction"] = {"reason": e.reason, "actor": e.actor, "version": version}
            self.stage_facts.contact_retracted(e.contact_id)

    def _follow_up(self, e: Customer.Event, version: int, recorded: str) -> None:
        if isinstance(e, Customer.FollowUpScheduled):
            contact = self.contacts.get(e.contact_id or "")
            self.follow_ups[e.follow_up_id] = {
                "follow_up_id": e.follow_up_id, "due_at": e.due_at, "owner": e.owner,
                "purpose": e.purpose, "contact_id": e.contact_id,
                "scheduled_at": scheduled_time(e.scheduled_at,
                                               contact["occurred_at"] if contact else None,
                                               recorded),
                "version": version, "changed_in": [], "closed": False,
            }
            return
        follow_up = self.follow_ups.get(getattr(e, "follow_up_id", ""))
        if follow_up is None:
            return
        if isinstance(e, Customer.FollowUpCompleted | Customer.FollowUpCancelled):
            if _happened(e.at, self.as_of):
                follow_up["closed"] = True
                follow_up["changed_in"].append(version)
        elif isinstance(e, Customer.FollowUpRescheduled) and _happened(e.at or recorded,
                                                                        self.as_of):
            follow_up["due_at"] = e.due_at
            follow_up["changed_in"].append(version)

    def _stage(self) -> dict[str, Any]:
        """The stay in force at T (the current one without T), and the event behind it;
        before the relationship started, no stage."""
        history = self.stage_facts.history()
        stay = history[-1] if self.as_of is None else stay_at(history, self.as_of)
        if stay is None:
            return {"stage": None, "since": None, "cycle": None,
                    "version": self.registered["version"]}
        return {"stage": stay.to_stage, "since": stay.entered_at, "cycle": stay.cycle,
                "version": self._version_of(stay)}

    def _version_of(self, stay: Stay) -> int:
        if stay.contact_id is not None:
            return int(self.contacts[stay.contact_id]["version"])
        if stay.seq == 1:
            return int(self.registered["version"])
        return self.change_versions[(stay.entered_at, stay.to_stage, stay.reason, stay.actor)]

    def result(self) -> dict[str, Any]:
        cards = sorted((c for c in self.contacts.values()
                        if _happened(c["occurred_at"], self.as_of)),
                       key=lambda c: (datetime.fromisoformat(c["occurred_at"]), c["version"]))
        live = [c for c in cards if c["retraction"] is None]
        retracted = [c for c in cards if c["retraction"] is not None]
        open_follow_ups = [
            {k: v for k, v in f.items() if k != "closed"} for f in self.follow_ups.values()
            if not f["closed"] and _happened(f["scheduled_at"], self.as_of)
        ]
        open_follow_ups.sort(key=lambda f: (datetime.fromisoformat(f["due_at"]), f["version"]))
        stage = self._stage()
        versions = {self.registered["version"], stage["version"], *self.profile_versions}
        for card in cards:
            versions.update([card["version"], *card["amended_in"]])
            if card["retraction"]:
                versions.add(card["retraction"]["version"])
        for f in open_follow_ups:
            versions.update([f["version"], *f["changed_in"]])
        return {
            "versions": sorted(versions),
            "registered_at": self.registered["at"],
            "stage": stage,
            "profile": self.profile,
            "contacts": live,
            "retracted_contacts": retracted,
            "open_follow_ups": open_follow_ups,
        }


def audit_rows(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The reconstruction as flat rows (one per fact) for table and CSV output."""
    stage, head = state["stage"], state["head"]
    known = f"known at {state['known_at'] or 'now'}; head version {head['version']}"
    rows = [{"kind": "audit", "id": state["customer"], "at": state["as_of"], "detail": known,
             "versions": state["versions"]}]
    rows += [{"kind": "stage", "id": stage["stage"], "at": stage["since"],
             "detail": f"cycle {stage['cycle']}", "versions": [stage["version"]]}]
    rows += [{"kind": "profile", "id": key, "at": None, "detail": value, "versions": None}
             for key, value in sorted(state["profile"].items())]
    for kind, cards in (("contact", state["contacts"]),
                        ("retracted", state["retracted_contacts"])):
        rows += [{"kind": kind, "id": c["contact_id"], "at": c["occurred_at"],
                  "detail": " / ".join(str(c[f]) for f in ("channel", "actor", "summary")
                                       if c[f] is not None),
                  "versions": [c["version"], *c["amended_in"]]} for c in cards]
    rows += [{"kind": "follow_up", "id": f["follow_up_id"], "at": f["due_at"],
              "detail": f"owner {f['owner']}", "versions": [f["version"], *f["changed_in"]]}
             for f in state["open_follow_ups"]]
    return rows
