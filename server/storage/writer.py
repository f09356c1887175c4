"""One writer task that turns many small changes into few transactions.

Each awaited aiosqlite call hops to its worker thread and costs about as much
event-loop time as handling a whole websocket message, so writing row by row
caps throughput near 4k rows/s. Instead, changes are queued with
:meth:`BatchWriter.submit`, and the writer commits everything queued so far
in one transaction (``executemany`` per run of the same statement). While a
commit is in flight, new changes gather for the next one: batches grow with
load and latency stays one commit when idle.

Callers wait on the future :meth:`submit` returns before acknowledging
anything, so an acknowledged change is always committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import aiosqlite
import structlog

log = structlog.get_logger(__name__)

#: A change to write: (SQL statement, parameters).
Change = tuple[str, tuple[Any, ...]]


class StorageFailed(Exception):
    """The database refused a batch; the process must stop (see runtime)."""


class BatchWriter:
    def __init__(self, db: aiosqlite.Connection, max_batch: int = 20_000) -> None:
        self._db = db
        self._max_batch = max_batch
        self._pending: list[Change] = []
        self._future: asyncio.Future[None] | None = None
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.on_commit: Callable[[], None] | None = None
        self.failed: StorageFailed | None = None
        self.batches = 0
        self.rows = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sqlite-writer")

    def submit(self, changes: Iterable[Change]) -> asyncio.Future[None]:
        """Queue changes; the future resolves once they are committed."""
        if self._closing:
            raise StorageFailed("storage is closing")
        self._pending.extend(changes)
        if self._future is None:
            self._future = asyncio.get_running_loop().create_future()
            self._wake.set()
        return self._future

    @property
    def idle(self) -> bool:
        return self._future is None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._future is None:
                if self._closing:
                    return
                continue
            future, self._future = self._future, None
            changes, self._pending = self._pending, []
            try:
                await self._commit(changes)
            except Exception as exc:
                log.error("storage_batch_failed", rows=len(changes), error=repr(exc))
                self.failed = StorageFailed(repr(exc))
                future.set_exception(self.failed)
                future.exception()  # mark retrieved: the runtime handles failure itself
                self._closing = True
                if self.on_commit:
                    self.on_commit()
                return
            self.batches += 1
            self.rows += len(changes)
            future.set_result(None)
            if self.on_commit:
                self.on_commit()
            # Also when closing: close()'s wake-up may have merged with the one
            # that started this batch, and nobody else would wake us to return.
            if self._future is not None or self._closing:
                self._wake.set()

    async def _commit(self, changes: list[Change]) -> None:
        db = self._db
        await db.execute("BEGIN IMMEDIATE")
        try:
            i = 0
            while i < len(changes):
                sql = changes[i][0]
                j = i + 1
                while j < len(changes) and changes[j][0] == sql and j - i < self._max_batch:
                    j += 1
                if j - i == 1:
                    await db.execute(sql, changes[i][1])
                else:
                    await db.executemany(sql, [c[1] for c in changes[i:j]])
                i = j
            await db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                await db.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        """Commit what is queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
