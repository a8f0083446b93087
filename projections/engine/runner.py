"""Runs the projections: catch-up pull loop, rebuild, status, and a long-lived follower.

Exactly once: each batch is one transaction that first moves the projection's tracked
position with a compare-and-set (``UPDATE … WHERE position = <where this batch began>``)
and then writes the rows. A second processor that raced ahead makes the update touch no
row, and the whole batch rolls back. On PostgreSQL the update also locks the tracking row,
so two processors of one projection take turns instead of interleaving. The update also
records the log and the event at the new position; before its first batch a projector
refuses tables that do not fit the log (projections/engine/ownership.py).

The rows are computed before that transaction, from what the projection's ``read``
returned, so the write lock is held only while writing; inside the transaction ``read`` is
asked again, and the rows computed again if its answer changed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from touchlog.domain.application import TouchpointLog
from touchlog.domain.errors import ConnectionLost, InvalidInput, StoreError
from touchlog.domain.memory import between_batches, bulk_collection
from touchlog.domain.settings import Settings, available_cores
from touchlog.domain.storage.events import landmarks, link_of, notifications
from touchlog.domain.storage.files import Protected
from touchlog.domain.storage.keys import MASTER_KEY_ENV
from touchlog.domain.storage.location import locate
from touchlog.projections.engine.batching import batching
from touchlog.projections.engine.ownership import adopt, examine, refusal
from touchlog.projections.engine.processes import (
    REBUILD_HELPER,
    SECOND_SHARE,
    catch_up_alone,
    projecting_alongside,
    spawned,
)
from touchlog.projections.engine.reporting_db import ReportingDB, tracked_position
from touchlog.projections.engine.schema import PROJECTION_TABLES, TRACKING
from touchlog.projections.readmodels.archive import ArchiveProjection
from touchlog.projections.readmodels.changes import (
    NOT_THE_EVENT,
    Batch,
    Projection,
    Writes,
    blank_personal,
    decode,
    ending_at_merges,
)
from touchlog.projections.readmodels.followups import FollowUpsProjection
from touchlog.projections.readmodels.stages import StagesProjection

REPORTING_DB_ENV = "TOUCHLOG_REPORTING_DB"
RECONNECTS = 3  # times a catch-up opens a lost reporting connection again


class Conflict(Exception):
    """Another processor moved the position first; this batch was rolled back."""


def projections() -> dict[str, Projection]:
    return {p.name: p for p in (ArchiveProjection(), StagesProjection(), FollowUpsProjection())}


def reporting_url(log: TouchpointLog | Settings) -> str:
    """The reporting database: its own URL when configured, else the event database."""
    settings = log if isinstance(log, Settings) else log.settings
    return os.environ.get(REPORTING_DB_ENV) or settings.db


def follower_batch(settings: Settings) -> int:
    """Events a transaction of the projections beside an import and at its end:
    ``alongside`` when they write the log's own SQLite file, where the import waits for
    each of their transactions to take the file's one write lock; ``events`` when they
    write elsewhere (PostgreSQL, a reporting file of their own), where bigger batches cost
    less an event and nobody waits."""
    sizes = batching()
    # The reporting tables share the log's database as Projector tells it: the same URL.
    shared = reporting_url(settings) == settings.db and locate(settings.db).path is not None
    return sizes.alongside if shared else sizes.events


def protected_databases(settings: Settings) -> Protected:
    """The event database, its key store and master key (docs/privacy.md), and the
    reporting database: no file written may be them."""
    log = locate(settings.db).path
    protected = (Protected().database(log, "event database")
                 .database(locate(reporting_url(settings)).path, "reporting database"))
    if log is not None:
        protected.database(log.with_name(log.name + ".keys"), "key store")
        protected.file(log.with_name(log.name + ".master-key"), "master key")
    if os.environ.get(MASTER_KEY_ENV, "").strip():
        protected.file(Path(os.environ[MASTER_KEY_ENV].strip()), "master key")
    return protected


class Projector:
    """Keeps the read models of one log up to date in one reporting database."""

    def __init__(self, log: TouchpointLog, db: ReportingDB | None = None,
                 batch_size: int | None = None) -> None:
        self.log = log
        self.db = db or ReportingDB(reporting_url(log))
        # When the reporting tables share the log's database, "anything new?" may be one
        # query on this connection: what most reads ask, and hear "no".
        head = (log.location.database.head_sql(log.recorder)
                if self.db.url == log.settings.db else None)
        self.head_query = (f"SELECT name, position, {head} AS head FROM {TRACKING.name}"
                           if head is not None else None)
        self.batch_size = batch_size or batching().events
        self.projections = projections()
        self.fitting: set[str] = set()  # projections whose tables were found to fit the log
        self._identity: str | None = None  # the log's, once it has one (ownership.py)
        if not self.db.read_only:  # a read-only one is read as it is, if it is up to date
            self.db.executemany(f"INSERT INTO {TRACKING.name} (name, position) VALUES (?, 0) "
                                "ON CONFLICT DO NOTHING", [[name] for name in self.projections])

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
        A lost connection to the reporting database is opened again and the catch-up goes
        on from the positions recorded (a batch it interrupted was rolled back).
        """
        for attempt in range(1, RECONNECTS + 1):
            try:
                return self._catch_up(names, upto)
            except ConnectionLost:
                if attempt == RECONNECTS:
                    raise
                self.db.reconnect()
        raise AssertionError("unreachable")

    def _catch_up(self, names: Iterable[str] | None, upto: int | None) -> int:
        chosen = self.select(names)
        self.ensure_fits(chosen)
        read = 0
        if self.head_query is not None:
            rows = {r["name"]: r for r in self.db.query(self.head_query)}
            if all(tracked_position(n, rows[n]["position"]) >= (rows[n]["head"] or 0)
                   for n in chosen):
                return 0
        kept_sealed = frozenset.intersection(*(self.projections[n].kept_sealed
                                               for n in chosen))
        with bulk_collection():
            while True:
                between_batches()
                positions = self.db.positions()
                start = min(positions[n] for n in chosen)
                changes = decode(notifications(self.log, start, self.batch_size, upto),
                                 self.log.keyring, kept_sealed)
                if not changes:
                    return read
                read += len(changes)
                for name in chosen:
                    mine = [c for c in changes if c.position > positions[name]]
                    for part in ending_at_merges(mine):
                        self._commit(name, positions[name], part)
                        positions[name] = part[-1].position

    def ensure_fits(self, names: Iterable[str] | None = None) -> None:
        """Refuses (a StoreError naming the rebuild) when the named projections' tables were
        made from another log or are ahead of it; adopts tables that name no log yet."""
        chosen = self.select(names)
        if self.fitting.issuperset(chosen):
            return
        fit = examine(self.log, self.db)
        error = refusal(fit, chosen, self.db, self.log)
        if error is not None:
            raise error
        adopt(self.db, fit)
        self._identity = fit.marks.identity
        self.fitting.update(chosen)

    def _log_identity(self) -> str | None:
        if self._identity is None:  # the log was empty when examined
            self._identity = landmarks(self.log, []).identity
        return self._identity

    def _commit(self, name: str, expected: int, batch: Batch) -> None:
        """Computes the batch's rows without the write lock, then writes them in one
        transaction; prepares again inside it if the tables changed in between."""
        projection = self.projections[name]
        try:
            known = projection.read(self.db, batch)
            writes: Writes | None = projection.prepare(batch, known)
        except Exception:  # noqa: BLE001 - read mid-change (say, a rebuild's); redone below
            known, writes = None, None
        identity = self._log_identity()
        try:
            with self.db.transaction():
                moved = self.db.execute(
                    f"UPDATE {TRACKING.name} SET position = ?, log_id = ?, event_id = ? "
                    "WHERE name = ? AND position = ?",
                    (batch[-1].position, identity, link_of(batch[-1].state), name, expected))
                if moved != 1:
                    raise Conflict(name)
                erased = [c.customer_id for c in batch if c.kind == "Erased"]
                if erased:  # before the batch's rows are read: they are computed from them
                    blank_personal(self.db, PROJECTION_TABLES[name], erased,
                                   self.log.settings)
                now = projection.read(self.db, batch)
                if writes is None or now != known:  # the tables changed meanwhile
                    writes = projection.prepare(batch, now)
                writes.write(self.db)
        except Conflict:
            pass  # the other processor applied these events; re-read the positions
        except NOT_THE_EVENT as e:  # the batch rolled back; nothing was applied
            raise StoreError(
                f"the {name} projection cannot apply the events after position {expected}: "
                f"a value no touchlog run writes ({type(e).__name__}: {e}), in its tables or "
                "in the events. 'touchlog verify --projections' and 'touchlog verify' name "
                "it; 'touchlog projections rebuild' rebuilds the tables from the log") from None

    def rebuild(self, names: Iterable[str] | None = None) -> int:
        """Empties the projections' tables and applies the whole log again.

        Indexes only readers use are dropped first and built again at the end, which is
        much cheaper than keeping them up to date row by row. A rebuild killed midway
        leaves them missing until the next connection creates them again. A long log is
        shared with a second process (``SECOND_SHARE``), on the second core.
        """
        chosen = self.select(names)
        with self.db.transaction():
            self.db.start_over(chosen)
            self.db.drop_reader_indexes(chosen)
        shared = self._helper_share(chosen)
        read = 0
        if shared:
            with spawned(REBUILD_HELPER, catch_up_alone, self.log.settings, self.db.url, shared,
                         finish=True):
                read = self.catch_up([name for name in chosen if name not in shared])
        # Everything the helper did not apply (all of it, if it failed) is applied here.
        read = max(read, self.catch_up(chosen))
        self.db.create_tables()
        return read

    def _helper_share(self, chosen: list[str]) -> list[str]:
        """The projections a helper process should rebuild; none when it would not pay."""
        shared = [name for name in chosen if name in SECOND_SHARE]
        if not shared or len(shared) == len(chosen) or available_cores() < 2:
            return []
        head = self.log.recorder.max_notification_id() or 0
        return shared if head >= batching().parallel_rebuild_from else []

    def status(self) -> list[dict[str, Any]]:
        """Each projection's position, the log's head, and how many events behind it is; or,
        for tables that do not fit the log, no lag but the ``problem``."""
        fit = examine(self.log, self.db)
        problems = {m.name: m.detail for m in fit.mismatches}
        head = fit.marks.head
        return [{"projection": name, "position": row.position, "head": head,
                 "lag": None if name in problems else head - row.position,
                 "problem": problems.get(name)}
                for name in self.projections for row in [fit.rows[name]]]

    def follow(self, stopping: threading.Event, poll_seconds: float = 0.5) -> None:
        """Keeps catching up until ``stopping`` is set.

        On PostgreSQL the library's LISTEN/NOTIFY subscription wakes it when events are
        recorded; SQLite has no subscriptions, so it polls.
        """
        self.catch_up()
        if not self.log.location.database.can_subscribe:
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
def following_import(log: TouchpointLog, contacts: int) -> Iterator[None]:
    """The reporting tables follow an import of ``contacts`` contacts recorded in the body.

    They exist before the first contact is recorded; from ``follow_imports_from`` contacts on a
    second process applies batches while the body records, and at the end applies the
    archive up to the log's head while this process applies the other projections; then
    this process applies whatever is left. Both apply ``follower_batch`` events at a time,
    so their memory stays flat.
    """
    sizes = batching()
    projector = Projector(log, batch_size=follower_batch(log.settings))
    try:
        projector.ensure_fits()  # refused before anything is recorded
        alongside = contacts >= sizes.follow_imports_from
        # A long import into empty tables builds the readers' indexes once, at the end:
        # much cheaper than keeping them up to date row by row (as a rebuild does).
        empty = alongside and not any(projector.db.positions().values())
        if empty:
            with projector.db.transaction():
                projector.db.drop_reader_indexes(projector.projections)
        others = [name for name in projector.projections if name not in SECOND_SHARE]
        with projecting_alongside(log, indexed=not empty,
                                  meanwhile=lambda: projector.catch_up(others)) \
                if alongside else nullcontext():
            yield
        projector.catch_up()
        if empty:
            projector.db.create_tables()
    finally:
        projector.close()
