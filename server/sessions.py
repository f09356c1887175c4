"""Logical sessions: who is connected, push numbering, replay and ordering.

A session outlives its websocket connection: a resume attaches a new
connection to the same session, so ``seq`` continues and the pushes the
client missed can be replayed from a bounded ring.

Frames leave in the order they were produced. A frame that depends on a
write still being committed is *held* until that commit; later frames to the
same session queue behind it, so a client never sees an effect before its
cause, and never sees anything that a crash could take back (offers excepted:
see ``Runtime.deliver``).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable, Iterable

import structlog
from websockets.asyncio.connection import Connection
from websockets.protocol import State

from protocol.base import Frame, Push
from protocol.codec import Codec
from protocol.errors import CloseCode
from server.transport.framing import BINARY, TEXT, encode_frames

log = structlog.get_logger(__name__)

Barrier = asyncio.Future[None] | None


class Session:
    """One principal's stream of frames (an agent, a supervisor, a bot, the gateway)."""

    __slots__ = (
        "_corked",
        "_max_buffer",
        "_noted",
        "_on_held",
        "_ring_full",
        "_ring_limit",
        "codec",
        "conn",
        "held",
        "principal",
        "ring",
        "ring_bytes",
        "role",
        "seq",
        "target",
        "watching",
    )

    def __init__(
        self,
        role: str,
        principal: str,
        target: tuple[str, str],
        codec: Codec,
        replay: int,
        max_buffer: int,
        on_held: Callable[[Session, asyncio.Future[None]], None],
        replay_bytes: int = 64 * 1024,
    ) -> None:
        self.role = role
        self.principal = principal
        self.target = target
        self.conn: Connection | None = None
        self.codec = codec
        self.seq = 0
        #: The last pushes, encoded with ``codec``, for replay after a resume.
        #: Their numbers are the last ``len(ring)`` up to :attr:`seq` (every
        #: push is numbered and kept), so only the bytes are kept: no tuple per
        #: push for the cyclic GC to look at, or to hold in memory.
        #: At most ``replay`` pushes and ``replay_bytes`` bytes of them: a busy
        #: agent's 256 pushes are some 60 KB, but 256 chat messages of 4,096
        #: characters would be 1 to 4 MB per session.
        self.ring: deque[bytes] = deque(maxlen=replay)
        self.ring_bytes = 0
        # With no replay (maxlen 0) the ring stays empty: the sentinels make a
        # push skip the drop and go straight to _trim, which zeroes the count.
        self._ring_limit = replay_bytes if replay > 0 else -1
        self._ring_full = replay if replay > 0 else -1  # len(ring) when full
        #: Frames waiting for a commit: (barrier, data, connection or None for
        #: "whichever connection is current").
        self.held: deque[tuple[Barrier, bytes, Connection | None]] = deque()
        self.watching = False
        self._on_held = on_held
        #: The commit this session last told the runtime it waits for.
        self._noted: Barrier = None
        self._max_buffer = max_buffer
        #: Frames to write in one go at :meth:`uncork` (None: write at once).
        self._corked: list[bytes] | None = None

    # ----------------------------------------------------------------- sending

    def push(self, frame: Push, barrier: Barrier = None) -> None:
        """Number ``frame``, keep it for replay and send it (after ``barrier``)."""
        self.seq += 1
        # Numbered in place rather than copied: a frame is encoded at once,
        # and one going to several sessions is numbered again before each.
        frame.seq = self.seq
        data = self.codec.encode(frame)
        # Kept in the ring, within its bounds (inline: once per push).
        ring = self.ring
        if len(ring) == self._ring_full:  # the append drops ring[0]
            self.ring_bytes -= len(ring[0])
        ring.append(data)
        self.ring_bytes += len(data)
        if self.ring_bytes > self._ring_limit:
            self._trim()
        self._emit(data, barrier, None)

    def _trim(self) -> None:
        """Drop the oldest pushes until the ring is within its byte bound (all
        of them, the newest too, if it alone is over: a resume then gets a
        gap, and the client loads afresh)."""
        ring = self.ring
        while ring and self.ring_bytes > self._ring_limit:
            self.ring_bytes -= len(ring.popleft())
        if not ring:
            self.ring_bytes = 0

    def reply(self, frame: Frame, conn: Connection, barrier: Barrier = None) -> None:
        """Answer a request that came on ``conn`` (dropped if ``conn`` is gone)."""
        self._emit(self.codec.encode(frame), barrier, conn)

    def _emit(self, data: bytes, barrier: Barrier, conn: Connection | None) -> None:
        """Write ``data`` now, or hold it behind ``barrier`` (or behind what is
        already held). Only a frame that waits for a commit itself is noted
        with the runtime: one held behind others goes out when they do, and
        the runtime keeps a session it was told of until that commit is done,
        so telling it again about the same one (the acknowledgements of one
        socket read share a commit) is skipped."""
        waits = barrier is not None and not barrier.done()
        if waits or self.held:
            self.held.append((barrier, data, conn))
            if waits and barrier is not self._noted:
                self._noted = barrier
                self._on_held(self, barrier)
        else:
            self._write(data, conn)

    def flush_held(self) -> bool:
        """Send held frames whose commit is done; True when none remain."""
        held = self.held
        ready: list[bytes] = []
        current = self.conn
        while held:
            barrier, data, conn = held[0]
            if barrier is not None and not barrier.done():
                break
            held.popleft()
            if current is not None and (conn is None or conn is current):
                ready.append(data)
        if len(ready) == 1:
            self._write(ready[0], None)
        elif ready:
            self._write_all(ready)
        return not held

    def _write(self, data: bytes, conn: Connection | None) -> None:
        current = self.conn
        if current is None or (conn is not None and conn is not current):
            return  # pushes stay in the ring; a reply to a closed connection is moot
        if self._corked is not None:
            self._corked.append(data)
            return
        self._send(current, (data,))

    def cork(self) -> bool:
        """Gather what would be written at once until :meth:`uncork` (the
        frames of one command that do not wait for its commit); True if it
        was not gathering already."""
        if self._corked is None:
            self._corked = []
            return True
        return False

    def uncork(self) -> None:
        frames, self._corked = self._corked, None
        if frames and self.conn is not None:
            self._send(self.conn, frames)

    def _write_all(self, frames: list[bytes]) -> None:
        """Frames for the current connection, in one socket write.

        A commit releases many frames at once; writing each with broadcast()
        costs a system call per frame, the largest cost in the relay path.
        """
        current = self.conn
        assert current is not None
        self._send(current, frames)

    def _send(self, current: Connection, frames: Iterable[bytes]) -> None:
        """What broadcast() does, minus its per-frame objects: skip a closing
        connection, never raise (a failing connection is going away anyway)."""
        protocol = current.protocol
        if protocol.state is not State.OPEN:
            return
        try:
            if protocol.extensions:  # compression: let websockets frame it
                send = protocol.send_text if self.codec.text else protocol.send_binary
                for data in frames:
                    send(data)
                current.transport.write(b"".join(protocol.data_to_send()))
            else:
                # The server never fragments, so no message is ever half sent.
                pending = protocol.data_to_send()  # normally empty: flushed on receipt
                out = encode_frames(frames, TEXT if self.codec.text else BINARY)
                current.transport.write(b"".join(pending) + out if pending else out)
        except Exception as exc:
            log.warning("write_failed", principal=self.principal, error=repr(exc))
            return
        self._check_buffer(current)

    def _check_buffer(self, current: Connection) -> None:
        transport = current.transport
        if transport is not None and transport.get_write_buffer_size() > self._max_buffer:
            # The peer is not reading: cut it off rather than buffer without bound.
            log.warning("slow_consumer", principal=self.principal, role=self.role)
            self.conn = None
            asyncio.get_running_loop().create_task(
                current.close(CloseCode.SLOW_CONSUMER, "slow consumer")
            )

    # ------------------------------------------------------------------ resume

    def attach(self, conn: Connection, codec: Codec) -> None:
        if codec is not self.codec:
            # Re-encode what a resume may replay into the new connection's encoding.
            old = self.codec
            ring = self.ring
            self.ring = deque(maxlen=ring.maxlen)
            self.ring_bytes = 0
            for data in ring:
                data = codec.encode(old.decode_server(data))
                self.ring.append(data)
                self.ring_bytes += len(data)
            self._trim()
            self.held = deque((b, codec.encode(old.decode_server(d)), c) for b, d, c in self.held)
            self.codec = codec
        self.conn = conn

    def missed_since(self, last_seq: int) -> tuple[list[bytes], bool]:
        """Pushes after ``last_seq`` still held, and whether some were lost."""
        ring = self.ring
        oldest = self.seq - len(ring) + 1  # the number of ring[0]; seq + 1 when empty
        skip = max(0, last_seq + 1 - oldest)
        frames = list(itertools.islice(ring, skip, None))
        gap = last_seq < self.seq and oldest > last_seq + 1
        return frames, gap

    def replay(self, frames: list[bytes]) -> None:
        for data in frames:
            self._emit(data, None, None)
