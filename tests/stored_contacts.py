"""The logged contacts a touchlog database holds, read from the stored rows as written (SQLite
or PostgreSQL): the kill tests read them after an import was killed."""

from __future__ import annotations

from typing import Any

import orjson

from touchlog.domain.application import TouchpointLog
from touchlog.domain.settings import Settings
from touchlog.domain.storage.events import stored_rows
from touchlog.domain.storage.location import locate


def logged_states(db: str) -> list[dict[str, Any]]:
    """The state of every ContactLogged event in the log; none when the SQLite file was
    never made."""
    path = locate(db).path
    if path is not None and not path.exists():
        return []
    with TouchpointLog(Settings(db=db), create=False) as log, stored_rows(log) as rows:
        return [orjson.loads(state) for _id, _version, topic, state in rows
                if topic.endswith("ContactLogged")]
