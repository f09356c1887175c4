"""When Python's cyclic garbage collector does a full collection: on a
schedule, not in the middle of routing.

CPython collects its oldest generation whenever the long-lived objects have
grown by a quarter since the last full collection. A full collection walks
every tracked object, and a server holding thousands of connections holds
hundreds of thousands of them: measured with 2,000 connected agents, each
full collection stopped the event loop for 180-320 ms, in the middle of the
load, and routing's p99 offer latency was those pauses. Under steady churn
(chats that live for seconds) that happens every few seconds.

:class:`CollectorSchedule` turns the automatic full collection off (the young
generations are still collected as usual: they are small and most cyclic
garbage dies there) and does a full collection every ``interval`` seconds
instead, logging what it took. Cyclic garbage among old objects (a connection
that lived for an hour and then closed) waits at most ``interval`` for it.
Only ``switchboard serve`` installs it; library users and tests keep Python's
defaults.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time

import structlog

log = structlog.get_logger(__name__)

#: A threshold the oldest generation's counter never reaches.
NEVER = 2**31 - 1


class CollectorSchedule:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.collections = 0
        self.last_pause = 0.0
        self._saved: tuple[int, int, int] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Take over full collections (a no-op with ``interval`` 0)."""
        if self.interval <= 0 or self._saved is not None:
            return
        self._saved = gc.get_threshold()
        young, middle, _ = self._saved
        gc.set_threshold(young, middle, NEVER)
        # What exists now (modules, classes, settings) lives as long as the
        # process: keep the scheduled collections from walking it every time.
        gc.freeze()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="gc-schedule")

    def collect(self) -> int:
        """One full collection now; the number of unreachable objects found."""
        started = time.perf_counter()
        found = gc.collect()
        self.last_pause = time.perf_counter() - started
        self.collections += 1
        log.info(
            "gc_full_collection",
            unreachable=found,
            pause_ms=round(self.last_pause * 1000, 1),
            tracked=len(gc.get_objects()),
        )
        return found

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.collect()

    async def stop(self) -> None:
        """Give full collections back to Python."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._saved is not None:
            gc.unfreeze()
            gc.set_threshold(*self._saved)
            self._saved = None
