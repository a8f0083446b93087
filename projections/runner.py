"""Runs the projections: catch-up pull loop, rebuild, status, and a long-lived follower.

Exactly once: each batch is one transaction that first moves the projection's tracked
position with a compare-and-set (``UPDATE … WHERE position = <where this batch began>``)
and then writes the rows. A second processor that raced ahead makes the update touch no
row, and the whole batch rolls back. On PostgreSQL the update also locks the tracking row,
so two processors of one projection take turns instead of interleaving.

The rows are computed before that transaction, from what the projection's ``read``
returned, so the write lock is held only while writing; inside the transaction ``read`` is
asked again, and the rows computed again if its answer changed.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from touchlog.domain.application import TouchpointLog
from touchlog.domain.errors import InvalidInput
from touchlog.domain.settings import Settings
from touchlog.projections.archive import ArchiveProjection
from touchlog.projections.batch import Batch, Projection, Writes, decode
from touchlog.projections.followups import FollowUpsProjection
from touchlog.projections.raw_events import notifications
from touchlog.projections.schema import PROJECTION_TABLES, TRACKING
from touchlog.projections.stages import StagesProjection
from touchlog.projections.viewdb import ViewDB

BATCH_SIZE = 20_000
# A follower beside a writer keeps its transactions short, so the writer's waits for the
# write lock stay short too.
ALONGSIDE_BATCH_SIZE = 5_000
# A rebuild of a log at least this long shares the work with a second process, which
# applies these projections while this one applies the others (the two shares take about
# as long); below it, starting the process costs more than it saves.
PARALLEL_REBUILD_FROM = 50_000
HELPER_SHARE = ("archive",)
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
        """Computes the batch's rows without the write lock, then writes them in one
        transaction; prepares again inside it if the tables changed in between."""
        projection = self.projections[name]
        try:
            known = projection.read(self.db, batch)
            writes: Writes | None = projection.prepare(batch, known)
        except Exception:  # noqa: BLE001 - read mid-change (say, a rebuild's); redone below
            known, writes = None, None
        try:
            with self.db.transaction():
                moved = self.db.execute(
                    f"UPDATE {TRACKING.name} SET position = ? WHERE name = ? AND position = ?",
                    (batch[-1].position, name, expected))
                if moved != 1:
                    raise Conflict(name)
                now = projection.read(self.db, batch)
                if writes is None or now != known:  # the tables changed meanwhile
                    writes = projection.prepare(batch, now)
                writes.write(self.db)
        except Conflict:
            pass  # the other processor applied these events; re-read the positions

    def rebuild(self, names: Iterable[str] | None = None) -> int:
        """Empties the projections' tables and applies the whole log again.

        Indexes only readers use are dropped first and built again at the end, which is
        much cheaper than keeping them up to date row by row. A rebuild killed midway
        leaves them missing until the next connection creates them again. A long log is
        shared with a second process (``HELPER_SHARE``), on the second core.
        """
        chosen = self.select(names)
        with self.db.transaction():
            for name in chosen:
                for table in PROJECTION_TABLES[name]:
                    self.db.execute(f"DELETE FROM {table.name}")
            self.db.drop_reader_indexes(chosen)
            for name in chosen:
                self.db.execute(f"UPDATE {TRACKING.name} SET position = 0 WHERE name = ?",
                                (name,))
        shared = self._helper_share(chosen)
        read = 0
        if shared:
            with _spawned(_catch_up_alone, self.log.settings, self.db.url, shared,
                          finish=True):
                read = self.catch_up([name for name in chosen if name not in shared])
        # Everything the helper did not apply (all of it, if it failed) is applied here.
        read = max(read, self.catch_up(chosen))
        self.db.create_tables()
        return read

    def _helper_share(self, chosen: list[str]) -> list[str]:
        """The projections a helper process should rebuild; none when it would not pay."""
        shared = [name for name in chosen if name in HELPER_SHARE]
        if not shared or len(shared) == len(chosen) or _cores() < 2:
            return []
        head = self.log.recorder.max_notification_id() or 0
        return shared if head >= PARALLEL_REBUILD_FROM else []

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
def _spawned(target: Any, *args: Any, finish: bool) -> Iterator[None]:
    """Runs ``target(*args, stop, parent pid)`` in a fresh interpreter (no inherited
    connections) while the body runs. When the body ends, waits for the helper: to finish
    its work (``finish``) or to stop after its current batch (``stop`` set); a body that
    failed always stops it."""
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    helper = context.Process(target=target, args=(*args, stop, os.getpid()),
                             name="touchlog-projections", daemon=True)
    helper.start()
    try:
        yield
    except BaseException:
        stop.set()
        raise
    finally:
        if not finish:
            stop.set()
        helper.join()


@contextmanager
def projecting_alongside(log: TouchpointLog) -> Iterator[None]:
    """Keeps the projections catching up in a second process while the body records events
    (an import), so the reporting tables fill on the second core instead of afterwards.

    The follower stops when the body ends (or its parent dies) after at most the batch it
    is applying; whatever it has not applied by then, the caller's own ``catch_up``
    applies. It may fail for any reason without harm: every batch it applies is one
    exactly-once transaction.
    """
    with _spawned(_follow_until, log.settings, finish=False):
        yield


def _follow_until(settings: Settings, stop: Any, parent: int) -> None:
    def step(projector: Projector) -> bool:
        if not _one_batch(projector, projector.select(None)):
            stop.wait(0.05)  # caught up: wait for the writer
        return not stop.is_set()
    _in_steps(settings, None, ALONGSIDE_BATCH_SIZE, parent, step)


def _catch_up_alone(settings: Settings, url: str, names: list[str], stop: Any,
                    parent: int) -> None:
    """A rebuild's helper: applies ``names`` up to the log's head, then ends (or sooner,
    when the rebuild is over or gone)."""
    _in_steps(settings, url, BATCH_SIZE, parent,
              lambda projector: _one_batch(projector, names) > 0 and not stop.is_set())


def _in_steps(settings: Settings, url: str | None, batch_size: int, parent: int,
              step: Any) -> None:
    """Calls ``step(projector)`` while it returns True and the parent lives: one batch per
    step, so that a helper whose parent died ends within one batch. It may fail for any
    reason without harm: every batch it applies is one exactly-once transaction, and the
    parent applies whatever is left."""
    try:
        log = TouchpointLog(settings, create=False)
        projector = Projector(log, ViewDB(url, create=False) if url else None,
                              batch_size=batch_size)
        try:
            while os.getppid() == parent and step(projector):
                pass
        finally:
            projector.close()
            log.close()
    except Exception:  # noqa: BLE001 - the parent's own catch-up redoes it and reports
        os._exit(1)


def _one_batch(projector: Projector, names: list[str]) -> int:
    """Applies at most one batch to ``names``; returns events read (0: caught up)."""
    lowest = min(projector.db.positions()[name] for name in names)
    return projector.catch_up(names, upto=lowest + projector.batch_size)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
