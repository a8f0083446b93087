"""How events are written down in the store and read back: canonical JSON (domain/chain.py),
no type tags, and only touchlog's own event types."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder

from touchlog.domain.chain import canonical_json_bytes
from touchlog.domain.errors import UnreadableEvent
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
    """

    def __init__(self, transcoder: Transcoder, events: Mapping[str, type],
                 aggregate_topics: tuple[str, ...]) -> None:
        super().__init__(transcoder=transcoder)
        self.events = events
        self.aggregate_topics = aggregate_topics

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
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
        return event
