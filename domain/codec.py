"""How events are written down: plain JSON, and the hash chain that makes tampering visible.

Stored state is a JSON object with sorted keys, compact separators and UTF-8 text. Every
value is a string, an integer, a boolean, null, a list or an object (never a float), so any
JSON tool reads it and any language can reproduce the canonical form.

The chain (docs/audit.md has the algorithm for independent re-checking): each event of a
customer carries ``link = sha256(previous_link + "\\n" + canonical)``, hex-encoded, where
``canonical`` is the canonical JSON of ``{"id", "version", "topic", "state"}`` with the
event's stored state minus its own ``link``, and the first event's previous link is "".
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Transcoder

_SORTED = orjson.OPT_SORT_KEYS


def canonical_json(value: object) -> str:
    """The one JSON text of a value: sorted keys, no spaces, UTF-8, no floats.

    Equal to Python's ``json.dumps(value, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`` for plain values; datetimes become ISO 8601 text.
    """
    return orjson.dumps(value, option=_SORTED).decode()


def chain_link(previous: str, originator_id: UUID, version: int, topic: str,
               state: dict[str, Any]) -> str:
    """The link of one event, from the link before it and the event's own content."""
    body = orjson.dumps(
        {"id": originator_id, "version": version, "topic": topic, "state": state},
        option=_SORTED,
    )
    return hashlib.sha256(previous.encode() + b"\n" + body).hexdigest()


class PlainJSONTranscoder(Transcoder):
    """Writes event state as canonical JSON; turns the recorded ``timestamp`` back into a datetime.

    Domain event fields are plain JSON values already (instants as ISO 8601 text, amounts
    as decimal text), so no type tags are needed.
    """

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj, option=_SORTED)

    def decode(self, data: bytes) -> Any:
        state = orjson.loads(data)
        timestamp = state.get("timestamp")
        if timestamp is not None:
            state["timestamp"] = datetime.fromisoformat(timestamp)
        return state
