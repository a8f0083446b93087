"""The raw baseline: event-sized rows written and read with sqlite3 / psycopg alone.

The table has the columns of the library's ``stored_events`` (originator id, version,
topic, JSON state, and a notification id to read in order); the states are the JSON of
real ``ContactLogged`` events for the generated contacts (the same keys and values touchlog
stores), so the bytes per row match. Rows are inserted 1,000 per transaction and read back
in pages of 5,000 in notification order, each state decoded with ``orjson.loads``. Only the
database calls and the decoding are timed, not building the rows.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from benchmarks.generate import rows

TOPIC = "touchlog.domain.customer:Customer.ContactLogged"
INSERT_BATCH = 1_000
READ_PAGE = 5_000
NAMESPACE = uuid.UUID("6f1c4c62-5d0e-4a57-9a43-2f0b8b1e5a66")


def event_rows(contacts: int, seed: int) -> Iterator[tuple[uuid.UUID, int, str, bytes]]:
    current, version = "", 1
    for row in rows(contacts, seed):
        reference = row["customer"]
        # Rows come one customer at a time; version 1 is the customer's registration.
        current, version = (current, version + 1) if reference == current else (reference, 2)
        state = {"active": row["initiated_by"] == "company", "actor": row["actor"],
                 "amount": row["amount"] or None, "channel": row["channel"], "class_version": 2,
                 "contact_id": "c-" + hashlib.md5(repr(row).encode()).hexdigest(),
                 "deliberate": True, "hard": False, "initiated_by": row["initiated_by"],
                 "link": hashlib.sha256(repr(row).encode()).hexdigest(),
                 "occurred_at": row["occurred_at"] + "+00:00", "outcome": row["outcome"] or None,
                 "place": row["place"] or None, "purpose": row["purpose"],
                 "rating": int(row["rating"]) if row["rating"] else None, "reason_category": None,
                 "stage_signal": row["stage"] or None, "summary": row["summary"],
                 "timestamp": "2026-01-01T00:00:00.000000+00:00"}
        yield uuid.uuid5(NAMESPACE, reference), version, TOPIC, orjson.dumps(state)


def batches(contacts: int, seed: int) -> Iterator[list[tuple[uuid.UUID, int, str, bytes]]]:
    batch = []
    for row in event_rows(contacts, seed):
        batch.append(row)
        if len(batch) == INSERT_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def measure(kind: str, url: str, contacts: int, seed: int) -> dict[str, Any]:
    """Insert and read-and-decode rates on a fresh table."""
    store = SqliteRaw(url) if kind == "sqlite" else PostgresRaw(url)
    try:
        inserted, insert_s, state_bytes = 0, 0.0, 0
        for batch in batches(contacts, seed):
            started = time.perf_counter()
            store.insert(batch)
            insert_s += time.perf_counter() - started
            inserted += len(batch)
            state_bytes += sum(len(r[3]) for r in batch)
        started = time.perf_counter()
        read = store.read_and_decode()
        read_s = time.perf_counter() - started
    finally:
        store.close()
    assert read == inserted, (read, inserted)
    return {"rows": inserted, "state_bytes_avg": round(state_bytes / max(1, inserted)),
            "insert_s": insert_s, "insert_rows_per_s": inserted / insert_s,
            "read_decode_s": read_s, "read_decode_rows_per_s": read / read_s}


class SqliteRaw:
    """The library's SQLite settings: WAL, autocommit with explicit transactions."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("DROP TABLE IF EXISTS raw_events")
        self.db.execute("CREATE TABLE raw_events (originator_id TEXT, originator_version "
                        "INTEGER, topic TEXT, state BLOB, "
                        "PRIMARY KEY (originator_id, originator_version))")

    def insert(self, batch: list[tuple[uuid.UUID, int, str, bytes]]) -> None:
        self.db.execute("BEGIN")
        self.db.executemany("INSERT INTO raw_events VALUES (?, ?, ?, ?)",
                            [(str(o), v, t, s) for o, v, t, s in batch])
        self.db.execute("COMMIT")

    def read_and_decode(self) -> int:
        return read_pages(lambda last: self.db.execute(
            "SELECT rowid, originator_id, originator_version, topic, state FROM raw_events"
            " WHERE rowid > ? ORDER BY rowid LIMIT ?", (last, READ_PAGE)).fetchall())

    def close(self) -> None:
        self.db.close()
        for suffix in ("", "-wal", "-shm"):  # as big as the events: keep no copy
            Path(self.path + suffix).unlink(missing_ok=True)


def read_pages(page: Callable[[int], list[tuple[Any, ...]]]) -> int:
    """Reads every row in notification order, a page after the last id read, decoding each
    state; returns the rows read. ``page(last)`` runs the database's own query."""
    last, count = 0, 0
    while rows := page(last):
        for row in rows:
            orjson.loads(row[4])
        count += len(rows)
        last = rows[-1][0]
    return count


class PostgresRaw:
    """The same table on PostgreSQL, with a bigserial notification id like the library's."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.db = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1))
        with self.db.transaction():
            self.db.execute("DROP TABLE IF EXISTS raw_events")
            self.db.execute(
                "CREATE TABLE raw_events (notification_id bigserial UNIQUE, originator_id uuid,"
                " originator_version bigint, topic text, state bytea,"
                " PRIMARY KEY (originator_id, originator_version))")

    def insert(self, batch: list[tuple[uuid.UUID, int, str, bytes]]) -> None:
        with self.db.transaction(), self.db.cursor() as cursor:
            cursor.executemany("INSERT INTO raw_events (originator_id, originator_version, topic,"
                               " state) VALUES (%s, %s, %s, %s)", batch)

    def read_and_decode(self) -> int:
        def page(last: int) -> list[tuple[Any, ...]]:
            rows = self.db.execute(
                "SELECT notification_id, originator_id, originator_version, topic, state"
                " FROM raw_events WHERE notification_id > %s ORDER BY notification_id"
                " LIMIT %s", (last, READ_PAGE)).fetchall()
            self.db.commit()
            return rows
        return read_pages(page)

    def close(self) -> None:
        with self.db.transaction():
            self.db.execute("DROP TABLE IF EXISTS raw_events")
        self.db.close()
