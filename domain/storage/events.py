"""The stored event rows exactly as written, read with plain SQL (no mapper, no decoding).

Audits must judge the bytes in the database, not what the application makes of them: a
mapper that skipped or repaired a field would hide the very change an audit looks for.
Two readers: ``stored_rows`` streams the whole log in log order, so a million-event log
never sits in memory; ``event_rows`` reads given customers' events in version order.

What a row must be to be one touchlog wrote is domain/storage/checks.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, NamedTuple
from uuid import UUID

import orjson
from eventsourcing.persistence import OperationalError, StoredEvent

from touchlog.domain.errors import StoreError, UnreadableEvent
from touchlog.domain.storage.database import Row

if TYPE_CHECKING:
    from touchlog.domain.application import TouchpointLog

COLUMNS = "originator_id, originator_version, topic, state"
IDS_PER_QUERY = 500  # below SQLite's bound-variable limit; cheap on PostgreSQL too


def stored_rows(app: TouchpointLog) -> AbstractContextManager[Iterator[Row]]:
    """Every stored event in log order, streamed."""
    database = app.location.database
    return database.stream(
        app.recorder, f"SELECT {COLUMNS} FROM {{table}} ORDER BY {database.position}")


def event_rows(app: TouchpointLog, ids: Sequence[UUID], *, positions: bool = False
               ) -> list[Row]:
    """Every stored event of the given customers, by customer and version, one query per
    IDS_PER_QUERY ids; with ``positions``, each row ends with its place in the log. A
    database that cannot be read is a StoreError naming it."""
    database = app.location.database
    columns = f"{COLUMNS}, {database.position}" if positions else COLUMNS
    rows: list[Row] = []
    try:
        for start in range(0, len(ids), IDS_PER_QUERY):
            chunk = ids[start:start + IDS_PER_QUERY]
            marks = ", ".join("?" * len(chunk))
            rows += database.query(
                app.recorder, f"SELECT {columns} FROM {{table}} WHERE originator_id IN "
                f"({marks}) ORDER BY originator_id, originator_version",
                database.stored_ids(chunk))
    except (OperationalError, sqlite3.Error) as e:
        raise StoreError(f"cannot read {app.location.redacted}: {e}") from None
    return rows


def stored_customers(app: TouchpointLog, ids: Sequence[UUID]) -> set[UUID]:
    """Which of the given customers the log holds (those with a first event)."""
    database = app.location.database
    marks = ", ".join("?" * len(ids))
    try:
        rows = database.query(
            app.recorder, f"SELECT originator_id FROM {{table}} WHERE originator_id IN "
            f"({marks}) AND originator_version = 1", database.stored_ids(ids))
    except (OperationalError, sqlite3.Error) as e:
        raise StoreError(f"cannot read {app.location.redacted}: {e}") from None
    return {stored_uuid(raw) for (raw,) in rows}


def registered_references(app: TouchpointLog) -> list[str]:
    """The reference of every customer the log holds, from their registrations."""
    from touchlog.domain.customer import REGISTERED_TOPIC

    database = app.location.database
    try:
        rows = database.query(app.recorder, "SELECT state FROM {table} WHERE topic = ?",
                              (REGISTERED_TOPIC,))
    except (OperationalError, sqlite3.Error) as e:
        raise StoreError(f"cannot read {app.location.redacted}: {e}") from None
    references = []
    for (state,) in rows:
        try:
            reference = orjson.loads(bytes(state)).get("reference")
        except (orjson.JSONDecodeError, AttributeError, TypeError):
            continue  # not one touchlog wrote: 'touchlog verify' names it
        if isinstance(reference, str):
            references.append(reference)
    return references


def merge_partners(app: TouchpointLog, customer: UUID, topic: str, field: str) -> list[str]:
    """The references the customer's events of ``topic`` name in ``field``, in version
    order: the customer it was merged into (``MergedInto``, ``into``) or those merged into
    it (``MergedFrom``, ``merged``). One indexed query, however long the stream."""
    database = app.location.database
    try:
        rows = database.query(
            app.recorder, "SELECT state FROM {table} WHERE originator_id = ? AND topic = ? "
            "ORDER BY originator_version", (*database.stored_ids([customer]), topic))
    except (OperationalError, sqlite3.Error) as e:
        raise StoreError(f"cannot read {app.location.redacted}: {e}") from None
    partners = []
    for (state,) in rows:
        try:
            partner = orjson.loads(bytes(state))[field]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            partner = None
        if not isinstance(partner, str):
            raise UnreadableEvent(customer, "?", f"its merge names no customer in {field!r}")
        partners.append(partner)
    return partners


def stored_events(app: TouchpointLog, ids: Sequence[UUID]) -> dict[UUID, list[StoredEvent]]:
    """``event_rows`` as the library's stored events, in version order, by customer id."""
    found: dict[UUID, list[StoredEvent]] = {}
    for originator_id, version, topic, state in event_rows(app, ids):
        key = stored_uuid(originator_id)
        if not isinstance(state, bytes | bytearray | memoryview):
            raise UnreadableEvent(key, version, f"its state is stored as {type(state).__name__}")
        found.setdefault(key, []).append(StoredEvent(key, version, topic, bytes(state)))
    return found


# (position, customer id, version, topic, state bytes): one row of the notification log.
Notification = tuple[int, Any, int, str, bytes]


def notifications(app: TouchpointLog, after: int, limit: int,
                  upto: int | None = None) -> list[Notification]:
    """Up to ``limit`` stored events after position ``after`` (and at most ``upto``)."""
    database = app.location.database
    position = database.position
    bound = "" if upto is None else f" AND {position} <= ?"
    return database.query(
        app.recorder, f"SELECT {position}, {COLUMNS} FROM {{table}} "
        f"WHERE {position} > ?{bound} ORDER BY {position} LIMIT ?",
        (after, *(() if upto is None else (upto,)), limit))


def stored_uuid(raw: Any) -> UUID:
    """A stored customer id (a UUID, or its 32-digit hex text) as a UUID."""
    return raw if isinstance(raw, UUID) else UUID(hex=raw)


def id_text(raw: Any) -> str:
    """The canonical (hyphenated) text of a stored customer id, as the chain hashes it."""
    return str(stored_uuid(raw))


class Landmarks(NamedTuple):
    """What tells one log, and one moment of it, from another: its identity (the hash-chain
    link of its first event, None while it is empty), its head position, and the link of
    the event at each position asked about (a position the log does not hold is absent)."""

    identity: str | None
    head: int
    links: dict[int, str | None]


def landmarks(app: TouchpointLog, positions: Sequence[int]) -> Landmarks:
    """The log's ``Landmarks``, with the links at ``positions``, in one query.

    The first event's link covers its customer, its content and the moment it was recorded,
    so it survives a backup and restore of the log and differs between two logs.
    """
    database = app.location.database
    position = database.position
    asked = list(positions) or [-1]
    select = f"SELECT {position}, state FROM {{table}} WHERE {position}"
    try:
        rows = database.query(  # three index look-ups (one OR of them may scan the table)
            app.recorder, f"{select} = (SELECT min({position}) FROM {{table}}) UNION ALL "
            f"{select} = (SELECT max({position}) FROM {{table}}) UNION ALL "
            f"{select} IN ({', '.join('?' * len(asked))})", asked)
    except (OperationalError, sqlite3.Error) as e:
        raise StoreError(f"cannot read {app.location.redacted}: {e}") from None
    links = {int(at): stored_link(state) for at, state in rows}
    return Landmarks(links[min(links)] if links else None, max(links, default=0),
                     {at: links[at] for at in asked if at in links})


def stored_link(state: bytes) -> str | None:
    """The hash-chain link a stored event's state holds (None: none, or not JSON)."""
    try:
        return link_of(orjson.loads(state))
    except orjson.JSONDecodeError:
        return None


def link_of(state: Any) -> str | None:
    """The hash-chain link in an event's decoded state (None when it holds none)."""
    link = state.get("link") if isinstance(state, dict) else None
    return link if isinstance(link, str) else None
