"""The logged contacts a touchlog database holds, read from the stored rows as written (SQLite
or PostgreSQL), their sealed personal fields opened (docs/privacy.md): the kill tests read
them after an import was killed."""

from __future__ import annotations

from typing import Any

import orjson

from touchlog.domain.application import TouchpointLog
from touchlog.domain.customer import Customer
from touchlog.domain.sealing import open_state
from touchlog.domain.settings import Settings
from touchlog.domain.storage.events import stored_rows, stored_uuid
from touchlog.domain.storage.location import locate


def logged_states(db: str) -> list[dict[str, Any]]:
    """The state of every ContactLogged event in the log; none when the SQLite file was
    never made."""
    path = locate(db).path
    if path is not None and not path.exists():
        return []
    with TouchpointLog(Settings(db=db), create=False) as log, stored_rows(log) as rows:
        return [open_state(Customer.ContactLogged, orjson.loads(state), log.keyring.lookup,
                           stored_uuid(raw_id), version)
                for raw_id, version, topic, state in rows if topic.endswith("ContactLogged")]
