"""Relationship stages as they happened: the stage history as a pure function of the facts.

The facts are the stage signals of live contacts at their occurred time (amended values
count, retracted contacts do not) and explicit stage changes at their effective time. They
are folded in the order they happened; at the same instant signals come before explicit
changes, then signals by contact id and explicit changes by stage, reason and actor, so
the recording order never matters. The relationship starts in discovery (cycle 1) at its
earliest fact, or at an earlier explicit registration time.

Along that order: a signal ahead of the stage moves the relationship forward; dissolution
can follow any stage; after dissolution any other signal reopens it at that stage in a new
cycle; a signal at or behind the stage changes nothing. An explicit change goes to any
other stage (leaving dissolution starts a new cycle); to the stage it is in, it changes
nothing. Stays never have a negative duration. A stay in dissolution keeps the reason
category (why the relationship ended) of the fact that began it.

``stage_history`` is the one definition. ``StageFacts`` collects the facts from events
(the aggregate, the stages projection, the audit and the timeline all fill one) and keeps
the history it derived; a fact that sorts after every other one extends it by one step of
the same fold instead of folding everything again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from touchlog.domain.values import Stage

DISSOLUTION = Stage.DISSOLUTION.value
_RANK = {stage.value: stage.rank for stage in Stage}
SIGNAL, EXPLICIT = 0, 1  # at the same instant, signals come first


@dataclass(frozen=True, slots=True)
class StageFact:
    """A stage signal of a live contact, or an explicit stage change."""

    at: str  # ISO 8601 UTC text, as stored
    stage: str
    contact_id: str | None = None  # the signalling contact; None for an explicit change
    reason: str | None = None  # an explicit change's reason
    actor: str | None = None
    category: str | None = None  # why the relationship ended: a dissolution's only
    when: datetime = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "when", datetime.fromisoformat(self.at))

    @property
    def order(self) -> Order:
        """Its place among the facts: when it happened, then a key of its content."""
        if self.contact_id is not None:
            return self.when, SIGNAL, self.contact_id, "", "", ""
        return (self.when, EXPLICIT, self.stage, self.reason or "", self.actor or "",
                self.category or "")


Order = tuple[datetime, int, str, str, str, str]


@dataclass(frozen=True, slots=True)
class Stay:
    """One stay in a stage: a row of ``stage_history`` (without customer and position)."""

    seq: int
    cycle: int
    from_stage: str | None
    to_stage: str
    entered_at: str
    left_at: str | None
    duration_seconds: int | None
    reason: str
    reason_category: str | None
    actor: str | None
    contact_id: str | None
    since: datetime = field(compare=False, repr=False)

    def row(self) -> dict[str, Any]:
        return {"seq": self.seq, "cycle": self.cycle, "from_stage": self.from_stage,
                "to_stage": self.to_stage, "entered_at": self.entered_at,
                "left_at": self.left_at, "duration_seconds": self.duration_seconds,
                "reason": self.reason, "reason_category": self.reason_category,
                "actor": self.actor, "contact_id": self.contact_id}


History = tuple[Stay, ...]


def stage_history(start: str, facts: Iterable[StageFact]) -> History:
    """Every stay, from discovery at ``start`` (no later than any fact) on."""
    stays = [Stay(1, 1, None, Stage.DISCOVERY.value, start, None, None, "registered", None,
                  None, None, datetime.fromisoformat(start))]
    for fact in sorted(facts, key=_order):
        _step(stays, fact)
    return tuple(stays)


def followed_by(history: History, fact: StageFact) -> History:
    """``history`` with one more fact that sorts after all of its facts."""
    stays = list(history)
    _step(stays, fact)
    return history if len(stays) == len(history) else tuple(stays)


def _order(fact: StageFact) -> Order:
    return fact.order


def _moves(stage: str, fact: StageFact) -> bool:
    if fact.contact_id is None:
        return fact.stage != stage
    if stage == DISSOLUTION:
        return fact.stage != DISSOLUTION
    return fact.stage == DISSOLUTION or _RANK[fact.stage] > _RANK[stage]


def _step(stays: list[Stay], fact: StageFact) -> None:
    """Folds one fact: the current stay ends and the next begins, or nothing happens."""
    current = stays[-1]
    if not _moves(current.to_stage, fact):
        return
    seconds = int((fact.when - current.since).total_seconds())
    stays[-1] = Stay(current.seq, current.cycle, current.from_stage, current.to_stage,
                     current.entered_at, fact.at, seconds, current.reason,
                     current.reason_category, current.actor, current.contact_id,
                     current.since)
    reopens = current.to_stage == DISSOLUTION and fact.stage != DISSOLUTION
    reason = (fact.reason or "" if fact.contact_id is None
              else f"stage signal of contact {fact.contact_id}")
    stays.append(Stay(current.seq + 1, current.cycle + reopens, current.to_stage, fact.stage,
                      fact.at, None, None, reason, fact.category, fact.actor,
                      fact.contact_id, fact.when))


def stay_at(history: History, moment: datetime) -> Stay | None:
    """The stay the relationship was in at ``moment``; None before it started."""
    found = None
    for stay in history:
        if stay.since > moment:
            break
        found = stay
    return found


@dataclass(slots=True)
class _Contact:
    occurred_at: str
    signal: str | None
    actor: str | None
    category: str | None = None
    retracted: bool = False


# The fields of a contact card the stage history depends on, besides its signal.
_STAGE_FIELDS = frozenset({"occurred_at", "actor", "reason_category"})


class StageFacts:
    """A relationship's stage facts as recorded so far, and the history they give.

    ``registered_at`` is the registration's time. A customer registered by its first
    contact (the first contact recorded happened exactly then) has no registration time of
    its own: it starts at its earliest fact, whichever contact was recorded first.
    """

    def __init__(self, registered_at: str, *, by_contact: bool = False) -> None:
        self.registered_at = registered_at
        self.by_contact = by_contact
        self.contacts: dict[str, _Contact] = {}
        self.changes: list[StageFact] = []
        self._history: History | None = None
        self._last: Order | None = None  # of the facts folded
        self._fallback = False  # the history starts at a retracted contact: nothing is live

    @classmethod
    def restored(cls, registered_at: str, by_contact: bool,
                 contacts: Iterable[tuple[str, str, str | None, str | None, str | None, bool]],
                 changes: Iterable[StageFact]) -> StageFacts:
        """Facts kept elsewhere (a projection's table): contacts as (id, occurred_at,
        signal, actor, category, retracted), explicit changes as facts."""
        facts = cls(registered_at, by_contact=by_contact)
        facts.contacts = {c[0]: _Contact(*c[1:]) for c in contacts}
        facts.changes = list(changes)
        return facts

    def __eq__(self, other: object) -> bool:
        """The same facts (what was derived from them is not compared)."""
        if not isinstance(other, StageFacts):
            return NotImplemented
        return ((self.registered_at, self.by_contact, self.contacts, self.changes)
                == (other.registered_at, other.by_contact, other.contacts, other.changes))

    __hash__ = None  # type: ignore[assignment]  # mutable

    # -- the facts, as events record them --------------------------------------------------

    def contact_logged(self, contact_id: str, occurred_at: str, signal: str | None,
                       actor: str | None, category: str | None = None) -> None:
        if not self.contacts and occurred_at == self.registered_at:
            # The start stays where it was: this live contact happened at the registration.
            self.by_contact = True
        self.contacts[contact_id] = _Contact(occurred_at, signal, actor, category)
        history = self._history
        if history is None:  # nothing derived to keep up to date
            return
        if signal is None:
            if self._fallback or datetime.fromisoformat(occurred_at) < history[0].since:
                self._history = None  # the relationship started at another time
            return
        self._extend(StageFact(occurred_at, signal, contact_id, actor=actor, category=category))

    def contact_amended(self, contact_id: str, changes: Mapping[str, Any]) -> None:
        contact = self.contacts.get(contact_id)
        if contact is None or changes.keys().isdisjoint(_STAGE_FIELDS):
            return
        contact.occurred_at = changes.get("occurred_at", contact.occurred_at)
        contact.actor = changes.get("actor", contact.actor)
        contact.category = changes.get("reason_category", contact.category)
        self._history = None

    def contact_retracted(self, contact_id: str) -> None:
        contact = self.contacts.get(contact_id)
        if contact is not None:
            contact.retracted = True
            self._history = None

    def stage_changed(self, to_stage: str, at: str, reason: str | None, actor: str | None,
                      contact_id: str | None, category: str | None = None) -> None:
        """An explicit change; a change naming a contact is the echo of that contact's
        signal, which logs written before stages were derived recorded, and adds nothing."""
        if contact_id is not None:
            return
        fact = StageFact(at, to_stage, None, reason, actor, category)
        self.changes.append(fact)
        self._extend(fact)

    def absorb(self, other: StageFacts) -> None:
        """Adds the facts of a customer merged into this one: the union of the contacts and
        explicit changes, and of the starts: registered by contact only if both were, at
        the earlier registration of those that were not (of both, if both were)."""
        for contact_id, contact in other.contacts.items():
            self.contacts.setdefault(contact_id, replace(contact))
        self.changes += other.changes
        own = [f.registered_at for f in (self, other) if not f.by_contact]
        self.registered_at = min(own or [self.registered_at, other.registered_at],
                                 key=datetime.fromisoformat)
        self.by_contact = not own
        self._history = None

    # -- the history ------------------------------------------------------------------------

    def history(self) -> History:
        if self._history is None:
            facts = self.facts()
            self._history = stage_history(self.start(facts), facts)
            self._last = max((f.order for f in facts), default=None)
            self._fallback = self.by_contact and not facts and all(
                c.retracted for c in self.contacts.values())
        return self._history

    def facts(self) -> list[StageFact]:
        signals = [StageFact(c.occurred_at, c.signal, contact_id, actor=c.actor,
                             category=c.category)
                   for contact_id, c in self.contacts.items()
                   if c.signal is not None and not c.retracted]
        return signals + self.changes

    def start(self, facts: list[StageFact]) -> str:
        """The earliest fact (live contacts and explicit changes) or the registration."""
        times = [c.occurred_at for c in self.contacts.values() if not c.retracted]
        times += [f.at for f in facts if f.contact_id is None]
        if not self.by_contact:
            times.append(self.registered_at)
        elif not times:  # nothing live: the earliest contact there was
            times = [c.occurred_at for c in self.contacts.values()] or [self.registered_at]
        return min(times, key=datetime.fromisoformat)

    def _extend(self, fact: StageFact) -> None:
        history = self._history
        if history is None:
            return
        if (self._fallback or fact.when < history[0].since
                or (self._last is not None and fact.order < self._last)):
            self._history = None  # it happened before facts already folded
            return
        self._history = followed_by(history, fact)
        self._last = fact.order
