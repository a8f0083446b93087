"""The projections' second processes: a follower beside an import, a rebuild's helper.

Each runs a ``Projector`` in a fresh interpreter (spawned: no inherited connections), one
batch per step, and stops within one batch of being told to or of its parent's end. It
may fail for any reason without harm: every batch it applies is one exactly-once
transaction, and the parent applies whatever is left.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from touchlog.domain.application import TouchpointLog
from touchlog.domain.settings import Settings

if TYPE_CHECKING:
    from touchlog.projections.engine.runner import Projector

# The processes' names (``multiprocessing.current_process().name`` inside them).
FOLLOWER = "touchlog-follower"
REBUILD_HELPER = "touchlog-rebuild-helper"
# The projections a second process applies while this one applies the others, when both
# work through a long stretch of the log (a rebuild; the end of an import): the archive,
# about as long to apply as the two others together.
SECOND_SHARE = ("archive",)

@contextmanager
def spawned(name: str, target: Any, *args: Any, finish: bool) -> Iterator[Any]:
    """Runs ``target(*args, stop, parent pid)`` in a fresh interpreter (no inherited
    connections) while the body runs, which gets the process. When the body ends, waits
    for the helper: to finish its work (``finish``) or to stop after its current batch
    (``stop`` set); a body that failed always stops it."""
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    helper = context.Process(target=target, args=(*args, stop, os.getpid()), name=name,
                             daemon=True)
    helper.start()
    try:
        yield helper
    except BaseException:
        stop.set()
        raise
    finally:
        if not finish:
            stop.set()
        helper.join()


@contextmanager
def projecting_alongside(log: TouchpointLog, *, indexed: bool = True,
                         meanwhile: Callable[[], object] | None = None) -> Iterator[None]:
    """Keeps the projections catching up in a second process while the body records events
    (an import), so the reporting tables fill on the second core instead of afterwards.
    Unless ``indexed``, the follower leaves the readers' indexes missing (the caller
    builds them at the end).

    When the body ends, the follower stops after at most the batch it is applying; with
    ``meanwhile``, it goes on instead with its share of what is left (``SECOND_SHARE``: up
    to the log's head, then it ends) while this process runs ``meanwhile`` (the other
    projections' catch-up), so that what the follower had not applied yet is applied on
    two cores. Whatever it has not applied when it ends, the caller's own ``catch_up``
    applies. It may fail for any reason without harm: every batch it applies is one
    exactly-once transaction.
    """
    context = multiprocessing.get_context("spawn")
    ending, sharing = context.Event(), context.Event()
    with spawned(FOLLOWER, _follow_until, log.settings, indexed, ending, sharing,
                 finish=meanwhile is not None) as follower:
        yield
        if meanwhile is not None:
            ending.set()
            # The batch it is applying is of every projection: this process starts on its
            # own share once that batch is over (or the follower is gone), so that each
            # process applies projections the other does not touch.
            while not sharing.wait(0.05) and follower.is_alive():
                pass
            meanwhile()


def _follow_until(settings: Settings, indexed: bool, ending: Any, sharing: Any, stop: Any,
                  parent: int) -> None:
    from touchlog.projections.engine.runner import follower_batch, reporting_url

    steps = 0

    def step(projector: Projector) -> bool:
        nonlocal steps
        # The first step is always a batch of every projection, however soon the writer
        # is done: what the follower does up to its end is the same in every run.
        if steps and ending.is_set():  # the writer is done: this process's share
            sharing.set()
            return _one_batch(projector, list(SECOND_SHARE)) > 0 and not stop.is_set()
        steps += 1
        if not _one_batch(projector, projector.select(None)):
            stop.wait(0.05)  # caught up: wait for the writer
        return not stop.is_set()
    _in_steps(settings, reporting_url(settings), indexed, follower_batch(settings), parent,
              step)


def catch_up_alone(settings: Settings, url: str, names: list[str], stop: Any,
                    parent: int) -> None:
    """A rebuild's helper: applies ``names`` up to the log's head, then ends (or sooner,
    when the rebuild is over or gone)."""
    from touchlog.projections.engine.batching import batching

    _in_steps(settings, url, False, batching().events, parent,
              lambda projector: _one_batch(projector, names) > 0 and not stop.is_set())


def _in_steps(settings: Settings, url: str, indexed: bool, batch_size: int, parent: int,
              step: Any) -> None:
    """Calls ``step(projector)`` while it returns True and the parent lives: one batch per
    step, so that a helper whose parent died ends within one batch. It may fail for any
    reason without harm: every batch it applies is one exactly-once transaction, and the
    parent applies whatever is left."""
    from touchlog.projections.engine.reporting_db import ReportingDB
    from touchlog.projections.engine.runner import Projector

    try:
        log = TouchpointLog(settings, create=False)
        projector = Projector(log, ReportingDB(url, create=indexed), batch_size=batch_size)
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
