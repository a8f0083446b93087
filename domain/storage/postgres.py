"""The PostgreSQL event recorder touchlog uses: the library's, without pipeline mode.

The library sends a save's table lock, notify and insert in psycopg pipeline mode; saves of
about 10,000 events (a 5,000-row import batch) hung there waiting on the pipeline sync.
This recorder sends the same statements in one ordinary transaction: the EXCLUSIVE table
lock still makes insert order equal commit order, so readers of the notification log never
pass over a gap that is filled later.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry


class PostgresEventRecorder(PostgresApplicationRecorder):
    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        with self.datastore.get_connection() as conn, conn.transaction():
            with conn.cursor() as curs:
                self._insert_events(curs, stored_events, **kwargs)
                if not stored_events:
                    return None
                self._insert_stored_events(curs, stored_events, **kwargs)
                return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
