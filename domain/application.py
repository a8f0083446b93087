"""TouchpointLog: the only code that loads and saves Customer aggregates.

Every command loads the customer, lets it decide, and saves; a save that loses an
optimistic-concurrency race is retried from a fresh load, so concurrent writers never lose
or duplicate a contact. Many contacts (an import) are saved many customers per transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import (
    IntegrityError,
    Mapper,
    OperationalError,
    PersistenceError,
    StoredEvent,
    Transcoder,
)

from touchlog.domain.customer import CUSTOMER_TOPIC, ERASED_TOPIC, EVENT_CLASSES, Customer
from touchlog.domain.errors import CustomerNotFound, InvalidInput, StoreError, UnreadableEvent
from touchlog.domain.identity import customer_id, customer_reference, spellings
from touchlog.domain.sealing import erased_state, seal_state
from touchlog.domain.settings import Settings
from touchlog.domain.storage.events import stored_customers, stored_events
from touchlog.domain.storage.keys import Keyring, key_store
from touchlog.domain.storage.location import Location, locate, scrubbed
from touchlog.domain.storage.transcoder import EventMapper, PlainJSONTranscoder
from touchlog.domain.values import Stage, iso, parse_instant, reason_category_of

if TYPE_CHECKING:  # the input models load pydantic, which reading commands do without
    from touchlog.domain.contact import Contact, ContactChanges, FollowUpPlan

T = TypeVar("T")
MAX_ATTEMPTS = 20


@dataclass(frozen=True)
class ContactEntry:
    """One contact to record: the customer's reference, the card and an optional follow-up."""

    reference: str
    contact: Contact
    follow_up: FollowUpPlan | None = None
    occurrence: int = 0  # earlier identical cards from the same source


class CardEntry(NamedTuple):
    """A contact ready to record: the reference, the plain card (``Contact.card``), a follow-up."""

    reference: str
    card: dict[str, Any]
    follow_up: FollowUpPlan | None = None


def card_entry(entry: ContactEntry, settings: Settings) -> CardEntry:
    """The entry's card with its id and flags settled; refuses a channel or a reason
    category not configured."""
    reference = customer_reference(entry.reference)
    channel = settings.channel(entry.contact.channel)
    if entry.contact.reason_category is not None:
        settings.reason_category(entry.contact.reason_category)
    return CardEntry(reference, entry.contact.card(reference, channel, entry.occurrence),
                     entry.follow_up)


@dataclass(frozen=True)
class Recorded:
    """What recording a contact did: its id, and False when it was already in the log."""

    reference: str
    contact_id: str
    logged: bool


class TouchpointLog(Application[UUID]):
    """The touchpoint log application (event store on SQLite or PostgreSQL)."""

    name = "touchlog"

    def __init__(self, settings: Settings | None = None, *, create: bool = True) -> None:
        self.settings = settings or Settings.load()
        self.location: Location = locate(self.settings.db)
        database = self.location.database
        env = database.environment(self.location, create=create)
        self.read_only = database.read_only(self.location)
        self.keyring = Keyring(key_store(self.location))
        if not create and database.is_empty(self.location):
            # Reading it would make it a log with no events, and an audit of a truncated
            # file would then call it intact.
            raise StoreError(f"the database {self.location.redacted} is empty (0 bytes): not a "
                             "touchlog log (recording a contact or importing makes it one)")
        try:
            with database.creation_lock(self.location, env):
                super().__init__(env=env)
        except (PersistenceError, sqlite3.Error, OSError) as e:
            message = scrubbed(str(e), self.location.url)
            where = self.location.redacted
            raise StoreError(f"cannot open the database {where}: {message}") from None

    def construct_transcoder(self) -> Transcoder:
        return PlainJSONTranscoder()

    def construct_mapper(self) -> Mapper[UUID]:
        """Resolves Customer's own event topics only (EVENT_CLASSES): a stored topic naming
        anything else is an UnreadableEvent, never an import."""
        return EventMapper(self.construct_transcoder(), EVENT_CLASSES, CUSTOMER_TOPIC,
                           keys=self.keyring.lookup)

    def close(self) -> None:
        self.keyring.store.close()
        super().close()

    def _seal(self, event_class: type, state: dict[str, Any], customer: UUID, version: int,
              epoch: int) -> dict[str, Any]:
        """A new event's state with its personal fields sealed under the customer's key
        (made with its first personal data): every Customer this application loads seals
        with it (``Customer.sealer``)."""
        return seal_state(event_class, state, self.keyring.make, customer, version, epoch,
                          self.settings)

    # -- contacts -------------------------------------------------------------------------

    def log_contact(self, reference: str, contact: Contact, *,
                    follow_up: FollowUpPlan | None = None) -> Recorded:
        return self.log_contacts([ContactEntry(reference, contact, follow_up)])[0]

    def log_contacts(self, entries: Sequence[ContactEntry]) -> list[Recorded]:
        """Records contacts of many customers in one transaction, in the given order.

        A customer that does not exist yet is registered at its first contact. The same
        contact recorded again (same id) is reported with ``logged=False``.
        """
        return self.log_cards([card_entry(e, self.settings) for e in entries])

    def log_cards(self, entries: Sequence[CardEntry], *,
                  refused: dict[int, InvalidInput] | None = None) -> list[Recorded]:
        """``log_contacts`` for cards already made by ``card_entry`` (the import's path).

        With ``refused``, an entry that a rule refuses (a follow-up with nobody to own it)
        is left out instead of failing the whole call: ``refused`` gets its index and the
        refusal, its result says ``logged=False``, and the others are still recorded in
        one transaction.
        """
        refusals: dict[int, InvalidInput] = {}

        def decide(customers: dict[str, Customer]) -> list[Recorded]:
            refusals.clear()  # a retry after a lost race decides again
            results = []
            for index, entry in enumerate(entries):
                card = entry.card
                try:
                    logged = self._log_card(customers, entry)
                except InvalidInput as e:
                    if refused is None:
                        raise
                    refusals[index] = e
                    logged = False
                results.append(Recorded(customers[entry.reference].reference, card["contact_id"],
                                        logged))
            if refusals:
                for reference, customer in list(customers.items()):
                    if _only_registered(customer):  # its only card was refused
                        del customers[reference]
            return results

        # The first contact of a new customer (in the given order) registers it.
        first_seen = {e.reference: e.card["occurred_at"] for e in reversed(entries)}
        recorded = self._update(list(dict.fromkeys(first_seen)), decide,
                                registering_at=first_seen)
        if refused is not None:
            refused.update(refusals)
        return recorded

    def _log_card(self, customers: dict[str, Customer], entry: CardEntry) -> bool:
        """Logs one card on its customer (in ``customers``). A card a rule refuses (a
        follow-up with nobody to own it) is refused before anything of it is recorded, so
        the caller may go on without it."""
        customer, card = customers[entry.reference], entry.card
        if entry.follow_up is not None and card["contact_id"] not in customer.contact_ids:
            _owner(customer, entry.follow_up, card["actor"])
        logged = customer.log_contact(card)
        if logged and entry.follow_up is not None:
            self._schedule(customer, entry.follow_up, card["contact_id"], card["actor"])
        return logged

    def amend_contact(self, reference: str, contact_id: str, changes: ContactChanges, *,
                      reason: str | None = None, actor: str | None = None) -> None:
        values = changes.plain()
        if "channel" in values:
            self.settings.channel(values["channel"])
        if values.get("reason_category") is not None:
            self.settings.reason_category(values["reason_category"])
        self._update_one(reference, lambda c: c.amend_contact(contact_id, values,
                                                              reason=reason, actor=actor))

    def retract_contact(self, reference: str, contact_id: str, reason: str, *,
                        actor: str | None = None) -> None:
        self._update_one(reference, lambda c: c.retract_contact(contact_id, reason, actor=actor))

    # -- customers and stages -------------------------------------------------------------

    def register(self, reference: str, *, at: datetime | str | None = None) -> bool:
        """Registers a customer (entering discovery); False when it already exists."""
        reference = customer_reference(reference)
        when = iso(parse_instant(at, "at")) if at is not None else _now()
        created = []

        def decide(customers: dict[str, Customer]) -> None:
            pending = customers[reference].pending_events
            created.append(any(isinstance(e, Customer.Registered) for e in pending))

        self._update([reference], decide, registering_at={reference: when})
        return created[-1]

    def update_profile(self, reference: str, changes: dict[str, str | None]) -> bool:
        return self._update_one(reference, lambda c: c.update_profile(changes), register=True)

    def change_stage(self, reference: str, stage: Stage | str, reason: str, actor: str, *,
                     at: datetime | str | None = None,
                     reason_category: str | None = None) -> bool:
        """Records an explicit change at ``at`` (default now), for a dissolution with the
        category of why the relationship ended; returns whether it changed the stage
        history (not when the relationship was already in that stage then)."""
        to = Stage.parse(stage)
        when = iso(parse_instant(at, "at")) if at is not None else _now()
        category = reason_category_of(reason_category, to)
        if category is not None:
            self.settings.reason_category(category)
        return self._update_one(reference, lambda c: c.change_stage(
            to, when, reason, actor, reason_category=category))

    # -- privacy --------------------------------------------------------------------------

    def record_erasure(self, reference: str, basis: str, request: str, *,
                       by: str | None = None) -> Customer:
        """Records the erasure of the customer's personal data (refused under a legal hold;
        nothing new when already recorded); returns the customer after it. Its keys are
        destroyed by ``destroy_keys``, once the projections no longer show its data."""
        return self._update_one(reference, lambda c: (
            c.erase(basis, request, _now(), by=by), c)[1])

    def destroy_keys(self, customer: Customer) -> int:
        """Destroys every key of an erased customer; returns how many there were."""
        if not customer.erased:
            raise InvalidInput("customer", customer.reference, "its erasure is not recorded")
        self.keyring.forget()
        return self.keyring.store.destroy(customer.id)

    def place_hold(self, reference: str, reason: str, *, by: str | None = None) -> None:
        self._update_one(reference, lambda c: c.place_hold(reason, _now(), by=by))

    def lift_hold(self, reference: str, reason: str, *, by: str | None = None) -> None:
        self._update_one(reference, lambda c: c.lift_hold(reason, _now(), by=by))

    def renew_relationship(self, reference: str, *, by: str | None = None) -> None:
        self._update_one(reference, lambda c: c.renew_relationship(_now(), by=by))

    # -- follow-ups -----------------------------------------------------------------------

    def schedule_follow_up(self, reference: str, plan: FollowUpPlan, *,
                           contact_id: str | None = None) -> str:
        return self._update_one(reference, lambda c: self._schedule(c, plan, contact_id, None))

    def _schedule(self, customer: Customer, plan: FollowUpPlan, contact_id: str | None,
                  actor: str | None) -> str:
        owner = _owner(customer, plan, actor)
        follow_up_id = plan.follow_up_id or _follow_up_id(customer, contact_id)
        customer.schedule_follow_up(follow_up_id, iso(plan.due_at), owner,
                                    purpose=plan.purpose, contact_id=contact_id)
        return follow_up_id

    def complete_follow_up(self, reference: str, follow_up_id: str, *,
                           contact_id: str | None = None, actor: str | None = None,
                           at: datetime | str | None = None) -> None:
        when = iso(parse_instant(at, "at")) if at is not None else _now()
        self._update_one(reference, lambda c: c.complete_follow_up(
            follow_up_id, when, contact_id=contact_id, actor=actor))

    def cancel_follow_up(self, reference: str, follow_up_id: str, reason: str, *,
                         actor: str | None = None) -> None:
        self._update_one(reference, lambda c: c.cancel_follow_up(
            follow_up_id, _now(), reason, actor=actor))

    def reschedule_follow_up(self, reference: str, follow_up_id: str,
                             due_at: datetime | str, *, reason: str | None = None,
                             actor: str | None = None) -> None:
        due = iso(parse_instant(due_at, "due_at"))
        self._update_one(reference, lambda c: c.reschedule_follow_up(
            follow_up_id, due, reason=reason, actor=actor))

    # -- reading --------------------------------------------------------------------------

    def stored_reference(self, reference: str) -> str:
        """The reference under which this log holds the customer ``reference`` names: the
        first of its ``spellings`` the log holds, else ``customer_reference(reference)``."""
        options = spellings(reference)
        if len(options) == 1:
            return options[0]
        ids = {customer_id(s): s for s in options}
        held = stored_customers(self, list(ids))
        return next((s for cid, s in ids.items() if cid in held), options[0])

    def customer(self, reference: str) -> Customer:
        """The customer as of now, replayed from its events."""
        return self._load([reference], {})[reference]

    def history(self, reference: str) -> list[Customer.Event]:
        """Every event of the customer, in version order."""
        cid = customer_id(self.stored_reference(reference))
        stored = stored_events(self, [cid]).get(cid)
        if not stored:
            raise CustomerNotFound(reference)
        self.keyring.forget()
        return self._events(stored)

    def _events(self, stored: Sequence[StoredEvent], *, deciding: bool = False
                ) -> list[Customer.Event]:
        """One customer's stored events as domain events, sealed values opened (when
        ``deciding``, only where ``apply`` reads them); those before its last erasure show
        ERASED even where their values are stored in the clear (a log written before
        sealing) or their key is not destroyed yet."""
        erased = max((s.originator_version for s in stored if s.topic == ERASED_TOPIC),
                     default=0)
        events: list[Customer.Event] = []
        for s in stored:
            event: Customer.Event = self.mapper.to_domain_event(  # type: ignore[call-arg,assignment]
                s, deciding=deciding)
            if s.originator_version < erased:
                erased_state(type(event), vars(event), self.settings)
            events.append(event)
        return events

    # -- the load-decide-save loop ---------------------------------------------------------

    def _update_one(self, reference: str, decide: Callable[[Customer], T],
                    register: bool = False) -> T:
        registering = {reference: _now()} if register else None
        return self._update([reference], lambda cs: decide(cs[reference]), registering)

    def _update(self, references: Iterable[str], decide: Callable[[dict[str, Customer]], T],
                registering_at: dict[str, str] | None = None) -> T:
        """Loads the customers, lets ``decide`` act on them, and saves them in one transaction.

        A lost optimistic-concurrency race (another writer saved first) is retried from a
        fresh load; ``decide`` must therefore be a pure decision over the loaded state.
        """
        references = list(references)
        if self.read_only:  # refused before any key is made for what could not be saved
            raise write_refused(self.location, self.read_only)
        for _attempt in range(MAX_ATTEMPTS):
            customers = self._load(references, registering_at or {})
            result = decide(customers)
            try:
                self._save(customers.values())
            except IntegrityError:
                continue
            except (OperationalError, sqlite3.Error) as e:
                raise write_refused(self.location, self.read_only, e) from None
            return result
        raise StoreError(f"gave up after {MAX_ATTEMPTS} concurrent-write conflicts")

    def _save(self, customers: Iterable[Customer]) -> None:
        """The customers' new events in one transaction, straight through the mapper and
        the recorder: the library's ``save`` adds per-event bookkeeping (processing events,
        recordings, notifying hooks) that touchlog does not use."""
        events = [event for customer in customers for event in customer.collect_events()]
        if not self.keyring.store_new():  # another writer made one of these keys first
            raise IntegrityError("a customer's key was stored by another writer")
        self.recorder.insert_events([self.mapper.to_stored_event(e) for e in events])

    def _load(self, references: list[str], registering_at: dict[str, str]
              ) -> dict[str, Customer]:
        """The customers replayed from their events, read with one query per 500 customers,
        by the references given; each is found under the first of its ``spellings`` the log
        holds. A missing one is registered when ``registering_at`` gives its time."""
        ids = {r: [customer_id(s) for s in spellings(r)] for r in references}
        wanted = list({cid for options in ids.values() for cid in options})
        self.keyring.forget()
        stored = stored_events(self, wanted)
        self.keyring.preload(wanted)
        customers = {}
        for reference, options in ids.items():
            aggregate = self._replay(next((stored[cid] for cid in options if cid in stored), ()))
            if aggregate is None:
                if reference not in registering_at:
                    raise CustomerNotFound(reference)
                aggregate = Customer(reference=customer_reference(reference),
                                     at=registering_at[reference])
            aggregate.sealer = self._seal
            customers[reference] = aggregate
        return customers

    def _replay(self, events: Sequence[StoredEvent]) -> Any:
        """The aggregate the events make (None for none); an event that does not apply (a
        value no command records) is an UnreadableEvent."""
        aggregate: Any = None
        stored = list(events)
        for event, domain_event in zip(stored, self._events(stored, deciding=True),
                                       strict=True):
            try:
                aggregate = domain_event.mutate(aggregate)
            except (ValueError, TypeError, KeyError, AttributeError, AssertionError) as e:
                raise UnreadableEvent(event.originator_id, event.originator_version,
                                      f"it does not apply ({type(e).__name__}: {e})") from None
        return aggregate


def _only_registered(customer: Customer) -> bool:
    """Whether the customer is new and nothing but its registration is to be saved."""
    pending = customer.pending_events
    return len(pending) == 1 and isinstance(pending[0], Customer.Registered)


def write_refused(location: Location, read_only: bool, error: object = None) -> StoreError:
    """The error of a write to the log that failed (``error``) or cannot be tried."""
    why = " (this process may only read it)" if read_only else ""
    return StoreError(f"cannot write to {location.redacted}{why}"
                      + (f": {error}" if error is not None else ""))


def _owner(customer: Customer, plan: FollowUpPlan, actor: str | None) -> str:
    """Who a follow-up goes to: its plan's owner, else the customer's, else the contact's
    actor; with none of them it is refused."""
    owner = plan.owner or customer.owner or actor
    if owner is None:
        raise InvalidInput("follow_up_owner", None,
                           "a follow-up needs an owner (or a customer owner or contact actor)")
    return owner


def _now() -> str:
    return iso(datetime.now(UTC))


def _follow_up_id(customer: Customer, contact_id: str | None) -> str:
    if contact_id is not None:
        return f"f-{contact_id.removeprefix('c-')}"
    return f"f-{customer.id.hex[:12]}-{len(customer.follow_ups) + 1}"
