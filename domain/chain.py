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
from typing import Any
from uuid import UUID

import orjson

_SORTED = orjson.OPT_SORT_KEYS


def canonical_json_bytes(value: object) -> bytes:
    """The one JSON form of a value, UTF-8 encoded: sorted keys, no spaces, no floats.

    Equal to Python's ``json.dumps(value, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False).encode()`` for plain values; datetimes and UUIDs become their
    ISO 8601 and hyphenated text.
    """
    return orjson.dumps(value, option=_SORTED)


def canonical_json(value: object) -> str:
    """``canonical_json_bytes`` as text."""
    return canonical_json_bytes(value).decode()


def chain_link(previous: str, customer_id: UUID | str, version: int, topic: str,
               state: dict[str, Any]) -> str:
    """The link of one event, from the link before it ("" for the first) and the event's
    own content: its customer's id (a UUID or its hyphenated text), version, topic and
    stored state without the link. The aggregate and every verify scan call this."""
    body = canonical_json_bytes(
        {"id": customer_id, "version": version, "topic": topic, "state": state})
    return hashlib.sha256(previous.encode() + b"\n" + body).hexdigest()
