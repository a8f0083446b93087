"""TouchpointLog: the only code that loads and saves Customer aggregates.

Every command loads the customer, lets it decide, and saves; a save that loses an
optimistic-concurrency race is retried from a fresh load, so concurrent writers never lose
or duplicate a contact. Many contacts (an import) are saved many customers per transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar
from uuid import UUID

import orjson
from eventsourcing.application import Application
from eventsourcing.persistence import (
    IntegrityError,
    Mapper,
    OperationalError,
    PersistenceError,
    StoredEvent,
    Transcoder,
)

from touchlog.domain.attributes import attribute_values
from touchlog.domain.customer import (
    CUSTOMER_TOPIC,
    ERASED_TOPIC,
    EVENT_CLASSES,
    MERGED_FROM,
    MERGED_INTO,
    SCHEDULED_IN_FUTURE,
    Customer,
    amendment,
    not_in_future,
)
from touchlog.domain.errors import (
    ContactChanged,
    CustomerNotFound,
    ImportNotFound,
    InvalidInput,
    StoreError,
    UnreadableEvent,
)
from touchlog.domain.facts import FactEntry, apply_fact
from touchlog.domain.identity import (
    closest_references,
    customer_id,
    customer_reference,
    spellings,
)
from touchlog.domain.imports import (
    IMPORT_STARTED_TOPIC,
    IMPORT_TOPIC,
    Import,
    import_uuid,
    new_import_id,
)
from touchlog.domain.sealing import erased_state, holds_sealed, open_state, seal_state
from touchlog.domain.settings import Settings
from touchlog.domain.storage.events import (
    merge_partners,
    registered_references,
    stored_customers,
    stored_events,
    stored_uuid,
)
from touchlog.domain.storage.keys import Keyring, key_store
from touchlog.domain.storage.location import Location, locate, scrubbed
from touchlog.domain.storage.transcoder import EventMapper, PlainJSONTranscoder
from touchlog.domain.values import Stage, email_of, iso, parse_instant, reason_category_of

if TYPE_CHECKING:  # the input models load pydantic, which reading commands do without
    from touchlog.domain.contact import Contact, ContactChanges, FollowUpPlan

T = TypeVar("T")
MAX_ATTEMPTS = 20
# What happens to a contact whose id is already stored with other content.
ON_CHANGE = ("reject", "amend", "skip")


@dataclass(frozen=True)
class OnChange:
    """What to do with a contact whose id is stored with other content: ``reject`` it
    (a ContactChanged naming the fields; ``hint`` says how else to go), ``amend`` the
    stored contact with just the fields that differ (``reason`` the amendment's), or
    ``skip`` it, keeping what is stored."""

    action: str = "reject"
    hint: str = "--on-change amend records the given values, skip keeps the stored ones"
    reason: str | None = None


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
    attributes = attribute_values(settings.contact_attributes, entry.contact.attributes or {})
    return CardEntry(reference, entry.contact.card(reference, channel, entry.occurrence,
                                                   attributes=attributes), entry.follow_up)


class ImportStart(NamedTuple):
    """An import about to record its first batch: its id, origin and start time."""

    import_id: str
    origin: ImportOrigin
    at: str

    @classmethod
    def now(cls, origin: ImportOrigin) -> ImportStart:
        return cls(new_import_id(), origin, _now())

    def record(self) -> Import:
        """The import's record, with its start pending."""
        o = self.origin
        return Import(import_id=self.import_id, file_name=o.file_name,
                      file_sha256=o.file_sha256, mapping_sha256=o.mapping_sha256,
                      actor=o.actor, at=self.at, replaces=o.replaces)


class ImportOrigin(NamedTuple):
    """What an import is recorded with: its file's name and sha256 (None when the file
    could not be read twice), its mapping's sha256, who runs it, and the import it
    replaces."""

    file_name: str
    file_sha256: str | None
    mapping_sha256: str | None = None
    actor: str = "unknown"
    replaces: str | None = None


class Provenance(NamedTuple):
    """The import that records a batch of cards, and each card's line in its file: the
    ``source`` of each event it writes (docs/events.md "Sources"). The first batch of an
    import also records its start (``starting``), in the same transaction, so that an
    import is in the log exactly when something it recorded is."""

    import_id: str
    lines: Sequence[int]
    starting: ImportStart | None = None

    def source(self, index: int) -> dict[str, Any]:
        return {"import": self.import_id, "line": self.lines[index]}


@dataclass(frozen=True)
class Recorded:
    """What recording a contact did: its id, and False when it was already in the log."""

    reference: str
    contact_id: str
    logged: bool
    registered: bool = False  # its customer was registered by this call
    changed: tuple[str, ...] = ()  # the fields stored with other values (OnChange)


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
        """Resolves touchlog's own event topics only (EVENT_CLASSES: the Customer's and the
        Import's): a stored topic naming anything else is an UnreadableEvent, never an
        import of its module."""
        return EventMapper(self.construct_transcoder(), EVENT_CLASSES,
                           (CUSTOMER_TOPIC, IMPORT_TOPIC), keys=self.keyring.lookup)

    def close(self) -> None:
        self.keyring.store.close()
        super().close()

    def _open(self, state: dict[str, Any], customer: UUID, version: int) -> dict[str, Any]:
        """``state`` (part of a customer's event) with its sealed values opened, in a copy;
        ``state`` itself when it holds none (``Customer.opener``)."""
        if not holds_sealed(state):
            return state
        return open_state(object, orjson.loads(orjson.dumps(state)), self.keyring.lookup,
                          customer, version)

    def _seal(self, event_class: type, state: dict[str, Any], customer: UUID, version: int,
              epoch: int) -> dict[str, Any]:
        """A new event's state with its personal fields sealed under the customer's key
        (made with its first personal data): every Customer this application loads seals
        with it (``Customer.sealer``)."""
        return seal_state(event_class, state, self.keyring.make, customer, version, epoch,
                          self.settings)

    # -- contacts -------------------------------------------------------------------------

    def log_contact(self, reference: str, contact: Contact, *,
                    follow_up: FollowUpPlan | None = None,
                    existing_only: bool = False, on_change: OnChange | None = None
                    ) -> Recorded:
        return self.log_contacts([ContactEntry(reference, contact, follow_up)],
                                 existing_only=existing_only, on_change=on_change)[0]

    def log_contacts(self, entries: Sequence[ContactEntry], *, existing_only: bool = False,
                     on_change: OnChange | None = None) -> list[Recorded]:
        """Records contacts of many customers in one transaction, in the given order.

        A customer that does not exist yet is registered at its first contact (its results
        say ``registered``), unless ``existing_only``: then it is a CustomerNotFound and
        nothing is recorded. The same contact recorded again (same id, same content) is
        reported with ``logged=False``; one whose id is stored with other content is handled
        as ``on_change`` says (default: refused with a ContactChanged).
        """
        return self.log_cards([card_entry(e, self.settings) for e in entries],
                              existing_only=existing_only, on_change=on_change)

    def log_cards(self, entries: Sequence[CardEntry | FactEntry], *,
                  refused: dict[int, InvalidInput] | None = None,
                  existing_only: bool = False, on_change: OnChange | None = None,
                  provenance: Provenance | None = None) -> list[Recorded]:
        """``log_contacts`` for cards already made by ``card_entry`` (the import's path),
        and the other facts a file gives (``FactEntry``, domain/facts.py) among them, each
        event it writes naming its import and line when ``provenance`` is given.

        With ``refused``, an entry that a rule refuses (a follow-up with nobody to own it)
        is left out instead of failing the whole call: ``refused`` gets its index and the
        refusal, its result says ``logged=False``, and the others are still recorded in
        one transaction.
        """
        refusals: dict[int, InvalidInput] = {}
        change = on_change or OnChange()

        def decide(customers: dict[str, Customer]) -> list[Recorded]:
            refusals.clear()  # a retry after a lost race decides again
            new = {r for r, c in customers.items() if _registering(c)}
            results = []
            for index, entry in enumerate(entries):
                source = provenance.source(index) if provenance is not None else None
                card = entry.card if entry.__class__ is CardEntry else None
                try:
                    if card is not None:
                        contact_id, logged, changed = self._log_card(
                            customers, entry, change, source)  # type: ignore[arg-type]
                    else:
                        contact_id, changed = entry.id, ()  # type: ignore[union-attr]
                        logged = apply_fact(customers[entry.reference], entry,  # type: ignore[arg-type]
                                            source)
                except InvalidInput as e:
                    if refused is None:
                        raise
                    refusals[index] = e
                    contact_id = card["contact_id"] if card is not None \
                        else entry.id  # type: ignore[union-attr]
                    logged, changed = False, tuple(getattr(e, "differing", ()))
                results.append(Recorded(customers[entry.reference].reference, contact_id,
                                        logged, entry.reference in new, changed))
            if refusals:
                for reference, customer in list(customers.items()):
                    if _only_registered(customer):  # its only card was refused
                        del customers[reference]
                results = [replace(r, registered=False) if r.registered
                           and r.reference not in customers else r for r in results]
            return results

        # The first contact of a new customer (in the given order) registers it.
        first_seen = {e.reference: e.card["occurred_at"] for e in reversed(entries)} \
            if all(e.__class__ is CardEntry for e in entries) else _first_times(entries)
        starting = provenance.starting if provenance is not None else None
        recorded = self._update(list(dict.fromkeys(first_seen)), decide,
                                registering_at={} if existing_only else first_seen,
                                records=starting.record if starting is not None else None)
        if refused is not None:
            refused.update(refusals)
        return recorded

    def _log_card(self, customers: dict[str, Customer], entry: CardEntry,
                  on_change: OnChange, source: dict[str, Any] | None
                  ) -> tuple[str, bool, tuple[str, ...]]:
        """Logs one card on its customer (in ``customers``): its id, whether it was logged,
        and the fields stored with other values when its id was there already. A card a
        rule refuses (a follow-up with nobody to own it, other content under ``reject``) is
        refused before anything of it is recorded, so the caller may go on without it.

        A card whose id undoing its import retracted is recorded again under the id
        ``Customer.revived_id`` gives, so that an undone import can be imported again."""
        customer, card = customers[entry.reference], entry.card
        if card["contact_id"] in customer.undone:
            card = {**card, "contact_id": customer.revived_id(card["contact_id"])}
        if card["contact_id"] in customer.contact_ids:
            return card["contact_id"], False, _changed(customer, card, on_change, source)
        if entry.follow_up is not None:
            _owner(customer, entry.follow_up, card["actor"])
        customer.log_contact(card, source=source)
        if entry.follow_up is not None:  # scheduled with the contact, then
            self._schedule(customer, entry.follow_up, card["contact_id"], card["actor"],
                           card["occurred_at"], source)
        return card["contact_id"], True, ()

    def amend_contact(self, reference: str, contact_id: str, changes: ContactChanges, *,
                      reason: str | None = None, actor: str | None = None) -> dict[str, Any]:
        """Records the changes (attributes given blank are cleared); returns them as
        recorded."""
        values = changes.plain(attribute_values(self.settings.contact_attributes,
                                                changes.attributes or {}, clearing=True))
        if "channel" in values:
            self.settings.channel(values["channel"])
        if values.get("reason_category") is not None:
            self.settings.reason_category(values["reason_category"])
        self._update_one(reference, lambda c: c.amend_contact(contact_id, values,
                                                              reason=reason, actor=actor))
        return values

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

    def update_profile(self, reference: str, changes: dict[str, str | None], *,
                       attributes: Mapping[str, object] | None = None) -> bool:
        """Records the profile fields and customer attributes (name -> value, typed here;
        blank clears one) that differ from the customer's; returns whether any did. The
        e-mail address must look like one."""
        changes = dict(changes)
        if changes.get("email") is not None:
            changes["email"] = email_of(changes["email"], "email")
        typed = attribute_values(self.settings.customer_attributes, attributes or {},
                                 "customer", clearing=True)
        return self._update_one(reference, lambda c: c.update_profile(
            changes, attributes=typed), register=True)

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
                       by: str | None = None) -> list[Customer]:
        """Records the erasure of the customer's personal data on its own stream and on
        the stream of each customer merged into it, which keeps its own key (refused under a
        legal hold on any of them; nothing new where already recorded); returns those
        customers, the one kept first. Their keys are destroyed by ``destroy_keys``, once
        the projections no longer show their data."""
        references = self.merged_references(reference)
        at = _now()

        def decide(customers: dict[str, Customer]) -> list[Customer]:
            for r in references:
                customers[r].erase(basis, request, at, by=by)
            return [customers[r] for r in references]
        return self._update(references, decide, follow_merges=False)

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
                           contact_id: str | None = None,
                           at: datetime | str | None = None) -> str:
        """Schedules a follow-up at ``at`` (when it was scheduled, default now; never in
        the future)."""
        when = _instant(at)
        not_in_future(when, SCHEDULED_IN_FUTURE)
        return self._update_one(reference, lambda c: self._schedule(c, plan, contact_id, None,
                                                                    when))

    def _schedule(self, customer: Customer, plan: FollowUpPlan, contact_id: str | None,
                  actor: str | None, at: str, source: dict[str, Any] | None = None) -> str:
        owner = _owner(customer, plan, actor)
        follow_up_id = plan.follow_up_id or _follow_up_id(customer, contact_id)
        customer.schedule_follow_up(follow_up_id, iso(plan.due_at), owner, at=at,
                                    purpose=plan.purpose, contact_id=contact_id,
                                    source=source)
        return follow_up_id

    def complete_follow_up(self, reference: str, follow_up_id: str, *,
                           contact_id: str | None = None, actor: str | None = None,
                           at: datetime | str | None = None) -> None:
        when = _instant(at)
        self._update_one(reference, lambda c: c.complete_follow_up(
            follow_up_id, when, contact_id=contact_id, actor=actor))

    def cancel_follow_up(self, reference: str, follow_up_id: str, reason: str, *,
                         actor: str | None = None, at: datetime | str | None = None) -> None:
        when = _instant(at)
        self._update_one(reference, lambda c: c.cancel_follow_up(
            follow_up_id, when, reason, actor=actor))

    def reschedule_follow_up(self, reference: str, follow_up_id: str,
                             due_at: datetime | str, *, reason: str | None = None,
                             actor: str | None = None, at: datetime | str | None = None) -> None:
        due = iso(parse_instant(due_at, "due_at"))
        when = _instant(at)
        self._update_one(reference, lambda c: c.reschedule_follow_up(
            follow_up_id, due, at=when, reason=reason, actor=actor))

    # -- imports (domain/imports.py) ---------------------------------------------------


    def finish_import(self, import_id: str, counts: dict[str, int]) -> None:
        """Records the counts of an import that ended."""
        record = self.import_record(import_id)
        record.finish(_now(), counts)
        self.save_imports([record])

    def import_record(self, import_id: str) -> Import:
        """The import ``import_id`` as its events make it."""
        uid = import_uuid(import_id)
        record = self._replay(stored_events(self, [uid]).get(uid, ()))
        if not isinstance(record, Import):
            raise ImportNotFound(import_id)
        return record

    def imports(self) -> list[Import]:
        """Every import the log records, oldest first."""
        database = self.location.database
        rows = database.query(self.recorder, f"SELECT originator_id FROM {{table}} WHERE topic "
                              f"= ? ORDER BY {database.position}", (IMPORT_STARTED_TOPIC,))
        ids = [stored_uuid(raw) for (raw,) in rows]
        stored = stored_events(self, ids)
        return [self._replay(stored[uid]) for uid in ids]

    def save_imports(self, records: Iterable[Import]) -> None:
        """The imports' new events, in one transaction."""
        try:
            self._save(records)
        except (OperationalError, sqlite3.Error) as e:
            raise write_refused(self.location, self.read_only, e) from None

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

    def not_found(self, reference: str) -> CustomerNotFound:
        """The error for a reference no customer has, offering the closest existing ones."""
        return CustomerNotFound(reference, self.closest(reference))

    def closest(self, reference: str) -> list[str]:
        """The existing references closest to ``reference`` (``closest_references``),
        itself excepted."""
        return closest_references(customer_reference(reference), registered_references(self))

    def existing(self, references: Iterable[str]) -> set[str]:
        """Which of the references name a customer the log holds (under any spelling)."""
        options = {r: spellings(r) for r in dict.fromkeys(references)}
        ids = [customer_id(s) for spelled in options.values() for s in spelled]
        held = {cid for start in range(0, len(ids), 500)
                for cid in stored_customers(self, ids[start:start + 500])}
        return {r for r, spelled in options.items()
                if any(customer_id(s) in held for s in spelled)}

    def resolved(self, reference: str) -> str:
        """The reference of the customer ``reference`` is read as: its stored reference,
        or, for a customer merged into another, that one's (followed to the end)."""
        stored = self.stored_reference(reference)
        seen = {stored}
        while into := merge_partners(self, customer_id(stored), MERGED_INTO, "into"):
            stored = into[-1]
            if stored in seen:  # no command makes a cycle; a tampered log is verify's
                break
            seen.add(stored)
        return stored

    def merged_streams(self, reference: str) -> list[UUID]:
        """The ids of the streams a customer is read from (``merged_references``)."""
        return [customer_id(r) for r in self.merged_references(reference)]

    def merged_references(self, reference: str) -> list[str]:
        """The references of the streams a customer is read from: its own (``resolved``)
        and, recursively, those of the customers merged into it."""
        references: list[str] = []
        pending = [self.resolved(reference)]
        while pending:
            current = pending.pop()
            if current in references:
                continue
            references.append(current)
            pending += merge_partners(self, customer_id(current), MERGED_FROM, "merged")
        return references

    def merge(self, duplicate: str, into: str, reason: str, *, actor: str | None = None,
              at: datetime | str | None = None) -> tuple[str, str]:
        """Merges customer ``duplicate`` into customer ``into``: both record it, and from
        then on the duplicate's facts are read as the other's (``Customer.absorb``), and
        what is recorded for it lands there. Returns both stored references."""
        when = iso(parse_instant(at, "at")) if at is not None else _now()
        dup, keep = self.stored_reference(duplicate), self.stored_reference(into)
        if dup == keep:
            raise InvalidInput("into", into, "a customer cannot be merged into itself")

        def decide(customers: dict[str, Customer]) -> tuple[str, str]:
            customers[dup].merge_into(customers[keep], reason, actor, when)
            # Read as one, the two may not hold one id twice (ids given with --id or in an
            # import's contact_id column can coincide; derived ones cannot).
            one, other = self.customer(dup), self.customer(keep)
            shared = sorted((one.contact_ids & other.contact_ids)
                            | (one.follow_ups.keys() & other.follow_ups.keys()))
            if shared:
                raise InvalidInput("into", keep, f"both customers hold the id {shared[0]!r} "
                                   f"({len(shared)} shared in all): read as one, an id must "
                                   "name one contact or follow-up; they cannot be merged")
            return customers[dup].reference, customers[keep].reference

        return self._update([dup, keep], decide, follow_merges=False)

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

    def customers(self, ids: Sequence[UUID]) -> list[Customer]:
        """The customers ``ids`` (those the log holds), replayed from their events."""
        return [self._replay(events) for events in stored_events(self, ids).values()]

    # -- the load-decide-save loop ---------------------------------------------------------

    def change_customers(self, references: Sequence[str],
                         decide: Callable[[dict[str, Customer]], T], *,
                         starting: ImportStart | None = None) -> T:
        """The load-decide-save loop (``_update``) for services beside this class (undoing
        an import, bulk corrections): ``decide`` acts on the customers loaded by reference,
        which are then saved in one transaction, with the start of the import ``starting``
        when given."""
        return self._update(references, decide,
                            records=starting.record if starting is not None else None)

    def _update_one(self, reference: str, decide: Callable[[Customer], T],
                    register: bool = False) -> T:
        registering = {reference: _now()} if register else None
        return self._update([reference], lambda cs: decide(cs[reference]), registering)

    def _update(self, references: Iterable[str], decide: Callable[[dict[str, Customer]], T],
                registering_at: dict[str, str] | None = None, *,
                follow_merges: bool = True, records: Callable[[], Import] | None = None
                ) -> T:
        """Loads the customers, lets ``decide`` act on them, and saves them in one
        transaction, with the import record ``records`` makes when given.

        A lost optimistic-concurrency race (another writer saved first) is retried from a
        fresh load; ``decide`` must therefore be a pure decision over the loaded state.
        """
        references = list(references)
        if self.read_only:  # refused before any key is made for what could not be saved
            raise write_refused(self.location, self.read_only)
        for _attempt in range(MAX_ATTEMPTS):
            customers = self._load(references, registering_at or {}, follow_merges)
            result = decide(customers)
            try:
                self._save([*customers.values(), *([records()] if records else [])])
            except IntegrityError:
                continue
            except (OperationalError, sqlite3.Error) as e:
                raise write_refused(self.location, self.read_only, e) from None
            return result
        raise StoreError(f"gave up after {MAX_ATTEMPTS} concurrent-write conflicts")

    def _save(self, customers: Iterable[Customer | Import]) -> None:
        """The customers' new events in one transaction, straight through the mapper and
        the recorder: the library's ``save`` adds per-event bookkeeping (processing events,
        recordings, notifying hooks) that touchlog does not use."""
        unique = {id(c): c for c in customers}.values()  # a merged one is the other's
        events = [event for customer in unique for event in customer.collect_events()]
        if not self.keyring.store_new():  # another writer made one of these keys first
            raise IntegrityError("a customer's key was stored by another writer")
        self.recorder.insert_events([self.mapper.to_stored_event(e) for e in events])

    def _load(self, references: list[str], registering_at: dict[str, str],
              follow_merges: bool = True) -> dict[str, Customer]:
        """The customers replayed from their events, read with one query per 500 customers,
        by the references given; each is found under the first of its ``spellings`` the log
        holds. A missing one is registered when ``registering_at`` gives its time. A
        customer merged into another is that other one (the same object for both
        references), read with the customers merged into it, unless not ``follow_merges``."""
        ids = {r: [customer_id(s) for s in spellings(r)] for r in references}
        wanted = list({cid for options in ids.values() for cid in options})
        self.keyring.forget()
        stored = stored_events(self, wanted)
        self.keyring.preload(wanted)
        loaded: dict[UUID, Customer] = {}
        customers = {}
        for reference, options in ids.items():
            found = next((cid for cid in options if cid in stored), None)
            if found is None:
                if reference not in registering_at:
                    raise CustomerNotFound(reference)
                aggregate = Customer(reference=customer_reference(reference),
                                     at=registering_at[reference])
            else:
                if found not in loaded:
                    loaded[found] = self._replay(stored[found], follow_merges)
                aggregate = loaded[found]
                while follow_merges and aggregate.merged_into is not None:
                    into = customer_id(aggregate.merged_into)
                    if into not in loaded:
                        loaded[into] = self._stream(into)
                    aggregate = loaded[into]
            aggregate.sealer, aggregate.opener = self._seal, self._open
            customers[reference] = aggregate
        return customers

    def _stream(self, cid: UUID) -> Customer:
        """The customer with id ``cid``, read with the customers merged into it."""
        events = stored_events(self, [cid]).get(cid)
        if not events:
            raise UnreadableEvent(cid, 1, "a merge names this customer, which has no events")
        aggregate: Customer = self._replay(events)
        return aggregate

    def _replay(self, events: Iterable[StoredEvent], follow_merges: bool = True) -> Any:
        """The aggregate the events make (None for none); an event that does not apply (a
        value no command records) is an UnreadableEvent. At each ``MergedFrom`` the
        customer merged in is read in (``Customer.absorb``), unless not ``follow_merges``."""
        aggregate: Any = None
        stored = list(events)
        for event, domain_event in zip(stored, self._events(stored, deciding=True),
                                       strict=True):
            try:
                aggregate = domain_event.mutate(aggregate)
            except (ValueError, TypeError, KeyError, AttributeError, AssertionError) as e:
                raise UnreadableEvent(event.originator_id, event.originator_version,
                                      f"it does not apply ({type(e).__name__}: {e})") from None
            if follow_merges and isinstance(domain_event, Customer.MergedFrom):
                aggregate.absorb(self._stream(customer_id(domain_event.merged)))
        return aggregate


def _first_times(entries: Sequence[CardEntry | FactEntry]) -> dict[str, str]:
    """When each customer of ``entries`` is registered, if new: at its first fact that has
    a time (in the given order), else (only profile updates or retractions) now."""
    first: dict[str, str | None] = {}
    for e in entries:
        at = e.card["occurred_at"] if e.__class__ is CardEntry else e.at  # type: ignore[union-attr]
        if first.get(e.reference) is None:
            first[e.reference] = at
    now = _now()
    return {reference: at or now for reference, at in first.items()}


def _registering(customer: Customer) -> bool:
    """Whether the customer is being registered (its registration is still to be saved)."""
    return any(isinstance(e, Customer.Registered) for e in customer.pending_events)


def _changed(customer: Customer, card: dict[str, Any], on_change: OnChange,
             source: dict[str, Any] | None) -> tuple[str, ...]:
    """The fields in which ``card`` differs from the stored contact with its id, acted on
    as ``on_change`` says (nothing when they are the same: a duplicate)."""
    if card["contact_id"] in customer.retracted:
        return ()  # found invalid: what it said no longer counts, a new version neither
    differing = customer.differences(card)
    if not differing:
        return ()
    if on_change.action == "reject":
        raise ContactChanged(card["contact_id"], differing, on_change.hint)
    if on_change.action == "amend":
        customer.amend_contact(card["contact_id"], amendment(differing),
                               reason=on_change.reason, source=source)
    return tuple(differing)


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


def _instant(at: datetime | str | None) -> str:
    """An ``--at`` as stored: the instant given (field ``at``), else now."""
    return iso(parse_instant(at, "at")) if at is not None else _now()


def _follow_up_id(customer: Customer, contact_id: str | None) -> str:
    if contact_id is not None:
        return f"f-{contact_id.removeprefix('c-')}"
    return f"f-{customer.id.hex[:12]}-{len(customer.follow_ups) + 1}"
