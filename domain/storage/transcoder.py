"""How events are written down in the store: canonical JSON (domain/chain.py), no type tags."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from eventsourcing.persistence import Transcoder

from touchlog.domain.chain import canonical_json_bytes


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
