"""Garbage collection during bulk work (domain/memory.py)."""

from __future__ import annotations

import gc
import weakref

import pytest

from touchlog.domain.memory import between_batches, bulk_collection


class _Node:
    def __init__(self) -> None:
        self.itself = self  # a reference cycle: only the cyclic collector frees it


def test_bulk_work_runs_with_the_collector_off_and_turns_it_back_on() -> None:
    assert gc.isenabled()
    with bulk_collection():
        assert not gc.isenabled()
        with bulk_collection():  # nested: the outer one's
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), bulk_collection():
        raise RuntimeError("a failed batch")
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_the_cycles_a_batch_left_are_collected_between_batches() -> None:
    with bulk_collection():
        node = _Node()
        left = weakref.ref(node)
        del node
        kept = [_Node.__new__(_Node) for _ in range(10_000)]  # would make the collector run
        assert left() is not None and kept
        between_batches()
        assert left() is None
