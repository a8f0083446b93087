"""How events are written down in the store and read back: canonical JSON (domain/chain.py),
no type tags, only touchlog's own event types, and personal fields sealed
(domain/sealing.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic

from touchlog.domain.chain import canonical_json_bytes
from touchlog.domain.chained import STORED_STATE
from touchlog.domain.errors import UnreadableEvent
from touchlog.domain.sealing import KeyLookup, open_state
from touchlog.domain.storage.checks import unknown_topic


class PlainJSONTranscoder(Transcoder):
    """Writes event state as canonical JSON; turns the recorded ``timestamp`` back into a datetime.

    Domain event fields are plain JSON values already (instants as ISO 8601 text, amounts
    as decimal text), so no type tags are needed.
    """

    def encode(self, obj: Any) -> bytes:
        return canonical_json_bytes(obj)

    def decode(self, data: bytes) -> Any:
        state = orjson.loads(data)
        timestamp = state.get("timestamp")
        if timestamp is not None:
            state["timestamp"] = datetime.fromisoformat(timestamp)
        return state


class EventMapper(Mapper[UUID]):
    """The library's mapper, resolving only the topics of ``events`` (an allow-list) and
    only ``aggregate_topics`` as the class a creation event names.

    The library would import whatever module a stored topic names; a database received for
    an audit may name any. Anything else, and a state the library cannot read, is an
    UnreadableEvent.

    An event stores the state its aggregate sealed (``STORED_STATE``, which its link
    covers); read back, its sealed personal fields are opened with ``keys`` (a field whose
    key is gone reads as a marker).
    """

    def __init__(self, transcoder: Transcoder, events: Mapping[str, type],
                 aggregate_topics: tuple[str, ...], keys: KeyLookup | None = None) -> None:
        super().__init__(transcoder=transcoder)
        self.events = events
        self.aggregate_topics = aggregate_topics
        self.keys = keys

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        state = vars(domain_event)
        sealed = state.get(STORED_STATE)
        if sealed is None:
            return super().to_stored_event(domain_event)
        return StoredEvent(originator_id=state["originator_id"],
                           originator_version=state["originator_version"],
                           topic=get_topic(type(domain_event)),
                           state=self.transcoder.encode({**sealed, "link": state["link"]}))

    def to_domain_event(self, stored_event: StoredEvent, *, deciding: bool = False
                        ) -> DomainEventProtocol[UUID]:
        """The stored event as a domain event, its sealed values opened; ``deciding``
        (replaying to decide) opens only those of events whose ``apply`` reads them."""
        who, version = stored_event.originator_id, stored_event.originator_version
        cls = self.events.get(stored_event.topic)
        if cls is None:
            raise UnreadableEvent(who, version, unknown_topic(stored_event.topic))
        try:
            event = super().to_domain_event(stored_event)
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise UnreadableEvent(who, version, f"its state is not a {cls.__name__} "
                                  f"({type(e).__name__}: {e})") from None
        origin = getattr(event, "originator_topic", None)
        if origin is not None and origin not in self.aggregate_topics:
            raise UnreadableEvent(who, version, f"it creates a {origin!r}, not one of "
                                  f"{self.aggregate_topics!r} (it is never imported)")
        if self.keys is not None and b'"sealed:' in stored_event.state and (
                not deciding or getattr(cls, "applies_personal", True)):
            open_state(cls, vars(event), self.keys, event.originator_id, version)
        return event
