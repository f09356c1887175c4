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
import re
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import structlog

log = structlog.get_logger(__name__)

#: A change to write: (SQL statement, parameters).
Change = tuple[str, tuple[Any, ...]]


#: The row of an ``INSERT ... VALUES (?, ...)`` statement, at its very end.
_VALUES = re.compile(r"\bVALUES\s*(\((?:\s*\?\s*,)*\s*\?\s*\))\s*$", re.IGNORECASE)


def _write_rows(conn: sqlite3.Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """Rows of one statement, in order.

    A plain ``INSERT ... VALUES (?, ...)`` goes as multi-row INSERTs of up to
    256 rows (sizes are powers of two, so few statements get prepared):
    ``executemany`` releases and retakes the GIL for every row, and each
    retake may wait out the busy event loop thread's switch interval (5 ms).
    Measured here, 500 message rows: 6 ms with an idle loop, 0.7 s with a
    busy one; as multi-row INSERTs, 24 ms.
    """
    m = _VALUES.search(sql)
    if m is None:
        conn.executemany(sql, rows)
        return
    group = "," + m.group(1)
    limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    most = max(1, min(256, limit // m.group(1).count("?")))
    i = 0
    while i < len(rows):
        k = 1 << (min(most, len(rows) - i).bit_length() - 1)
        conn.execute(sql + group * (k - 1), [p for row in rows[i : i + k] for p in row])
        i += k


#: The table a statement writes to.
_TABLE = re.compile(
    r"^\s*(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)\s+(\w+)",
    re.IGNORECASE,
)


def table_of(sql: str) -> str | None:
    m = _TABLE.match(sql)
    return m.group(1).lower() if m else None


def plan(
    changes: list[Change],
    movable: frozenset[str],
    max_run: int,
    snapshots: frozenset[str] = frozenset(),
) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """The batch as runs of one statement each, in an order with the same result.

    Routing interleaves statements (an interaction, a message, an agent's
    status, the interaction again...). Statement by statement, each run would
    be one or two rows, one ``execute`` each, and every ``execute`` releases
    and retakes the GIL, which a busy event loop holds for up to 5 ms. So a
    change joins the latest run of its own statement when nothing written to
    its table since then used another statement. That moves writes to one
    table past writes to *other* tables only, which changes nothing for
    tables without foreign keys or triggers: ``movable`` (the writer works
    them out from the schema). Order within a table is kept.

    ``snapshots`` are statements that set a whole row from their parameters
    alone, keyed by the first (an interaction's record). A chat is saved as
    created, offered and accepted within milliseconds, usually in one batch,
    and on a table with six indexes each save costs. A later snapshot of the
    same row takes the place of the earlier one in the batch, when no other
    statement wrote to that table in between: the row ends as it would have,
    it exists from the same point on (rows referring to it still find it),
    and no reader sees inside a transaction.
    """
    runs: list[tuple[str, list[tuple[Any, ...]]]] = []
    latest: dict[str, tuple[str, list[tuple[Any, ...]]]] = {}
    # Writes to each table by statements other than snapshots, counted so that
    # a snapshot replaces an earlier one only with none of them in between.
    others: dict[str | None, int] = {}
    placed: dict[tuple[str, Any], tuple[list[tuple[Any, ...]], int, int]] = {}
    for sql, params in changes:
        table = table_of(sql)
        snapshot = sql in snapshots
        if snapshot:
            earlier = placed.get((sql, params[0]))
            if earlier is not None and earlier[2] == others.get(table, 0):
                earlier[0][earlier[1]] = params
                continue
        else:
            others[table] = others.get(table, 0) + 1
        if table is not None and table in movable:
            run = latest.get(table)
            if run is None or run[0] != sql or len(run[1]) >= max_run:
                run = (sql, [])
                latest[table] = run
                runs.append(run)
        elif runs and runs[-1][0] == sql and len(runs[-1][1]) < max_run:
            run = runs[-1]
        else:
            run = (sql, [])
            runs.append(run)
        run[1].append(params)
        if snapshot:
            placed[(sql, params[0])] = (run[1], len(run[1]) - 1, others.get(table, 0))
    return runs


def movable_tables(conn: sqlite3.Connection) -> frozenset[str]:
    """Tables with no foreign key either way and no trigger: their writes may
    move past writes to other tables within a transaction."""
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    pinned = {
        t for (t,) in conn.execute("SELECT tbl_name FROM sqlite_master WHERE type = 'trigger'")
    }
    for t in tables:
        refs = {r[2] for r in conn.execute(f"PRAGMA foreign_key_list({t!r})")}
        if refs:
            pinned |= refs | {t}
    return frozenset(t.lower() for t in tables if t not in pinned)


class StorageFailed(Exception):
    """The database refused a batch; the process must stop (see runtime)."""


class BatchWriter:
    """Commits submitted changes in batches, on its own thread and connection."""

    def __init__(
        self,
        path: str,
        pragmas: Iterable[str] = (),
        max_batch: int = 20_000,
        snapshots: Iterable[str] = (),
    ) -> None:
        self._path = path
        self._snapshots = frozenset(snapshots)
        self._pragmas = list(pragmas)
        self._max_batch = max_batch
        self._cond = threading.Condition()
        # Guarded by _cond: the changes not yet taken and their future.
        self._pending: list[Change] = []
        self._future: asyncio.Future[None] | None = None
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._outstanding = 0  # futures not yet resolved (event-loop thread only)
        self._movable: frozenset[str] | None = None  # writer thread only
        #: Batches the thread finished, for the event loop: (future, rows, error).
        self._done: deque[tuple[asyncio.Future[None] | None, int, BaseException | None]] = deque()
        self.on_commit: Callable[[], None] | None = None
        self.failed: StorageFailed | None = None
        self.batches = 0
        self.rows = 0

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

    @property
    def idle(self) -> bool:
        """Nothing submitted is waiting to be committed."""
        return self._outstanding == 0

    @property
    def queued(self) -> int:
        """Changes submitted that the writer has not taken into a transaction yet."""
        with self._cond:
            return len(self._pending)

    # ------------------------------------------------------- the writer thread

    def _run(self) -> None:
        loop = self._loop
        assert loop is not None
        try:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            for pragma in self._pragmas:
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
        """BEGIN, the changes (as runs of one statement, see :func:`plan`), COMMIT."""
        if self._movable is None:
            self._movable = movable_tables(conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, rows in plan(changes, self._movable, self._max_batch, self._snapshots):
                if len(rows) == 1:
                    conn.execute(sql, rows[0])
                else:
                    _write_rows(conn, sql, rows)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

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

    def _committed(self, future: asyncio.Future[None], rows: int) -> None:
        self.batches += 1
        self.rows += rows
        self._outstanding -= 1
        future.set_result(None)
        if self.on_commit:
            self.on_commit()

    def _broken(self, future: asyncio.Future[None] | None, exc: BaseException, rows: int) -> None:
        log.error("storage_batch_failed", rows=rows, error=repr(exc))
        self.failed = StorageFailed(repr(exc))
        self._closing = True
        with self._cond:
            waiting, self._future = self._future, None
            self._pending = []
        for f in (future, waiting):
            if f is not None:
                self._outstanding -= 1
                f.set_exception(self.failed)
                f.exception()  # mark retrieved: the runtime handles failure itself
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
