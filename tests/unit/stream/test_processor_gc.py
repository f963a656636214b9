"""The processor's garbage-collection pacing in a Python worker (``_Collector``)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from vitalwatch.stream.processor import _Collector


class _Node:
    other: _Node | None = None


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # leave the test process's collector as it was


def test_survivors_of_a_task_are_skipped_by_later_collections(unfrozen: None) -> None:
    node = _Node()
    node.other = node  # a cycle: only the cyclic collector can free it
    alive = weakref.ref(node)
    _Collector().task_done()
    del node
    gc.collect()  # what PySpark's daemon runs after every task
    assert alive() is not None
    assert gc.get_freeze_count() > 0


def test_cyclic_garbage_of_a_task_waits_for_the_full_collection(unfrozen: None) -> None:
    collector = _Collector()
    node = _Node()
    node.other = node
    dead = weakref.ref(node)
    del node  # garbage by the end of the task, freeable only by the cyclic collector
    collector.task_done()
    gc.collect()  # the daemon's collection skips it: frozen
    assert dead() is not None
    for _ in range(_Collector.FULL_EVERY - 2):
        collector.task_done()
    assert dead() is not None
    collector.task_done()  # the FULL_EVERY-th task
    assert dead() is None


def test_a_full_collection_every_full_every_tasks_reclaims_frozen_cycles(unfrozen: None) -> None:
    collector = _Collector()
    node = _Node()
    node.other = node
    alive = weakref.ref(node)
    collector.task_done()
    del node  # became garbage after it was frozen
    for _ in range(_Collector.FULL_EVERY - 2):
        collector.task_done()
    assert alive() is not None
    collector.task_done()  # the FULL_EVERY-th task
    assert alive() is None
