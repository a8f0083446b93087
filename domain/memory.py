"""Garbage collection during bulk work (an import, a catch-up, a rebuild).

Python's cyclic collector runs every few hundred allocations and, as objects survive,
scans the older ones again and again: with a batch's thousands of live events, cards and
rows, that came to about a tenth of an import's CPU. Bulk work runs with the collector off
and the objects that existed before it frozen (never scanned), and collects the young
generations between batches, where a batch's objects are garbage or kept on purpose;
touchlog's objects hold few reference cycles, so memory stays flat.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def bulk_collection() -> Iterator[None]:
    """The collector off while the body runs (nested uses are the outer one's); call
    ``between_batches`` after each batch."""
    if not gc.isenabled():
        yield
        return
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.enable()


def between_batches() -> None:
    """Collects what a finished batch left in reference cycles (inside bulk work)."""
    if not gc.isenabled():
        gc.collect(1)
