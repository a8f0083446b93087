"""The SQLite event recorder touchlog uses: the library's, inserting a save with one statement.

The library inserts a save's events one ``execute`` at a time to collect each row id; an
import saves thousands of events at once. Rows inserted while the transaction holds the
write lock get consecutive row ids, so the notification ids are the ``len(events)`` ids
ending at ``last_insert_rowid()``. A clash on (originator id, version) still raises the
IntegrityError that makes the application retry from a fresh load.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor


class SQLiteEventRecorder(SQLiteApplicationRecorder):
    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent],
                       **_: Any) -> Sequence[int] | None:
        if not stored_events:
            return []
        c.executemany(self.insert_events_statement, [
            (s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
             s.originator_version, s.topic, s.state)
            for s in stored_events])
        c.execute("SELECT last_insert_rowid()")
        last = int(c.fetchone()[0])
        return list(range(last - len(stored_events) + 1, last + 1))
