"""The full-collection schedule: no automatic full collection while it runs,
one every interval, Python's settings back afterwards."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import pytest

from server.collector import NEVER, CollectorSchedule


@pytest.fixture
def full_collections() -> Iterator[list[int]]:
    """Counts the collections of the oldest generation, by whoever starts them."""
    seen: list[int] = []

    def note(phase: str, info: dict[str, Any]) -> None:
        if phase == "start" and info["generation"] == 2:
            seen.append(1)

    gc.callbacks.append(note)
    try:
        yield seen
    finally:
        gc.callbacks.remove(note)


def churn_old_objects() -> None:
    """What makes CPython collect its oldest generation by itself: many
    objects surviving into it (the long-lived count growing by a quarter)."""
    keep = []
    for _ in range(60):
        keep.append([[i] for i in range(5_000)])  # tracked containers
        gc.collect(1)  # promote them, as a busy server's young collections would
    del keep


async def test_without_the_schedule_python_does_full_collections(
    full_collections: list[int],
) -> None:
    churn_old_objects()
    assert full_collections, "the baseline must show the automatic full collection"


async def test_the_schedule_stops_automatic_full_collections_and_restores(
    full_collections: list[int],
) -> None:
    before = gc.get_threshold()
    schedule = CollectorSchedule(interval=3600)
    schedule.start()
    try:
        assert gc.get_threshold() == (before[0], before[1], NEVER)
        churn_old_objects()
        assert full_collections == []
    finally:
        await schedule.stop()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


async def test_a_full_collection_every_interval_finds_old_cyclic_garbage() -> None:
    schedule = CollectorSchedule(interval=0.2)
    schedule.start()
    try:
        nodes = [Node() for _ in range(100)]
        gc.collect(1)  # they survive a young collection: now in the oldest generation
        del nodes  # cyclic garbage that no young collection looks at
        gc.collect(1)
        assert sum(isinstance(o, Node) for o in gc.get_objects()) == 100
        async with asyncio.timeout(5):
            while schedule.collections < 1:
                await asyncio.sleep(0.01)
        assert schedule.last_pause > 0
        assert not any(isinstance(o, Node) for o in gc.get_objects())
    finally:
        await schedule.stop()


async def test_interval_zero_leaves_python_alone() -> None:
    before = gc.get_threshold()
    schedule = CollectorSchedule(interval=0)
    schedule.start()
    assert gc.get_threshold() == before
    await schedule.stop()
    assert schedule.collections == 0
