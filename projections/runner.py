"""Runs the projections: catch-up pull loop, rebuild, status, and a long-lived follower.

Exactly once: each batch is one transaction that first moves the projection's tracked
position with a compare-and-set (``UPDATE … WHERE position = <where this batch began>``)
and then writes the rows. A second processor that raced ahead makes the update touch no
row, and the whole batch rolls back. On PostgreSQL the update also locks the tracking row,
so two processors of one projection take turns instead of interleaving.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import Tracking

from touchlog.domain.application import TouchpointLog
from touchlog.domain.errors import InvalidInput
from touchlog.domain.settings import Settings
from touchlog.projections.archive import ArchiveProjection
from touchlog.projections.batch import Batch, Projection, decode
from touchlog.projections.followups import FollowUpsProjection
from touchlog.projections.raw_events import notifications
from touchlog.projections.schema import PROJECTION_TABLES, TRACKING
from touchlog.projections.stages import StagesProjection
from touchlog.projections.viewdb import ViewDB

BATCH_SIZE = 20_000
# A follower beside a writer keeps its transactions short, so the writer's waits for the
# write lock stay short too.
ALONGSIDE_BATCH_SIZE = 5_000
REPORTING_DB_ENV = "TOUCHLOG_REPORTING_DB"


class Conflict(Exception):
    """Another processor moved the position first; this batch was rolled back."""


def projections() -> dict[str, Projection]:
    return {p.name: p for p in (ArchiveProjection(), StagesProjection(), FollowUpsProjection())}


def reporting_url(log: TouchpointLog) -> str:
    """The reporting database: its own URL when configured, else the event database."""
    return os.environ.get(REPORTING_DB_ENV) or log.settings.db


class Projector:
    """Keeps the read models of one log up to date in one reporting database."""

    def __init__(self, log: TouchpointLog, db: ViewDB | None = None,
                 batch_size: int = BATCH_SIZE) -> None:
        self.log = log
        self.db = db or ViewDB(reporting_url(log))
        # On the embedded default the log is in the same SQLite file: "anything new?" is
        # then one query on this connection, which is what most reads ask and hear "no".
        events: str = getattr(log.recorder, "events_table_name", "stored_events")
        self.head_query = (
            f"SELECT name, position, (SELECT max(rowid) FROM {events})"
            f" AS head FROM {TRACKING.name}"
            if self.db.dialect == "sqlite" and log.location.kind == "sqlite"
            and db is None and reporting_url(log) == log.settings.db else None)
        self.batch_size = batch_size
        self.projections = projections()
        self.db.executemany(
            f"INSERT INTO {TRACKING.name} (name, position) VALUES (?, 0) ON CONFLICT DO NOTHING",
            [[name] for name in self.projections])

    def select(self, names: Iterable[str] | None) -> list[str]:
        chosen = list(names or self.projections)
        for name in chosen:
            if name not in self.projections:
                known = ", ".join(self.projections)
                raise InvalidInput("projection", name, f"unknown projection; known: {known}")
        return chosen

    def catch_up(self, names: Iterable[str] | None = None, upto: int | None = None) -> int:
        """Applies every event after each projection's position (up to position ``upto``
        when given); returns events read.

        The log is read once for all projections, from the lowest position, in big batches.
        """
        chosen = self.select(names)
        read = 0
        if self.head_query is not None:
            rows = {r["name"]: r for r in self.db.query(self.head_query)}
            if all(rows[n]["position"] >= (rows[n]["head"] or 0) for n in chosen):
                return 0
        while True:
            positions = self.db.positions()
            start = min(positions[n] for n in chosen)
            changes = decode(notifications(self.log, start, self.batch_size, upto))
            if not changes:
                return read
            read += len(changes)
            for name in chosen:
                mine = [c for c in changes if c.position > positions[name]]
                if mine:
                    self._commit(name, positions[name], mine)

    def _commit(self, name: str, expected: int, batch: Batch) -> None:
        tracking = Tracking(self.log.name, batch[-1].position)
        try:
            with self.db.transaction():
                moved = self.db.execute(
                    f"UPDATE {TRACKING.name} SET position = ? WHERE name = ? AND position = ?",
                    (tracking.notification_id, name, expected))
                if moved != 1:
                    raise Conflict(name)
                self.projections[name].apply(self.db, batch)
        except Conflict:
            pass  # the other processor applied these events; re-read the positions

    def rebuild(self, names: Iterable[str] | None = None) -> int:
        """Empties the projections' tables and applies the whole log again.

        Indexes only readers use are dropped first and built again at the end, which is
        much cheaper than keeping them up to date row by row. A rebuild killed midway
        leaves them missing until the next connection creates them again.
        """
        chosen = self.select(names)
        tables = [table for name in chosen for table in PROJECTION_TABLES[name]]
        with self.db.transaction():
            for table in tables:
                self.db.execute(f"DELETE FROM {table.name}")
                for index in table.reader_indexes:
                    self.db.execute(f"DROP INDEX IF EXISTS {table.index_name(index)}")
            for name in chosen:
                self.db.execute(f"UPDATE {TRACKING.name} SET position = 0 WHERE name = ?",
                                (name,))
        read = self.catch_up(chosen)
        self.db.create_tables()
        return read

    def status(self) -> list[dict[str, Any]]:
        """Each projection's position, the log's head, and how many events behind it is."""
        head = self.log.recorder.max_notification_id() or 0
        positions = self.db.positions()
        return [{"projection": name, "position": positions[name], "head": head,
                 "lag": head - positions[name]} for name in self.projections]

    def follow(self, stopping: threading.Event, poll_seconds: float = 0.5) -> None:
        """Keeps catching up until ``stopping`` is set.

        On PostgreSQL the library's LISTEN/NOTIFY subscription wakes it when events are
        recorded; SQLite has no subscriptions, so it polls.
        """
        self.catch_up()
        if self.log.location.kind != "postgres":
            while not stopping.wait(poll_seconds):
                self.catch_up()
            return
        subscription = self.log.recorder.subscribe(gt=self._lowest())
        watcher = threading.Thread(target=_stop_when, args=(stopping, subscription), daemon=True)
        watcher.start()
        with subscription:
            for notification in subscription:
                if notification.id > self._lowest():
                    self.catch_up()

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """Every projection table's rows in key order: rebuild and incremental must agree."""
        return {t.name: self.db.query(f"SELECT * FROM {t.name} ORDER BY {', '.join(t.key)}")
                for tables in PROJECTION_TABLES.values() for t in tables}

    def _lowest(self) -> int:
        return min(self.db.positions().values())

    def close(self) -> None:
        self.db.close()


def _stop_when(stopping: threading.Event, subscription: Any) -> None:
    stopping.wait()
    subscription.stop()


@contextmanager
def projecting_alongside(log: TouchpointLog) -> Iterator[None]:
    """Keeps the projections catching up in a second process while the body records events
    (an import), so the reporting tables fill on the second core instead of afterwards.

    The follower stops when the body ends (or its parent dies) after at most the batch it
    is applying; whatever it has not applied by then, the caller's own ``catch_up``
    applies. It may fail for any reason without harm: every batch it applies is one
    exactly-once transaction.
    """
    context = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited connections
    stop = context.Event()
    follower = context.Process(target=_follow_until, args=(log.settings, stop, os.getpid()),
                               name="touchlog-projections", daemon=True)
    follower.start()
    try:
        yield
    finally:
        stop.set()
        follower.join()


def _follow_until(settings: Settings, stop: Any, parent: int) -> None:
    try:
        log = TouchpointLog(settings, create=False)
        projector = Projector(log, batch_size=ALONGSIDE_BATCH_SIZE)
        try:
            # One batch per step, so that a follower whose parent died (or that was told to
            # stop) ends within one batch; the parent's own catch-up applies the rest.
            while not stop.is_set() and os.getppid() == parent:
                lowest = min(projector.db.positions().values())
                if not projector.catch_up(upto=lowest + ALONGSIDE_BATCH_SIZE):
                    stop.wait(0.05)  # caught up: wait for the writer
        finally:
            projector.close()
            log.close()
    except Exception:  # noqa: BLE001 - the parent's own catch-up redoes it and reports
        os._exit(1)
