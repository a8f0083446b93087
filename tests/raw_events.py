"""The event table of a touchlog database (SQLite or PostgreSQL), reached with plain SQL the
way an intruder would: the tamper tests change, move and add stored rows through it."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import orjson
import psycopg

from touchlog.domain.chain import chain_link
from touchlog.domain.identity import customer_id


class RawTable:
    """The event table (SQLite or PostgreSQL), reached the way an intruder would."""

    def __init__(self, url: str) -> None:
        self.postgres = url.startswith("postgresql")
        self.url = url
        self.table = "touchlog_events" if self.postgres else "stored_events"
        self.position_column = "notification_id" if self.postgres else "rowid"

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        sql = sql.replace("{table}", self.table).replace("{position}", self.position_column)
        if self.postgres:
            with psycopg.connect(self.url, autocommit=True) as conn:
                cursor = conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
                return list(cursor.fetchall()) if cursor.description else []
        conn = sqlite3.connect(self.url)
        try:
            with conn:
                return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def key(self, reference: str) -> UUID | str:
        uid = customer_id(reference)
        return uid if self.postgres else uid.hex

    def state(self, reference: str, version: int) -> bytes:
        rows = self.execute("SELECT state FROM {table} WHERE originator_id = ? "
                            "AND originator_version = ?", (self.key(reference), version))
        return bytes(rows[0][0])

    def set_state(self, reference: str, version: int, state: bytes) -> None:
        self.execute("UPDATE {table} SET state = ? WHERE originator_id = ? "
                     "AND originator_version = ?", (state, self.key(reference), version))

    def delete(self, reference: str, version: int) -> None:
        self.execute("DELETE FROM {table} WHERE originator_id = ? AND originator_version = ?",
                     (self.key(reference), version))

    def swap_versions(self, reference: str, first: int, second: int) -> None:
        key = self.key(reference)
        update = "UPDATE {table} SET originator_version = ? WHERE originator_id = ? " \
                 "AND originator_version = ?"
        self.execute(update, (-1, key, first))
        self.execute(update, (first, key, second))
        self.execute(update, (second, key, -1))

    # -- what a forger who knows docs/audit.md does -------------------------------------------

    def events(self, reference: str) -> list[tuple[int, str, dict[str, Any]]]:
        """(version, topic, state) of the customer's stored events, in version order."""
        rows = self.execute("SELECT originator_version, topic, state FROM {table} "
                            "WHERE originator_id = ? ORDER BY originator_version",
                            (self.key(reference),))
        return [(v, t, orjson.loads(bytes(s))) for v, t, s in rows]

    def insert(self, raw_id: Any, version: int, topic: str, state: dict[str, Any]) -> None:
        """A row as stored: ``raw_id`` exactly as given, the state as canonical JSON."""
        self.execute("INSERT INTO {table} (originator_id, originator_version, topic, state) "
                     "VALUES (?, ?, ?, ?)",
                     (raw_id, version, topic, orjson.dumps(state, option=orjson.OPT_SORT_KEYS)))

    def position(self, reference: str, version: int) -> int:
        rows = self.execute("SELECT {position} FROM {table} WHERE originator_id = ? "
                            "AND originator_version = ?", (self.key(reference), version))
        return int(rows[0][0])

    def swap_positions(self, first: int, second: int) -> None:
        """Exchanges two events' places in the notification log (the log's order)."""
        update = "UPDATE {table} SET {position} = ? WHERE {position} = ?"
        self.execute(update, (-1, first))
        self.execute(update, (first, second))
        self.execute(update, (second, -1))


def relinked(previous: str, uid: UUID, version: int, topic: str,
             state: dict[str, Any]) -> dict[str, Any]:
    """``state`` with the link docs/audit.md says it should have: a forger's recomputation."""
    content = {k: v for k, v in state.items() if k != "link"}
    return {**content, "link": chain_link(previous, uid, version, topic, content)}
