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

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic, register_topic

from touchlog.domain.chain import chain_link
from touchlog.domain.errors import (
    ContactAlreadyRetracted,
    ContactNotFound,
    CustomerErased,
    FollowUpError,
    InvalidInput,
)
from touchlog.domain.identity import customer_id
from touchlog.domain.stages import History, StageFacts, stay_at
from touchlog.domain.values import Stage, reason_category_of


@dataclass
class FollowUp:
    """A follow-up's current state inside the aggregate."""

    due_at: str
    owner: str
    purpose: str | None
    status: str = "open"  # open | completed | cancelled


class Customer(Aggregate):
    """One customer's relationship with the company, as the sum of its events."""

    class Event(Aggregate.Event):
        """Every customer event carries ``link``, its place in the customer's hash chain."""

        link: str
        # Fields holding personal data, so that erasure can find them (docs/events.md).
        personal_fields: ClassVar[tuple[str, ...]] = ()
        # Whether ``apply`` reads them: replaying a customer to decide opens only these
        # events' sealed values (docs/privacy.md).
        applies_personal: ClassVar[bool] = False

        def mutate(self, aggregate: Any) -> Any:
            customer = super().mutate(aggregate)
            assert customer is not None
            customer.chain_head = self.link
            return customer

    class Registered(Event, Aggregate.Created):
        reference: str
        at: str

    class ProfileUpdated(Event):
        changes: dict[str, str | None]
        personal_fields = ("changes.name", "changes.email", "changes.phone")
        applies_personal = True

        def apply(self, customer: Customer) -> None:
            customer.profile.update(self.changes)

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
        personal_fields = ("purpose", "summary", "place")
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["reason_category"] = None  # categories came in version 2

        def apply(self, customer: Customer) -> None:
            customer.contact_ids.add(self.contact_id)
            customer.stage_facts.contact_logged(self.contact_id, self.occurred_at,
                                                self.stage_signal, self.actor,
                                                self.reason_category)

    class ContactAmended(Event):
        contact_id: str
        changes: dict[str, Any]
        reason: str | None
        actor: str | None
        personal_fields = ("changes.purpose", "changes.summary", "changes.place", "reason")

        def apply(self, customer: Customer) -> None:
            # The card's values live in the projections; only its time and actor count here.
            customer.stage_facts.contact_amended(self.contact_id, self.changes)

    class ContactRetracted(Event):
        contact_id: str
        reason: str
        actor: str | None
        personal_fields = ("reason",)

        def apply(self, customer: Customer) -> None:
            customer.retracted.add(self.contact_id)
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
        personal_fields = ("reason",)
        applies_personal = True
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["reason_category"] = None  # categories came in version 2

        def apply(self, customer: Customer) -> None:
            customer.stage_facts.stage_changed(self.to_stage, self.at, self.reason, self.actor,
                                               self.contact_id, self.reason_category)

    class FollowUpScheduled(Event):
        follow_up_id: str
        due_at: str
        owner: str
        purpose: str | None
        contact_id: str | None
        personal_fields = ("purpose",)
        applies_personal = True

        def apply(self, customer: Customer) -> None:
            customer.follow_ups[self.follow_up_id] = FollowUp(
                due_at=self.due_at, owner=self.owner, purpose=self.purpose)

    class FollowUpCompleted(Event):
        follow_up_id: str
        at: str
        contact_id: str | None
        actor: str | None

        def apply(self, customer: Customer) -> None:
            customer.follow_ups[self.follow_up_id].status = "completed"

    class FollowUpCancelled(Event):
        follow_up_id: str
        at: str
        reason: str
        actor: str | None
        personal_fields = ("reason",)

        def apply(self, customer: Customer) -> None:
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
        follow_up_id: str
        due_at: str
        reason: str | None
        actor: str | None
        personal_fields = ("reason",)

        def apply(self, customer: Customer) -> None:
            customer.follow_ups[self.follow_up_id].due_at = self.due_at

    chain_head: str
    # Seals the personal fields of a new event's stored state (domain/sealing.py); the
    # application sets it. None (unit tests of the rules) stores them as they are.
    sealer: Any = None
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
        self.contact_ids: set[str] = set()
        self.retracted: set[str] = set()
        self.follow_ups: dict[str, FollowUp] = {}

    # -- the hash chain -------------------------------------------------------------------

    @classmethod
    def _create(cls, event_class: Any, *, id: Any = None, **kwargs: Any) -> Any:  # noqa: A002
        originator_id = id or cls.create_id(kwargs["reference"])
        kwargs["timestamp"] = kwargs.get("timestamp") or event_class.create_timestamp()
        state = {**kwargs, "originator_topic": get_topic(cls)}
        kwargs["link"] = chain_link("", originator_id, 1, get_topic(event_class), state)
        return super()._create(event_class, id=originator_id, **kwargs)

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        """The library's ``trigger_event`` minus what a version it counts itself cannot
        fail (the id and next-version checks of ``mutate``): the event is made, applied
        and kept pending. Its link covers the state as stored, with the ``class_version``
        the mapper adds to it, its personal fields sealed (``sealer``): the link covers the
        sealed values, never the plain ones, so it is checked without any key.

        Nothing but a new relationship is recorded for an erased customer."""
        if self.erased and event_class is not self.RelationshipRenewed:
            raise CustomerErased(self.reference)
        version = self.version + 1
        timestamp = kwargs["timestamp"] = kwargs.get("timestamp") or datetime.now(UTC)
        class_version = getattr(event_class, "class_version", 1)
        plain = kwargs if class_version == 1 else {**kwargs, "class_version": class_version}
        stored = plain if self.sealer is None else self.sealer(
            event_class, plain, self.id, version, self.key_epoch)
        link = kwargs["link"] = chain_link(
            self.chain_head, self.id, version, get_topic(event_class), stored)
        new_event = event_class(originator_id=self.id, originator_version=version, **kwargs)
        if stored is not plain:
            object.__setattr__(new_event, STORED_STATE, stored)
        new_event.apply(self)
        self.version = version
        self.modified_on = timestamp
        self.chain_head = link
        self._pending_events.append(new_event)

    # -- profile --------------------------------------------------------------------------

    def update_profile(self, changes: dict[str, str | None]) -> bool:
        """Records the fields that differ from the profile; returns whether any did."""
        changed = {k: val for k, val in changes.items() if self.profile.get(k) != val}
        if changed:
            self.trigger_event(self.ProfileUpdated, changes=changed)
        return bool(changed)

    @property
    def owner(self) -> str | None:
        return self.profile.get("owner")

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

    def log_contact(self, card: dict[str, Any]) -> bool:
        """Records a contact card (plain values); the same contact id twice is a no-op.

        Its stage signal is a fact of the stage history (domain/stages.py), which derives
        the stages from all the facts in the order they happened.
        """
        if card["contact_id"] in self.contact_ids:
            return False
        self.trigger_event(self.ContactLogged, **card)
        return True

    def amend_contact(self, contact_id: str, changes: dict[str, Any], *,
                      reason: str | None = None, actor: str | None = None) -> None:
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
                           reason=reason, actor=actor)

    def retract_contact(self, contact_id: str, reason: str, *, actor: str | None = None) -> None:
        """Marks a contact invalid (contact analysis); the original stays in the log."""
        self._require_live_contact(contact_id)
        if not reason.strip():
            raise InvalidInput("reason", reason, "a retraction needs a reason")
        self.trigger_event(self.ContactRetracted, contact_id=contact_id, reason=reason,
                           actor=actor)

    def _require_live_contact(self, contact_id: str) -> None:
        if contact_id not in self.contact_ids:
            raise ContactNotFound(contact_id)
        if contact_id in self.retracted:
            raise ContactAlreadyRetracted(contact_id)

    # -- stages ---------------------------------------------------------------------------

    def change_stage(self, to: Stage, at: str, reason: str, actor: str, *,
                     reason_category: str | None = None) -> bool:
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
            cycle=then.cycle + reopens,
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
                           purpose: str | None = None, contact_id: str | None = None) -> None:
        if follow_up_id in self.follow_ups:
            raise FollowUpError(f"follow-up {follow_up_id!r} is already scheduled")
        if contact_id is not None and contact_id not in self.contact_ids:
            raise ContactNotFound(contact_id)
        self.trigger_event(self.FollowUpScheduled, follow_up_id=follow_up_id, due_at=due_at,
                           owner=owner, purpose=purpose, contact_id=contact_id)

    def complete_follow_up(self, follow_up_id: str, at: str, *, contact_id: str | None = None,
                           actor: str | None = None) -> None:
        self._open_follow_up(follow_up_id)
        if contact_id is not None and contact_id not in self.contact_ids:
            raise ContactNotFound(contact_id)
        self.trigger_event(self.FollowUpCompleted, follow_up_id=follow_up_id, at=at,
                           contact_id=contact_id, actor=actor)

    def cancel_follow_up(self, follow_up_id: str, at: str, reason: str, *,
                         actor: str | None = None) -> None:
        self._open_follow_up(follow_up_id)
        if not reason or not reason.strip():
            raise InvalidInput("reason", reason, "cancelling a follow-up needs a reason")
        self.trigger_event(self.FollowUpCancelled, follow_up_id=follow_up_id, at=at,
                           reason=reason, actor=actor)

    def reschedule_follow_up(self, follow_up_id: str, due_at: str, *,
                             reason: str | None = None, actor: str | None = None) -> None:
        follow_up = self._open_follow_up(follow_up_id)
        if follow_up.due_at == due_at:
            raise FollowUpError(f"follow-up {follow_up_id!r} is already due at {due_at}")
        self.trigger_event(self.FollowUpRescheduled, follow_up_id=follow_up_id, due_at=due_at,
                           reason=reason, actor=actor)

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


def _facts(customer: Customer) -> dict[str, Any]:
    return {k: v for k, v in vars(customer).items() if k != "sealer"}


# The attribute of an event holding its stored state when that differs from its fields
# (its personal fields sealed): what the mapper stores (domain/storage/transcoder.py).
STORED_STATE = "_stored_state"

# The fields of a contact card as ContactLogged stores them, in its order.
CARD_FIELDS: tuple[str, ...] = tuple(Customer.ContactLogged.__annotations__)


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
FORMER_TOPICS: dict[str, type[Customer.Event]] = {}
for _topic, _class in FORMER_TOPICS.items():
    register_topic(_topic, _class)

# The only topics touchlog ever resolves (an allow-list): a stored event naming any other is
# unreadable, and no module it names is imported.
EVENT_CLASSES: dict[str, type[Customer.Event]] = {**_recorded_events(), **FORMER_TOPICS}
CUSTOMER_TOPIC = get_topic(Customer)  # the originator_topic every Registered carries
REGISTERED_TOPIC = get_topic(Customer.Registered)
ERASED_TOPIC = get_topic(Customer.Erased)
