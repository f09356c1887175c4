"""One writer thread that turns many small changes into few transactions.

Each awaited aiosqlite call hops to its worker thread and costs about as much
event-loop time as handling a whole websocket message, so writing row by row
caps throughput near 4k rows/s. Instead, changes are queued with
:meth:`BatchWriter.submit`, and the writer commits everything queued so far
in one transaction (a multi-row INSERT per run of the same statement). While a
commit is in flight, new changes gather for the next one: batches grow with
load and latency stays one commit when idle.

The writer is a thread of its own with its own connection, not a task
awaiting aiosqlite: when a commit ends it takes the next batch at once, and
tells the event loop with one ``call_soon_threadsafe``. Through aiosqlite each
batch also waited for a busy event loop twice (to resume the writer task, and
to hand it the next batch): measured in the relay benchmark, 5.5 ms of a
12 ms cycle.

Callers wait on the future :meth:`submit` returns before acknowledging
anything, so an acknowledged change is always committed.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterable

import structlog

from server.storage.batches import (
    Change,
    WriterConfig,
    bind_none_cheaply,
    movable_tables,
    write_batch,
)

log = structlog.get_logger(__name__)


class StorageFailed(Exception):
    """The database refused a batch; the process must stop (see runtime)."""


class Resolutions:
    """What both writers (thread and process) keep for the runtime: the
    futures not yet resolved, the commit hook, the failure, the counts."""

    def __init__(self) -> None:
        self._outstanding = 0  # futures not yet resolved (event-loop thread only)
        self.on_commit: Callable[[], None] | None = None
        self.failed: StorageFailed | None = None
        self.batches = 0
        self.rows = 0

    @property
    def idle(self) -> bool:
        """Nothing submitted is waiting to be committed."""
        return self._outstanding == 0

    def _committed(self, future: asyncio.Future[None], rows: int) -> None:
        self.batches += 1
        self.rows += rows
        self._outstanding -= 1
        future.set_result(None)
        if self.on_commit:
            self.on_commit()

    def _fail(self, future: asyncio.Future[None], exc: StorageFailed) -> None:
        self._outstanding -= 1
        future.set_exception(exc)
        future.exception()  # mark retrieved: the runtime handles failure itself


class BatchWriter(Resolutions):
    """Commits submitted changes in batches, on its own thread and connection."""

    def __init__(self, config: WriterConfig) -> None:
        super().__init__()
        self.config = config
        self._cond = threading.Condition()
        # Guarded by _cond: the changes not yet taken and their future.
        self._pending: list[Change] = []
        self._future: asyncio.Future[None] | None = None
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._movable: frozenset[str] | None = None  # writer thread only
        #: Batches the thread finished, for the event loop: (future, rows, error).
        self._done: deque[tuple[asyncio.Future[None] | None, int, BaseException | None]] = deque()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
        self._thread.start()

    def submit(self, changes: Iterable[Change]) -> asyncio.Future[None]:
        """Queue changes; the future resolves once they are committed."""
        if self._closing or self._loop is None:
            raise StorageFailed("storage is closing" if self._closing else "writer not started")
        with self._cond:
            self._pending.extend(changes)
            future = self._future
            if future is None:
                future = self._future = self._loop.create_future()
                self._outstanding += 1
                self._cond.notify()
        return future

    async def ready(self) -> None:
        """The thread reports a connection failure with its first batch."""

    @property
    def queued(self) -> int:
        """Changes submitted that the writer has not taken into a transaction yet."""
        with self._cond:
            return len(self._pending)

    # ------------------------------------------------------- the writer thread

    def _run(self) -> None:
        loop = self._loop
        assert loop is not None
        bind_none_cheaply()
        try:
            conn = sqlite3.connect(self.config.path, isolation_level=None, check_same_thread=False)
            for pragma in self.config.pragmas:
                conn.execute(pragma)
        except Exception as exc:
            self._finished(None, 0, exc)
            return
        try:
            while True:
                with self._cond:
                    while self._future is None and not self._closing:
                        self._cond.wait()
                    if self._future is None:
                        return  # closing, and everything is committed
                    future, self._future = self._future, None
                    changes, self._pending = self._pending, []
                try:
                    self._write(conn, changes)
                except Exception as exc:
                    self._finished(future, len(changes), exc)
                    return
                self._finished(future, len(changes), None)
        finally:
            conn.close()

    def _finished(
        self, future: asyncio.Future[None] | None, rows: int, exc: BaseException | None
    ) -> None:
        self._done.append((future, rows, exc))
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.poll)

    def _write(self, conn: sqlite3.Connection, changes: list[Change]) -> None:
        if self._movable is None:
            self._movable = movable_tables(conn)
        c = self.config
        write_batch(conn, changes, self._movable, c.max_batch, c.snapshots, multi_row=True)

    # ---------------------------------------------- back on the event loop

    def poll(self) -> None:
        """Resolve the batches the thread has committed since the last poll.

        The thread schedules a poll on the loop after each batch, but a busy
        loop runs it only after a whole iteration of socket events (6 ms in
        the relay benchmark, half the batch cycle); the runtime also polls
        after every command, so a commit is noticed within one message.
        """
        done = self._done
        while done:
            future, rows, exc = done.popleft()
            if exc is None:
                assert future is not None
                self._committed(future, rows)
            else:
                self._broken(future, exc, rows)

    def _broken(self, future: asyncio.Future[None] | None, exc: BaseException, rows: int) -> None:
        log.error("storage_batch_failed", rows=rows, error=repr(exc))
        self.failed = StorageFailed(repr(exc))
        self._closing = True
        with self._cond:
            waiting, self._future = self._future, None
            self._pending = []
        for f in (future, waiting):
            if f is not None:
                self._fail(f, self.failed)
        if self.on_commit:
            self.on_commit()

    async def close(self) -> None:
        """Commit what is queued, then stop."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        thread = self._thread
        if thread is not None:
            while thread.is_alive():
                # Poll rather than block the loop: the thread hands its last
                # results back through the loop.
                await asyncio.sleep(0.005)
            await asyncio.sleep(0)  # run the callbacks it scheduled last
