"""The batch writer as a process of its own.

The writer thread shares the GIL with the event loop: each of its
``execute`` calls gives the GIL up around SQLite and must get it back from a
busy loop, which lets go only every switch interval (5 ms). With 10,000
agents at 2,000 chats/s that put tens of milliseconds into every commit,
hence into every acknowledgement. A process has its own interpreter: the loop
thread only encodes each batch (MessagePack, in C) and writes it to a pipe.

Same interface and guarantees as :class:`server.storage.writer.BatchWriter`:
:meth:`submit` returns a future resolved once the changes are committed,
the submits of one loop iteration are one batch, batches resolve in order,
and a failed transaction fails its futures and every later one.
The protocol and the child's side are in :mod:`server.storage.writer_child`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
import structlog

from server.storage.batches import Change, WriterConfig
from server.storage.writer import Resolutions, StorageFailed
from server.storage.writer_child import cut, frame

log = structlog.get_logger(__name__)

_ROOT = Path(__file__).resolve().parents[2]  # the directory holding the server package
_POLL_EVERY = 0.0002  # seconds between the runtime's reads of the pipe (poll)
#: A batch waiting this long is sent at the next poll rather than at the end
#: of the loop's iteration (see poll). Longer than a busy relay's iteration
#: (a few ms), so that batching there stays as it is: sending every 2 ms
#: tripled the socket writes per message in bench/hotpath.py.
_SEND_AFTER = 0.010
_F_SETPIPE_SZ = 1031  # Linux: room for a burst of batches while the child commits


class ProcessWriter(Resolutions):
    """Commits submitted changes in batches, in a child process."""

    def __init__(self, config: WriterConfig) -> None:
        super().__init__()
        self.config = config
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._wfd = -1
        self._rfd = -1
        self._ready: asyncio.Future[None] | None = None
        # The batch gathering in this loop iteration, and its future.
        self._pending: list[Change] = []
        self._future: asyncio.Future[None] | None = None
        # Sent and not yet committed, oldest first: (batch id, future, rows).
        self._inflight: deque[tuple[int, asyncio.Future[None], int]] = deque()
        self._sql_ids: dict[str, int] = {}
        self._batch_id = 0
        self._out = bytearray()
        self._waiting_to_write = False
        self._in = bytearray()
        self._last_read = 0.0
        self._pending_since = 0.0
        self._closing = False
        self._eof = False  # the child's end of the pipe has closed

    # ----------------------------------------------------------- lifecycle

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._ready = self._loop.create_future()
        to_child, from_parent = os.pipe()[::-1]
        from_child, to_parent = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
        try:
            self._proc = subprocess.Popen(
                [
                    sys.executable, "-m", "server.storage.writer_child",
                    str(from_parent), str(to_parent), json.dumps(self.config.to_json()),
                ],
                pass_fds=(from_parent, to_parent),
                env=env,
            )  # fmt: skip
        finally:
            os.close(from_parent)
            os.close(to_parent)
        self._wfd, self._rfd = to_child, from_child
        os.set_blocking(self._wfd, False)
        os.set_blocking(self._rfd, False)
        with contextlib.suppress(OSError):
            import fcntl

            fcntl.fcntl(self._wfd, _F_SETPIPE_SZ, 1 << 20)
        self._loop.add_reader(self._rfd, self._read)

    async def ready(self, timeout: float = 30.0) -> None:
        """Wait until the child has opened the database."""
        assert self._ready is not None
        async with asyncio.timeout(timeout):
            await self._ready

    async def close(self) -> None:
        """Commit what is queued, then stop the child."""
        if self._proc is None:
            return
        self._send()
        self._closing = True
        deadline = time.monotonic() + 30
        while (self._inflight or self._out) and self.failed is None:
            if self._proc.poll() is not None or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.002)
        self._read()
        os.close(self._wfd)  # end of input: the child commits what it has and exits
        self._wfd = -1
        while self._proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._read()
        if self._inflight and self.failed is None:
            self._broken(None, StorageFailed("the writer process stopped before committing"))
        assert self._loop is not None
        self._loop.remove_reader(self._rfd)
        os.close(self._rfd)
        self._proc = None

    # ------------------------------------------------------------ submitting

    def submit(self, changes: Iterable[Change]) -> asyncio.Future[None]:
        """Queue changes; the future resolves once they are committed."""
        if self._closing or self._loop is None:
            raise StorageFailed("storage is closing" if self._closing else "writer not started")
        self._pending.extend(changes)
        future = self._future
        if future is None:
            self._pending_since = time.monotonic()
            future = self._future = self._loop.create_future()
            self._outstanding += 1
            self._loop.call_soon(self._send)
        return future

    @property
    def queued(self) -> int:
        """Changes submitted that have not been sent to the writer process yet."""
        return len(self._pending)

    def _send(self) -> None:
        future, self._future = self._future, None
        changes, self._pending = self._pending, []
        if future is None:
            return
        if self.failed is not None:
            self._fail(future, self.failed)
            return
        self._batch_id += 1
        ids = self._sql_ids
        new: list[str] = []
        items = []
        for sql, params in changes:
            sql_id = ids.get(sql)
            if sql_id is None:
                sql_id = ids[sql] = len(ids)
                new.append(sql)
            items.append((sql_id, params))
        try:
            batch = frame([1, self._batch_id, items], self._encoder)
        except (TypeError, msgspec.EncodeError) as exc:  # a value SQLite could not bind either
            for sql in new:
                del ids[sql]
            self._broken(future, exc)
            return
        for sql in new:
            self._out += frame([0, ids[sql], sql], self._encoder)
        self._out += batch
        self._inflight.append((self._batch_id, future, len(changes)))
        self._flush()

    def _flush(self) -> None:
        if self._wfd < 0:
            return
        try:
            written = os.write(self._wfd, self._out) if self._out else 0
        except BlockingIOError:
            written = 0
        except OSError as exc:  # the child is gone
            self._broken(None, exc)
            return
        del self._out[:written]
        assert self._loop is not None
        if self._out and not self._waiting_to_write:
            self._loop.add_writer(self._wfd, self._flush)
            self._waiting_to_write = True
        elif not self._out and self._waiting_to_write:
            self._loop.remove_writer(self._wfd)
            self._waiting_to_write = False

    # -------------------------------------------------------- what comes back

    def poll(self) -> None:
        """Read what the child has committed, at most every 0.2 ms, and send
        a batch that has waited 10 ms.

        The loop reads the pipe when it polls its sockets, after a whole
        iteration of socket events; the runtime also calls this after every
        command, so frames held behind a commit go out within about one
        message of it (as with the thread's results queue).

        A batch is sent by a ``call_soon`` callback, which runs only after the
        loop's socket events. With 10,000 agents at 2,000 chats/s those took
        from tens to hundreds of milliseconds (libuv polls again, up to 48
        times, while 1,024 sockets at once are ready; timers were seen firing
        up to 0.9 s late), and every command's changes waited for the end of
        it. Sent from here once it has waited 10 ms, the batch is committed
        while the loop goes on."""
        now = time.monotonic()
        if self._future is not None and now - self._pending_since >= _SEND_AFTER:
            self._send()
        if now - self._last_read >= _POLL_EVERY:
            self._last_read = now
            self._read()

    def _read(self) -> None:
        if self._rfd < 0 or self._eof:
            return
        while True:
            try:
                data = os.read(self._rfd, 1 << 16)
            except BlockingIOError:
                break
            except OSError as exc:
                self._broken(None, exc)
                return
            if not data:
                self._eof = True
                self._gone()
                break
            self._in += data
        for f in cut(self._in, self._decoder):
            if f[0] == 1:
                self._committed_through(f[1])
            elif f[0] == 0:
                if self._ready is not None and not self._ready.done():
                    self._ready.set_result(None)
            else:
                self._broken(None, StorageFailed(f"batch {f[1]} failed: {f[2]}"))

    def _committed_through(self, batch_id: int) -> None:
        while self._inflight and self._inflight[0][0] <= batch_id:
            _, future, rows = self._inflight.popleft()
            self._committed(future, rows)

    def _gone(self) -> None:
        """The child's end of the pipe closed."""
        assert self._loop is not None
        self._loop.remove_reader(self._rfd)
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(StorageFailed("the writer process did not start"))
        if self._inflight or self._future is not None or not self._closing:
            self._broken(None, StorageFailed("the writer process exited"))

    def _broken(self, future: asyncio.Future[None] | None, exc: BaseException) -> None:
        if self.failed is None:
            log.error("storage_batch_failed", error=repr(exc))
            self.failed = exc if isinstance(exc, StorageFailed) else StorageFailed(repr(exc))
        self._closing = True
        waiting = [f for _, f, _ in self._inflight]
        self._inflight.clear()
        if self._future is not None:
            waiting.append(self._future)
            self._future = None
            self._pending = []
        if future is not None:
            waiting.insert(0, future)
        for f in waiting:
            self._fail(f, self.failed)
        if self.on_commit:
            self.on_commit()
