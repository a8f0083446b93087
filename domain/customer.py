"""The Customer aggregate: every contact, stage change and follow-up as an immutable event.

Command methods check the rules and compute ids and times, then trigger an event; each
event class's ``apply`` only assigns state, because it runs again on every replay. Event
fields are plain JSON values (instants as ISO 8601 UTC text, amounts as decimal text).

Events are triggered explicitly (``trigger_event``) rather than through the library's
``@event`` method decorator, because the decorator inspects signatures and copies arguments
on every call, which an import pays for every contact it records. Only creation
(``Registered``) uses ``@event``. Optional arguments of commands are keyword-only.

An event class that gained a field has a ``class_version`` and an ``upcast_vN_vM`` for
each step, which fills the field in older stored states when they are loaded (docs/events.md
"Evolving an event").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic, register_topic

from touchlog.domain.chained import Chained, ChainedEvent
from touchlog.domain.errors import (
    ContactAlreadyRetracted,
    ContactNotFound,
    CustomerErased,
    FollowUpError,
    InvalidInput,
)
from touchlog.domain.identity import customer_id
from touchlog.domain.imports import IMPORT_EVENT_CLASSES
from touchlog.domain.stages import History, StageFacts, stay_at
from touchlog.domain.values import Stage, reason_category_of


@dataclass
class FollowUp:
    """A follow-up's current state inside the aggregate."""

    due_at: str
    owner: str
    purpose: str | None
    status: str = "open"  # open | completed | cancelled
    scheduled_at: str | None = None  # None: scheduled before events said when (version 1)
    # The reschedules applied, as (at, due_at): an import run again recognises its own.
    moves: set[tuple[str | None, str]] = field(default_factory=set)
    source: dict[str, Any] | None = None  # the import and line that scheduled it


class Customer(Chained, Aggregate):
    """One customer's relationship with the company, as the sum of its events."""

    class Event(ChainedEvent, Aggregate.Event):
        """Every customer event carries ``link``, its place in the customer's hash chain."""

        link: str
        # Fields holding personal data, so that erasure can find them (docs/events.md).
        personal_fields: ClassVar[tuple[str, ...]] = ()
        # Whether ``apply`` reads them: replaying a customer to decide opens only these
        # events' sealed values (docs/privacy.md).
        applies_personal: ClassVar[bool] = False

    class Registered(Event, Aggregate.Created):
        reference: str
        at: str

    class ProfileUpdated(Event):
        """Profile fields that changed, and customer attributes that changed (a null value
        clears one); the personal attributes are those the settings declare personal
        (``personal_paths``)."""

        changes: dict[str, str | None]
        attributes: dict[str, Any]
        source: dict[str, Any] | None  # the import and line that wrote it (docs/events.md)
        personal_fields = ("changes.name", "changes.email", "changes.phone")
        class_version = 2
        applies_personal = True

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["attributes"] = {}  # customer attributes came in version 2
            state["source"] = None  # and so did sources

        def apply(self, customer: Customer) -> None:
            customer.profile.update(self.changes)
            for name, value in self.attributes.items():
                if value is None:
                    customer.attributes.pop(name, None)
                else:
                    customer.attributes[name] = value

    class ContactLogged(Event):
        contact_id: str
        occurred_at: str
        channel: str
        initiated_by: str
        purpose: str | None
        summary: str | None
        place: str | None
        actor: str | None
        outcome: str | None
        rating: int | None
        amount: str | None
        stage_signal: str | None
        reason_category: str | None  # why the relationship ended: a dissolution signal's
        deliberate: bool
        hard: bool
        active: bool
        # The person at the customer it was with: {"name": …, "email": …} (either may be
        # null), or null (since version 3).
        person: dict[str, str | None] | None
        # Declared contact attributes, name -> typed value (since version 3).
        attributes: dict[str, Any]
        # Said to be a purchase; a contact with an amount is one too (since version 3).
        purchase: bool
        source: dict[str, Any] | None  # the import and line that wrote it (docs/events.md)
        personal_fields = ("purpose", "summary", "place", "person.name", "person.email")
        class_version = 3

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["reason_category"] = None  # categories came in version 2

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            # The person, attributes, the purchase flag and sources came in version 3.
            state["person"] = None
            state["attributes"] = {}
            state["purchase"] = False
            state["source"] = None

        def apply(self, customer: Customer) -> None:
            customer.contact_ids.add(self.contact_id)
            customer.logged[self.contact_id] = self
            customer.stage_facts.contact_logged(self.contact_id, self.occurred_at,
                                                self.stage_signal, self.actor,
                                                self.reason_category)

    class ContactAmended(Event):
        contact_id: str
        changes: dict[str, Any]
        reason: str | None
        actor: str | None
        source: dict[str, Any] | None
        personal_fields = ("changes.purpose", "changes.summary", "changes.place",
                           "changes.person.name", "changes.person.email", "reason")
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["source"] = None  # sources came in version 2

        def apply(self, customer: Customer) -> None:
            # The card's values live in the projections; the aggregate keeps the changes
            # only to tell a contact recorded again with other content (``differences``).
            customer.amendments.setdefault(self.contact_id, []).append(self)
            customer.stage_facts.contact_amended(self.contact_id, self.changes)

    class ContactRetracted(Event):
        contact_id: str
        reason: str
        actor: str | None
        source: dict[str, Any] | None  # {"undo": import id} when undoing an import did it
        personal_fields = ("reason",)
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["source"] = None  # sources came in version 2

        def apply(self, customer: Customer) -> None:
            customer.retracted.add(self.contact_id)
            if self.source is not None and "undo" in self.source:
                customer.undone.add(self.contact_id)
            customer.stage_facts.contact_retracted(self.contact_id)

    class StageChanged(Event):
        """An explicit stage change at ``at``. ``from_stage`` and ``cycle`` say where the
        relationship stood then as known when it was recorded; the history re-derives them.
        Logs written before stages were derived also hold one for each stage signal that
        moved the relationship (``contact_id`` names the contact): those add nothing."""

        from_stage: str
        to_stage: str
        at: str
        reason: str
        reason_category: str | None  # why the relationship ended: a dissolution's
        actor: str | None
        contact_id: str | None
        cycle: int
        source: dict[str, Any] | None  # the import and line that wrote it (docs/events.md)
        personal_fields = ("reason",)
        applies_personal = True
        class_version = 3

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["reason_category"] = None  # categories came in version 2

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["source"] = None  # sources came in version 3

        def apply(self, customer: Customer) -> None:
            customer.stage_facts.stage_changed(self.to_stage, self.at, self.reason, self.actor,
                                               self.contact_id, self.reason_category)

    class FollowUpScheduled(Event):
        """A follow-up scheduled at ``scheduled_at`` (when it happened), due at ``due_at``.
        Events before version 2 do not say when: ``scheduled_time`` reads them."""

        follow_up_id: str
        scheduled_at: str | None
        due_at: str
        owner: str
        purpose: str | None
        contact_id: str | None
        source: dict[str, Any] | None
        personal_fields = ("purpose",)
        class_version = 2
        applies_personal = True

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["scheduled_at"] = None  # the time it was scheduled came in version 2
            state["source"] = None  # and so did sources

        def apply(self, customer: Customer) -> None:
            customer.follow_ups[self.follow_up_id] = FollowUp(
                due_at=self.due_at, owner=self.owner, purpose=self.purpose,
                scheduled_at=self.scheduled_at, source=self.source)

    class FollowUpCompleted(Event):
        follow_up_id: str
        at: str
        contact_id: str | None
        actor: str | None
        source: dict[str, Any] | None  # the import and line that wrote it (docs/events.md)
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["source"] = None  # sources came in version 2

        def apply(self, customer: Customer) -> None:
            # Read alone, a customer's own stream may close a follow-up of one merged into
            # it (the merged stream holds it): nothing to do then.
            if self.follow_up_id in customer.follow_ups:
                customer.follow_ups[self.follow_up_id].status = "completed"

    class FollowUpCancelled(Event):
        follow_up_id: str
        at: str
        reason: str
        actor: str | None
        source: dict[str, Any] | None  # the import and line that wrote it (docs/events.md)
        personal_fields = ("reason",)
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["source"] = None  # sources came in version 2

        def apply(self, customer: Customer) -> None:
            if self.follow_up_id in customer.follow_ups:  # see FollowUpCompleted
                customer.follow_ups[self.follow_up_id].status = "cancelled"

    class Erased(Event):
        """The customer's personal data was erased on request (docs/privacy.md): its key
        is destroyed after this is recorded. Holds no personal data: the legal ``basis``
        (gdpr-17, pipl-47, …), the ``request``'s id, who asked for it (``by``), when
        (``at``) and how many events before it it covers (``events``)."""

        basis: str
        request: str
        by: str | None
        at: str
        events: int

        def apply(self, customer: Customer) -> None:
            customer.erased = True

    class HoldPlaced(Event):
        """A legal retention hold (GDPR art. 17(3)): erasure is refused while it stands."""

        reason: str
        by: str | None
        at: str
        personal_fields = ("reason",)
        applies_personal = True

        def apply(self, customer: Customer) -> None:
            customer.hold = self.reason

    class HoldLifted(Event):
        reason: str
        by: str | None
        at: str
        personal_fields = ("reason",)
        applies_personal = True

        def apply(self, customer: Customer) -> None:
            customer.hold = None

    class RelationshipRenewed(Event):
        """An erased customer starts a new relationship: personal data recorded from now
        on is sealed with a new key (``epoch``); what was erased stays erased."""

        epoch: int
        by: str | None
        at: str

        def apply(self, customer: Customer) -> None:
            customer.erased = False
            customer.key_epoch = self.epoch

    class FollowUpRescheduled(Event):
        """A follow-up moved to ``due_at`` at ``at``; events before version 2 do not say
        when (None): they happened when they were recorded (``timestamp``)."""

        follow_up_id: str
        at: str | None
        due_at: str
        reason: str | None
        actor: str | None
        source: dict[str, Any] | None  # the import and line that wrote it (docs/events.md)
        personal_fields = ("reason",)
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["at"] = None  # the time it happened came in version 2
            state["source"] = None  # and so did sources

        def apply(self, customer: Customer) -> None:
            follow_up = customer.follow_ups.get(self.follow_up_id)
            if follow_up is not None:  # see FollowUpCompleted
                follow_up.due_at = self.due_at
                follow_up.moves.add((self.at, self.due_at))

    class MergedInto(Event):
        """This customer is a duplicate of customer ``into`` (a reference): from now on its
        facts are read as that customer's, and what is recorded for it is recorded there.
        Its own stream ends here."""

        into: str
        reason: str
        actor: str | None
        at: str
        personal_fields = ("reason",)

        def apply(self, customer: Customer) -> None:
            customer.merged_into = self.into

    class MergedFrom(Event):
        """Customer ``merged`` (a reference) was merged into this one (its ``MergedInto``
        comes just before): from now on this customer is read with the other's facts."""

        merged: str
        reason: str
        actor: str | None
        at: str
        personal_fields = ("reason",)

        def apply(self, customer: Customer) -> None:
            customer.merged.append(self.merged)

    identity_fields = ("reference",)
    chain_head: str
    # Seals the personal fields of a new event's stored state, and opens sealed ones
    # (domain/sealing.py); the application sets both. None (unit tests of the rules) stores
    # them as they are.
    sealer: Any = None
    opener: Any = None
    erased = False  # its personal data was erased and no new relationship started since
    hold: str | None = None  # the reason of a legal hold that stands
    key_epoch = 1  # the relationship whose key seals its personal data

    def __eq__(self, other: object) -> bool:
        """Equal facts make equal customers, whichever application seals for them."""
        return type(self) is type(other) and _facts(self) == _facts(other)

    __hash__ = None  # type: ignore[assignment]

    @staticmethod
    def create_id(reference: str) -> UUID:
        return customer_id(reference)

    @event(Registered)
    def __init__(self, reference: str, at: str) -> None:
        self.reference = reference
        self.stage_facts = StageFacts(at)
        self.profile: dict[str, str | None] = {}
        self.attributes: dict[str, Any] = {}
        self.contact_ids: set[str] = set()
        self.logged: dict[str, Customer.ContactLogged] = {}
        self.amendments: dict[str, list[Customer.ContactAmended]] = {}
        self.retracted: set[str] = set()
        self.undone: set[str] = set()  # retracted by undoing their import
        self.follow_ups: dict[str, FollowUp] = {}
        self.merged_into: str | None = None  # the customer this one was merged into
        self.merged: list[str] = []  # the customers merged into this one, in order

    # -- the hash chain -------------------------------------------------------------------

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        """``Chained.trigger_event``; nothing but a new relationship is recorded for an
        erased customer."""
        if self.erased and event_class is not self.RelationshipRenewed:
            raise CustomerErased(self.reference)
        super().trigger_event(event_class, **kwargs)

    def stored_state(self, event_class: Any, plain: dict[str, Any], version: int
                     ) -> dict[str, Any]:
        """The state with its personal fields sealed (``sealer``): the link covers the
        sealed values, never the plain ones, so it is checked without any key."""
        if self.sealer is None:
            return plain
        stored: dict[str, Any] = self.sealer(event_class, plain, self.id, version,
                                             self.key_epoch)
        return stored

    # -- profile --------------------------------------------------------------------------

    def update_profile(self, changes: dict[str, str | None], *,
                       attributes: dict[str, Any] | None = None,
                       source: dict[str, Any] | None = None) -> bool:
        """Records the fields and attributes (typed, None clearing one) that differ from
        the profile; returns whether any did."""
        changed = {k: val for k, val in changes.items() if self.profile.get(k) != val}
        attributes_changed = {k: val for k, val in (attributes or {}).items()
                              if self.attributes.get(k) != val}
        if changed or attributes_changed:
            self.trigger_event(self.ProfileUpdated, changes=changed,
                               attributes=attributes_changed, source=source)
        return bool(changed or attributes_changed)

    @property
    def owner(self) -> str | None:
        return self.profile.get("owner")

    # -- merging duplicates ---------------------------------------------------------------

    def merge_into(self, keep: Customer, reason: str, actor: str | None, at: str) -> None:
        """Records on both customers that this one is a duplicate of ``keep``. Refused into
        itself, into a customer merged away, and for a customer merged already."""
        if keep.id == self.id:
            raise InvalidInput("into", keep.reference, "a customer cannot be merged into itself")
        if self.merged_into is not None:
            raise InvalidInput("customer", self.reference,
                               f"was merged into {self.merged_into!r} already")
        if keep.merged_into is not None:
            raise InvalidInput("into", keep.reference,
                               f"was merged into {keep.merged_into!r}; merge into that one")
        if not reason or not reason.strip():
            raise InvalidInput("reason", reason, "a merge needs a reason")
        self.trigger_event(self.MergedInto, into=keep.reference, reason=reason, actor=actor,
                           at=at)
        keep.trigger_event(keep.MergedFrom, merged=self.reference, reason=reason, actor=actor,
                           at=at)

    def absorb(self, merged: Customer) -> None:
        """Reads ``merged`` (merged into this customer) as part of this one, from the point
        of its ``MergedFrom`` on: its contacts, follow-ups and stage facts, and the profile
        fields and attributes this one has no value for. Nothing is recorded: the union is
        how the two streams are read (docs/domain.md "Duplicate customers")."""
        self.contact_ids |= merged.contact_ids
        self.logged.update(merged.logged)
        for contact_id, amended in merged.amendments.items():
            self.amendments.setdefault(contact_id, []).extend(amended)
        self.retracted |= merged.retracted
        for follow_up_id, follow_up in merged.follow_ups.items():
            self.follow_ups.setdefault(follow_up_id, follow_up)
        for name, value in merged.profile.items():
            if self.profile.get(name) is None:
                self.profile[name] = value
        for name, value in merged.attributes.items():
            self.attributes.setdefault(name, value)
        self.stage_facts.absorb(merged.stage_facts)

    # -- privacy --------------------------------------------------------------------------

    def erase(self, basis: str, request: str, at: str, *, by: str | None = None) -> bool:
        """Records the erasure of the customer's personal data (its key is destroyed
        next); False when it is already recorded. Refused while a legal hold stands."""
        if self.erased:
            return False
        if self.hold is not None:
            raise InvalidInput("customer", self.reference, (
                f"a legal hold stands ({self.hold}): erasure is refused until it is lifted "
                "('touchlog customer hold REF --lift --reason …')"))
        for name, value in (("basis", basis), ("request", request)):
            if not value or not value.strip():
                raise InvalidInput(name, value, f"an erasure needs its {name}")
        self.trigger_event(self.Erased, basis=basis, request=request, by=by, at=at,
                           events=self.version)
        return True

    def place_hold(self, reason: str, at: str, *, by: str | None = None) -> None:
        if not reason or not reason.strip():
            raise InvalidInput("reason", reason, "a legal hold needs a reason")
        if self.hold is not None:
            raise InvalidInput("customer", self.reference,
                               f"a legal hold already stands ({self.hold})")
        self.trigger_event(self.HoldPlaced, reason=reason, by=by, at=at)

    def lift_hold(self, reason: str, at: str, *, by: str | None = None) -> None:
        if not reason or not reason.strip():
            raise InvalidInput("reason", reason, "lifting a legal hold needs a reason")
        if self.hold is None:
            raise InvalidInput("customer", self.reference, "no legal hold stands")
        self.trigger_event(self.HoldLifted, reason=reason, by=by, at=at)

    def renew_relationship(self, at: str, *, by: str | None = None) -> None:
        """Starts a new relationship with an erased customer, under a new key."""
        if not self.erased:
            raise InvalidInput("customer", self.reference, (
                "its personal data was not erased: a new relationship starts only after "
                "an erasure"))
        self.trigger_event(self.RelationshipRenewed, epoch=self.key_epoch + 1, by=by, at=at)

    # -- contacts -------------------------------------------------------------------------

    def log_contact(self, card: dict[str, Any], *, source: dict[str, Any] | None = None
                    ) -> bool:
        """Records a contact card (plain values); the same contact id twice is a no-op.

        Its stage signal is a fact of the stage history (domain/stages.py), which derives
        the stages from all the facts in the order they happened. ``source`` names the
        import and line that wrote it (docs/events.md "Sources").
        """
        if card["contact_id"] in self.contact_ids:
            return False
        self.trigger_event(self.ContactLogged, source=source, **with_card_defaults(card))
        return True

    def revived_id(self, contact_id: str) -> str:
        """The id under which a contact that undoing its import retracted is recorded
        again: ``ID~2``, ``ID~3``, … the first one no undo retracted (the same again on
        every re-run, so recording it again stays a no-op)."""
        n = 2
        while f"{contact_id}~{n}" in self.undone:
            n += 1
        return f"{contact_id}~{n}"

    def card_of(self, contact_id: str) -> dict[str, Any]:
        """A stored contact's card as amended since (ContactNotFound if there is none)."""
        logged = self.logged.get(contact_id)
        if logged is None:
            raise ContactNotFound(contact_id)
        return self._amended(self._first_card(logged), contact_id)

    def _amended(self, card: dict[str, Any], contact_id: str) -> dict[str, Any]:
        """``card`` (as logged) with the contact's amendments applied, in place."""
        for amended in self.amendments.get(contact_id, ()):
            amend_card(card, self._opened({"changes": amended.changes}, amended)["changes"])
        return card

    def _first_card(self, logged: Customer.ContactLogged) -> dict[str, Any]:
        """A contact's card as it was logged, its personal values opened."""
        return self._opened({name: getattr(logged, name) for name in CARD_FIELDS}, logged)

    def _opened(self, state: dict[str, Any], event: Customer.Event) -> dict[str, Any]:
        """``event``'s ``state`` (or part of it) with its sealed values opened by ``opener``
        (a customer replayed to decide keeps contacts' values sealed), in a copy when it has
        any. The event may be of a customer merged into this one: its values are bound to
        that one."""
        if self.opener is None:
            return state
        opened: dict[str, Any] = self.opener(state, event.originator_id,
                                             event.originator_version)
        return opened

    def differences(self, card: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        """The fields of ``card`` whose values differ from the stored contact with its id
        as amended since, each with the stored and the card's value; empty when the
        content is the same, or the same as when it was logged (the same source read again
        after a correction of what it recorded)."""
        card = with_card_defaults(card)
        contact_id = card["contact_id"]
        stored = self._first_card(self.logged[contact_id])
        if contact_id in self.amendments:
            if all(stored[name] == card[name] for name in CARD_FIELDS):
                return {}
            stored = self._amended(stored, contact_id)
        return {name: (stored[name], card[name]) for name in CARD_FIELDS
                if stored[name] != card[name]}

    def amend_contact(self, contact_id: str, changes: dict[str, Any], *,
                      reason: str | None = None, actor: str | None = None,
                      source: dict[str, Any] | None = None) -> None:
        self._require_live_contact(contact_id)
        if "stage_signal" in changes:
            raise InvalidInput("stage_signal", changes["stage_signal"],
                               "a stage signal cannot be amended; change the stage instead")
        if not changes:
            raise InvalidInput("changes", changes, "an amendment needs at least one field")
        if "reason_category" in changes:
            reason_category_of(changes["reason_category"],
                               self.stage_facts.contacts[contact_id].signal)
        self.trigger_event(self.ContactAmended, contact_id=contact_id, changes=changes,
                           reason=reason, actor=actor, source=source)

    def retract_contact(self, contact_id: str, reason: str, *, actor: str | None = None,
                        source: dict[str, Any] | None = None) -> None:
        """Marks a contact invalid (contact analysis); the original stays in the log."""
        self._require_live_contact(contact_id)
        if not reason.strip():
            raise InvalidInput("reason", reason, "a retraction needs a reason")
        self.trigger_event(self.ContactRetracted, contact_id=contact_id, reason=reason,
                           actor=actor, source=source)

    def _require_live_contact(self, contact_id: str) -> None:
        if contact_id not in self.contact_ids:
            raise ContactNotFound(contact_id)
        if contact_id in self.retracted:
            raise ContactAlreadyRetracted(contact_id)

    # -- stages ---------------------------------------------------------------------------

    def change_stage(self, to: Stage, at: str, reason: str, actor: str, *,
                     reason_category: str | None = None,
                     source: dict[str, Any] | None = None) -> bool:
        """An explicit stage change at ``at``: any stage, with a reason and an actor, and
        for a dissolution optionally the category of why the relationship ended.

        It is recorded even when the relationship was already in that stage then (it
        changes nothing until facts recorded later say otherwise), so that the facts, not
        the order they arrived in, decide. Returns whether it changed the history.
        """
        if not reason or not reason.strip():
            raise InvalidInput("reason", reason, "an explicit stage change needs a reason")
        if not actor or not actor.strip():
            raise InvalidInput("actor", actor, "an explicit stage change needs an actor")
        reason_category = reason_category_of(reason_category, to)
        before = self.stage_history
        then = stay_at(before, datetime.fromisoformat(at)) or before[0]
        reopens = then.to_stage == Stage.DISSOLUTION and to is not Stage.DISSOLUTION
        self.trigger_event(
            self.StageChanged, from_stage=then.to_stage, to_stage=to.value, at=at,
            reason=reason, reason_category=reason_category, actor=actor, contact_id=None,
            cycle=then.cycle + reopens, source=source,
        )
        return self.stage_history != before

    @property
    def stage_history(self) -> History:
        """Every stay in a stage, derived from the facts recorded so far."""
        return self.stage_facts.history()

    @property
    def stage(self) -> Stage:
        return Stage.parse(self.stage_history[-1].to_stage)

    @property
    def stage_since(self) -> str:
        return self.stage_history[-1].entered_at

    @property
    def cycle(self) -> int:
        return self.stage_history[-1].cycle

    # -- follow-ups -----------------------------------------------------------------------

    def schedule_follow_up(self, follow_up_id: str, due_at: str, owner: str, *,
                           at: str, purpose: str | None = None,
                           contact_id: str | None = None,
                           source: dict[str, Any] | None = None) -> None:
        """Schedules a follow-up at ``at``, when it was scheduled (with a contact: the
        contact's time)."""
        if follow_up_id in self.follow_ups:
            raise FollowUpError(f"follow-up {follow_up_id!r} is already scheduled")
        if contact_id is not None and contact_id not in self.contact_ids:
            raise ContactNotFound(contact_id)
        self.trigger_event(self.FollowUpScheduled, follow_up_id=follow_up_id, scheduled_at=at,
                           due_at=due_at, owner=owner, purpose=purpose, contact_id=contact_id,
                           source=source)

    def complete_follow_up(self, follow_up_id: str, at: str, *, contact_id: str | None = None,
                           actor: str | None = None,
                           source: dict[str, Any] | None = None) -> None:
        self._settling(follow_up_id, at, "completed")
        if contact_id is not None and contact_id not in self.contact_ids:
            raise ContactNotFound(contact_id)
        self.trigger_event(self.FollowUpCompleted, follow_up_id=follow_up_id, at=at,
                           contact_id=contact_id, actor=actor, source=source)

    def cancel_follow_up(self, follow_up_id: str, at: str, reason: str, *,
                         actor: str | None = None,
                         source: dict[str, Any] | None = None) -> None:
        self._settling(follow_up_id, at, "cancelled")
        if not reason or not reason.strip():
            raise InvalidInput("reason", reason, "cancelling a follow-up needs a reason")
        self.trigger_event(self.FollowUpCancelled, follow_up_id=follow_up_id, at=at,
                           reason=reason, actor=actor, source=source)

    def reschedule_follow_up(self, follow_up_id: str, due_at: str, *, at: str,
                             reason: str | None = None, actor: str | None = None,
                             source: dict[str, Any] | None = None) -> None:
        follow_up = self._settling(follow_up_id, at, "rescheduled")
        if follow_up.due_at == due_at:
            raise FollowUpError(f"follow-up {follow_up_id!r} is already due at {due_at}")
        self.trigger_event(self.FollowUpRescheduled, follow_up_id=follow_up_id, at=at,
                           due_at=due_at, reason=reason, actor=actor, source=source)

    def _settling(self, follow_up_id: str, at: str, done: str) -> FollowUp:
        """The open follow-up that something happens to at ``at``: neither in the future
        nor before the follow-up was scheduled."""
        follow_up = self._open_follow_up(follow_up_id)
        not_in_future(at, f"a follow-up cannot be {done} in the future")
        scheduled = follow_up.scheduled_at
        if scheduled is not None and datetime.fromisoformat(at) < datetime.fromisoformat(
                scheduled):
            raise InvalidInput("at", at, f"follow-up {follow_up_id!r} was scheduled at "
                               f"{scheduled}: it cannot be {done} before")
        return follow_up

    def _open_follow_up(self, follow_up_id: str) -> FollowUp:
        follow_up = self.follow_ups.get(follow_up_id)
        if follow_up is None:
            raise FollowUpError(f"no follow-up with id {follow_up_id!r}")
        if follow_up.status != "open":
            raise FollowUpError(f"follow-up {follow_up_id!r} is already {follow_up.status}")
        return follow_up

    @property
    def open_follow_ups(self) -> dict[str, FollowUp]:
        return {k: f for k, f in self.follow_ups.items() if f.status == "open"}


def not_in_future(at: str, reason: str) -> None:
    """Refuses an instant (ISO text with offset) later than now: it has not happened."""
    if datetime.fromisoformat(at) > datetime.now(UTC):
        raise InvalidInput("at", at, reason)


SCHEDULED_IN_FUTURE = "a follow-up cannot be scheduled in the future (its due time may be)"


def scheduled_time(scheduled_at: str | None, contact_at: str | None, recorded_at: str) -> str:
    """When a follow-up was scheduled: ``scheduled_at`` as its event says (version 2), else
    at the contact it was scheduled with, else when the event was recorded."""
    return scheduled_at or contact_at or recorded_at


# The profile fields a person sets (``customer set``), which the archive keeps per customer.
PROFILE_FIELDS: tuple[str, ...] = ("name", "email", "phone", "owner")

# The fields of a contact card as ContactLogged stores them, in its order (its source is
# where the card came from, not part of it).
CARD_FIELDS: tuple[str, ...] = tuple(
    name for name in Customer.ContactLogged.__annotations__ if name != "source")
# Where a record came from, the ``source`` field of the events an import writes: the
# import's id and the line of its file, {"import": "i-…", "line": 12}; a retraction by
# undoing an import names it: {"undo": "i-…"}.


def _facts(customer: Customer) -> dict[str, Any]:
    return {k: v for k, v in vars(customer).items() if k not in ("sealer", "opener")}


def _recorded_events() -> dict[str, type[Customer.Event]]:
    """Every event class Customer records, by its stored topic: the ``Customer.Event``
    classes declared on it, creation being ``Registered`` alone (the library also declares a
    default ``Created`` that Customer never records)."""
    declared: list[type[Customer.Event]] = [
        cls for cls in vars(Customer).values() if isinstance(cls, type)
        and issubclass(cls, Customer.Event) and cls is not Customer.Event]
    creation: type[Customer.Event] = Customer.Registered
    return {get_topic(cls): cls for cls in declared
            if cls is creation or not issubclass(cls, Aggregate.Created)}


# Topics under which events of a class since moved or renamed were stored (old topic ->
# class): add one when a class moves (docs/events.md, "Evolving an event").
FORMER_TOPICS: dict[str, type[ChainedEvent]] = {}
for _topic, _class in FORMER_TOPICS.items():
    register_topic(_topic, _class)

# The only topics touchlog ever resolves (an allow-list): a stored event naming any other is
# unreadable, and no module it names is imported. Imports (domain/imports.py) are recorded
# in the same store.
EVENT_CLASSES: dict[str, type[ChainedEvent]] = {**_recorded_events(), **IMPORT_EVENT_CLASSES,
                                               **FORMER_TOPICS}
CUSTOMER_TOPIC = get_topic(Customer)  # the originator_topic every Registered carries
REGISTERED_TOPIC = get_topic(Customer.Registered)
ERASED_TOPIC = get_topic(Customer.Erased)
MERGED_INTO = get_topic(Customer.MergedInto)
MERGED_FROM = get_topic(Customer.MergedFrom)


def with_card_defaults(card: dict[str, Any]) -> dict[str, Any]:
    """A card made without ContactLogged version 3's fields, with their defaults."""
    if "purchase" in card:
        return card
    return {**card, "person": None, "attributes": {}, "purchase": False}


def amendment(differing: Mapping[str, tuple[Any, Any]]) -> dict[str, Any]:
    """The changes of an amendment that turns stored values into new ones (``differing``:
    field -> (stored, new)), as ``amend_card`` applies them: attributes by name, a removed
    one null."""
    changes = {}
    for name, (stored, new) in differing.items():
        if name == "attributes":
            stored, new = stored or {}, new or {}
            changes[name] = {k: new.get(k) for k in sorted({*stored, *new})
                             if stored.get(k) != new.get(k)}
        else:
            changes[name] = new
    return changes


def amend_card(card: dict[str, Any], changes: Mapping[str, Any]) -> None:
    """Applies an amendment's ``changes`` to a card's stored values, in place: the one rule
    every reader of amended cards follows. The person and the attributes merge (a null
    attribute is removed; a person left with neither name nor e-mail is null); any other
    field is replaced."""
    for name, value in changes.items():
        if name == "attributes":
            merged = {**(card.get("attributes") or {}), **value}
            card["attributes"] = {k: merged[k] for k in sorted(merged) if merged[k] is not None}
        elif name == "person":
            person = {"name": None, "email": None, **(card.get("person") or {}), **value}
            card["person"] = person if any(person.values()) else None
        else:
            card[name] = value
