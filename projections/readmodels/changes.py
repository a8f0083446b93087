"""What every projection's batch needs: the changes, the customers it knows, contact rows.

Projections read the stored JSON, not domain objects: each stored event becomes a
``Change`` (its position, event kind, customer id and state, upcast like the library's
mapper would), which is most of what makes a rebuild fast.

Events other than ``Registered`` carry only the customer's id, so each projection keeps the
id next to the reference in its own customer table and looks the batch's ids up at once.

A stored event no touchlog run writes (an id in another spelling, a topic that is not one of
touchlog's events, a state that is not a JSON object or that a handler cannot read, a
registration posing as another customer) is an ``UnreadableEvent``: reports are never built
from it, and no module a stored topic names is imported. The values of a readable state are
not judged here (``touchlog verify`` does, with ``state_problem``): that would cost every
rebuild a tenth of its time.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar
from uuid import UUID

import orjson

from touchlog.domain.chained import ChainedEvent
from touchlog.domain.customer import ERASED_TOPIC, EVENT_CLASSES
from touchlog.domain.errors import UnreadableEvent
from touchlog.domain.sealing import ERASED, erased_state, open_state
from touchlog.domain.storage.checks import canonical_uuid, registration_problem, unknown_topic
from touchlog.domain.storage.events import Notification
from touchlog.domain.storage.keys import Keyring
from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.engine.schema import Table

if TYPE_CHECKING:
    from touchlog.domain.settings import Settings


class Change(NamedTuple):
    """One recorded event as the projections see it."""

    position: int  # its notification id: the log's order
    kind: str  # the event class's name: "ContactLogged", "StageChanged", …
    customer_id: str  # canonical UUID text
    state: dict[str, Any]  # the stored fields, upcast to the current class version
    version: int  # its version in the customer's chain


Batch = Sequence[Change]
# What a state that is not its event's raises on the way to a Change or through a handler.
NOT_THE_EVENT = (ValueError, TypeError, KeyError, AttributeError, ArithmeticError)


_SEALED = b'"sealed:'  # in a stored state that holds a sealed value (domain/sealing.py)


def decode(rows: Sequence[Notification], keyring: Keyring | None = None,
           kept_sealed: Collection[str] = ()) -> list[Change]:
    """Stored rows as changes; each customer id is checked and converted once per batch.
    Sealed personal values are opened with ``keyring``, its keys read afresh per batch (a
    value whose key is gone reads ERASED), except in events of the ``kept_sealed`` kinds;
    without a keyring they stay sealed.

    A row no touchlog run writes is an UnreadableEvent (see the module's docstring).
    """
    ids: dict[Any, str] = {}
    changes = []
    sealed = {i for _, i, _, _, blob in rows if _SEALED in blob} if keyring else ()
    # An erasure in the rows: the customer's events before it show ERASED, like the rows
    # of earlier batches, which ``blank_personal`` sets so.
    erasures = {i: at for at, i, _, topic, _ in rows if topic == ERASED_TOPIC}
    uids: dict[Any, UUID] = {}
    if keyring is not None and sealed:
        keyring.forget()
        keyring.preload(uid for uid in map(canonical_uuid, sealed) if uid is not None)
    for position, originator_id, version, topic, blob in rows:
        customer = ids.get(originator_id)
        if customer is None:
            customer = ids[originator_id] = _customer(originator_id, version)
        cls, upcast = _event_class(topic) if isinstance(topic, str) else (None, None)
        if cls is None:
            raise UnreadableEvent(customer, version, unknown_topic(topic))
        kind = cls.__name__
        try:
            state = orjson.loads(blob)
            if upcast is not None:
                upcast(state)
        except NOT_THE_EVENT as e:
            raise UnreadableEvent(customer, version, f"its state is not a {kind} "
                                  f"({type(e).__name__}: {e})") from None
        if type(state) is not dict:
            raise UnreadableEvent(customer, version, f"its state is not a {kind}")
        if originator_id in erasures and position < erasures[originator_id]:
            erased_state(cls, state)
        elif keyring is not None and _SEALED in blob and kind not in kept_sealed:
            uid = uids.get(originator_id) or uids.setdefault(originator_id, UUID(customer))
            open_state(cls, state, keyring.lookup, uid, version, customer_text=customer)
        if version == 1 or kind == "Registered":
            problem = registration_problem(UUID(customer), version, topic, state)
            if problem is not None:
                raise UnreadableEvent(customer, version, problem)
        changes.append(Change(position, kind, customer, state, version))
    return changes


def _customer(originator_id: Any, version: Any) -> str:
    """The canonical text of a stored customer id, if it is stored as touchlog stores it."""
    uid = canonical_uuid(originator_id)
    if uid is None:
        raise UnreadableEvent(repr(originator_id), version, "the customer id is not stored "
                              "the one way touchlog stores ids, so it belongs to no customer")
    return str(uid)


@cache
def _event_class(topic: str) -> tuple[type[ChainedEvent] | None, Any]:
    """The event's class, and a function that upcasts an old state (None when none can
    be); (None, None) when the topic is not one of touchlog's events."""
    cls = EVENT_CLASSES.get(topic)
    if cls is None:
        return None, None
    latest = getattr(cls, "class_version", 1)
    if latest == 1:
        return cls, None

    def upcast(state: dict[str, Any]) -> None:  # the library mapper's loop
        version = state.pop("class_version", 1)
        while version < latest:
            getattr(cls, f"upcast_v{version}_v{version + 1}")(state)
            version += 1
    return cls, upcast

# The contact card fields an amendment may change; anything else is ignored, never SQL.
AMENDABLE = frozenset({
    "occurred_at", "channel", "initiated_by", "purpose", "summary", "place", "actor",
    "outcome", "rating", "amount", "deliberate", "hard", "active", "purchase",
})


class Writes(Protocol):
    """A batch's rows, computed and ready to write."""

    def write(self, db: ReportingDB) -> None: ...


class Projection(Protocol):
    """A read model: a name, what a batch needs from its tables (``read``), and the batch's
    writes computed from the batch and that alone (``prepare``).

    The two are apart so that the runner computes a batch without holding the write lock:
    it writes the prepared rows in the batch's transaction when ``read`` there returns
    what it returned before, and prepares again when not.
    """

    name: str
    # Event kinds whose personal values the projection's rows never hold: their sealed
    # values need not be opened for it (opening is most of what sealing costs a rebuild).
    kept_sealed: frozenset[str]

    def read(self, db: ReportingDB, batch: Batch) -> Any: ...

    def prepare(self, batch: Batch, known: Any) -> Writes: ...


# What the stage and follow-up projections take from contacts and profiles (times, actors,
# signals, owners) is never personal.
CONTACTS_AND_PROFILES = frozenset({"ContactLogged", "ContactAmended", "ContactRetracted",
                                   "ProfileUpdated"})


def apply(projection: Projection, db: ReportingDB, batch: Batch) -> None:
    """Applies a batch in one go, inside the caller's transaction."""
    projection.prepare(batch, projection.read(db, batch)).write(db)


S = TypeVar("S")


def dispatch(handlers: dict[str, Any], state: S, refs: dict[str, str], batch: Batch) -> S:
    """Calls each change's handler with the state, its customer's reference and the change
    (kinds a projection has no handler for are skipped); returns the state."""
    for change in batch:
        handler = handlers.get(change.kind)
        if handler is None:
            continue
        reference = refs.get(change.customer_id)
        if reference is None:
            raise UnreadableEvent(change.customer_id, change.version,
                                  "no registration of its customer comes before it in the log")
        try:
            handler(state, reference, change)
        except NOT_THE_EVENT as e:
            raise UnreadableEvent(change.customer_id, change.version, f"its state is not a "
                                  f"{change.kind} ({type(e).__name__}: {e})") from None
    return state


MERGED = "MergedInto"  # the event after which a duplicate's rows are the kept customer's


def ending_at_merges(changes: Batch) -> list[Batch]:
    """The changes cut into batches each ending at a merge (``MergedInto``), if it has one:
    a projection moves the duplicate's rows to the customer kept after writing the rest of
    the batch, so that what follows the merge finds them there. A rebuild and an
    incremental run cut at the same merges."""
    parts: list[Batch] = []
    start = 0
    for i, change in enumerate(changes):
        if change.kind == MERGED:
            parts.append(changes[start:i + 1])
            start = i + 1
    if start < len(changes):
        parts.append(changes[start:])
    return parts


def blank_personal(db: ReportingDB, tables: Sequence[Table], customer_ids: list[str],
                   settings: Settings) -> None:
    """Sets the personal columns (``Table.personal``) of the customers' rows to ERASED,
    and the values of the attributes ``settings`` declare personal (those their events hold
    sealed): an erasure, applied by each projection before the rest of the batch that holds
    it (whose events before the erasure ``decode`` shows ERASED already)."""
    owner = next(t.name for t in tables if "customer_id" in t.column_names)
    for table in tables:
        if table.personal_attributes is not None:
            declared = (settings.contact_attributes if table.personal_attributes == "contact"
                        else settings.customer_attributes)
            names = sorted(name for name, spec in declared.items() if spec.personal)
            if names:
                db.executemany(
                    f"UPDATE {table.name} SET value = ?, value_number = NULL WHERE name IN "
                    f"({', '.join('?' * len(names))}) AND customer IN "
                    f"(SELECT customer FROM {owner} WHERE customer_id = ?)",
                    [[ERASED, *names, c] for c in customer_ids])
        if table.personal:
            sets = ", ".join(f"{c} = CASE WHEN {c} IS NULL THEN NULL ELSE ? END"
                             for c in table.personal)
            rows = f" AND {table.personal_rows}" if table.personal_rows else ""
            db.executemany(f"UPDATE {table.name} SET {sets} WHERE customer IN "
                           f"(SELECT customer FROM {owner} WHERE customer_id = ?){rows}",
                           [[ERASED] * len(table.personal) + [c] for c in customer_ids])


def known_references(db: ReportingDB, table: str, batch: Batch) -> dict[str, str]:
    """Customer id -> reference: the batch's own registrations, then earlier batches'."""
    refs = {c.customer_id: c.state["reference"] for c in batch if c.kind == "Registered"}
    unknown = list({c.customer_id for c in batch} - refs.keys())
    for row in db.by_keys(table, "customer_id", unknown, "customer_id, customer"):
        refs[row["customer_id"]] = row["customer"]
    return refs


class ContactRows:
    """Contact rows of one batch: inserts, merged amendments and retractions.

    An amendment to a contact logged in the same batch is folded into its insert; later
    amendments of a field win, as in the log.
    """

    def __init__(self, table: Table) -> None:
        self.table = table
        self.columns = table.column_names
        self.at = {c: i for i, c in enumerate(self.columns)}
        # Columns: customer, the card's fields (from the event's state), then the row's own
        # retracted, [retraction_reason,] position, and last the number columns, which hold
        # their amount's exact text until the INSERT turns it into the number.
        card = self.columns[1:self.at["retracted"]]
        self.card = itemgetter(*("timestamp" if c == "recorded_at" else c for c in card))
        self.tail = [False, None][:self.at["position"] - self.at["retracted"]]
        self.numbers = dict(table.numbers)  # number column -> its amount column
        self.sources = [self.at[source] for source in self.numbers.values()]
        self.inserts: dict[tuple[str, str], list[Any]] = {}
        self.amends: dict[tuple[str, str], dict[str, Any]] = {}
        self.retracts: dict[tuple[str, str], tuple[str, int]] = {}

    def logged(self, customer: str, position: int, e: dict[str, Any]) -> None:
        key = (customer, e["contact_id"])
        if key not in self.inserts:
            row = [customer, *self.card(e), *self.tail, position]
            row += [row[i] for i in self.sources]
            self.inserts[key] = row

    def amended(self, customer: str, position: int, e: dict[str, Any]) -> None:
        changes = {k: v for k, v in e["changes"].items() if k in AMENDABLE and k in self.at}
        changes["position"] = position
        for number, source in self.numbers.items():
            if source in changes:
                changes[number] = changes[source]
        key = (customer, e["contact_id"])
        row = self.inserts.get(key)
        if row is None:
            self.amends.setdefault(key, {}).update(changes)
        else:
            for column, value in changes.items():
                row[self.at[column]] = value

    def retracted(self, customer: str, position: int, e: dict[str, Any]) -> None:
        key = (customer, e["contact_id"])
        row = self.inserts.get(key)
        if row is None:
            self.retracts[key] = (e["reason"], position)
            return
        row[self.at["retracted"]] = True
        row[self.at["position"]] = position
        if "retraction_reason" in self.at:
            row[self.at["retraction_reason"]] = e["reason"]

    def write(self, db: ReportingDB) -> None:
        table, names = self.table.name, self.columns
        db.insert(table, names, list(self.inserts.values()), numbers=self.numbers)
        by_fields: dict[tuple[str, ...], list[list[Any]]] = {}
        for (customer, contact_id), changes in self.amends.items():
            fields = tuple(sorted(changes))
            by_fields.setdefault(fields, []).append(
                [*(changes[f] for f in fields), customer, contact_id])
        for fields, rows in by_fields.items():
            sets = ", ".join(f"{f} = {db.dialect.number('?')}" if f in self.numbers
                             else f"{f} = ?" for f in fields)
            db.executemany(f"UPDATE {table} SET {sets} WHERE customer = ? AND contact_id = ?",
                           rows)
        reason = ", retraction_reason = ?" if "retraction_reason" in self.at else ""
        db.executemany(
            f"UPDATE {table} SET retracted = ?{reason}, position = ? "
            "WHERE customer = ? AND contact_id = ?",
            [[True, *([r] if reason else []), p, c, k]
             for (c, k), (r, p) in self.retracts.items()],
        )

    @property
    def customers(self) -> set[str]:
        return {c for c, _ in (*self.inserts, *self.amends, *self.retracts)}
