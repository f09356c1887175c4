"""A websocket connection that hands each message to a callback as it is parsed.

websockets delivers messages through ``recv()``: each one is queued in an
assembler and then picked up by the handler's task when the loop resumes it.
For a relay that is a queue put, a queue get, a coroutine resumption and a
task wake-up per message, a quarter of the event loop's time in the relay
benchmark. Once a client has logged in, Switchboard's handlers need none of
that: every command runs synchronously (see ``server.runtime``), so the
message can be handled right where the frame is parsed.

Order is kept per connection. A command whose handler has to await (a read
from the database, a file write) holds the messages behind it in
:class:`Inbox` until it is done, and reading from the socket pauses while too
many wait, which is the back-pressure the assembler gave before.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import State

Message = bytes | str

#: Reading pauses when this many messages wait behind a command that awaits.
HIGH_WATER = 64
LOW_WATER = 16


class DirectConnection(ServerConnection):
    """``ServerConnection`` plus :meth:`deliver_to`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deliver: Callable[[Message], None] | None = None
        self._fragments: list[bytes] | None = None
        self._fragments_text = False
        #: Resolved when the connection is lost (or :meth:`stop_delivery`).
        self.delivery_done: asyncio.Future[None] | None = None
        #: Why delivery stopped, when the connection is to be closed: (code, reason).
        self.stop_reason: tuple[int, str] | None = None

    def deliver_to(self, deliver: Callable[[Message], None]) -> asyncio.Future[None]:
        """Call ``deliver(message)`` for every message from now on, instead of
        queueing it for ``recv()`` (which must not be running).

        Messages already queued (sent right behind the login) are delivered
        first. ``deliver`` must not raise. Returns a future that resolves when
        the connection is lost.
        """
        self.delivery_done = self.loop.create_future()
        self._deliver = deliver
        # The assembler's queue holds frames (possibly fragments) not yet read.
        queued = self.recv_messages.frames.queue
        frames = list(queued)
        queued.clear()
        if self.recv_messages.paused:
            self.recv_messages.paused = False
            self.recv_messages.resume()
        for frame in frames:
            self._take(frame)
        if self.protocol.state is State.CLOSED:
            self.stop_delivery()
        return self.delivery_done

    def stop_delivery(self, code: int | None = None, reason: str = "") -> None:
        """Drop any further messages and resolve :attr:`delivery_done`; with
        ``code``, the handler is to close the connection with it."""
        self._deliver = _drop
        if code is not None and self.stop_reason is None:
            self.stop_reason = (code, reason)
        if self.delivery_done is not None and not self.delivery_done.done():
            self.delivery_done.set_result(None)

    def process_event(self, event: Any) -> None:
        if self._deliver is not None and isinstance(event, Frame) and event.opcode in _DATA:
            self._take(event)
        else:
            super().process_event(event)

    def _take(self, frame: Frame) -> None:
        assert self._deliver is not None
        if frame.opcode is Opcode.CONT:
            if self._fragments is None:
                return  # the protocol rejects a stray continuation before this
            self._fragments.append(frame.data)
            if not frame.fin:
                return
            data = b"".join(self._fragments)
            text, self._fragments = self._fragments_text, None
        elif not frame.fin:
            self._fragments = [frame.data]
            self._fragments_text = frame.opcode is Opcode.TEXT
            return
        else:
            data = frame.data
            text = frame.opcode is Opcode.TEXT
        if text:
            try:
                message: Message = data.decode()
            except UnicodeDecodeError:
                # As websockets does: invalid UTF-8 in a text message ends the connection.
                self.stop_delivery(1007, "invalid UTF-8")
                return
        else:
            message = bytes(data)
        self._deliver(message)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self._deliver is not None:
            self.stop_delivery()


_DATA = frozenset({Opcode.TEXT, Opcode.BINARY, Opcode.CONT})


def _drop(message: Message) -> None:
    pass


class Inbox:
    """Feeds one connection's messages to ``handle`` in order.

    ``handle`` returns None when it is done with a message, or a future when
    it goes on asynchronously; later messages wait for that future.
    """

    __slots__ = ("_busy", "_conn", "_handle", "_paused", "_waiting")

    def __init__(
        self, conn: DirectConnection, handle: Callable[[Message], asyncio.Future[Any] | None]
    ) -> None:
        self._conn = conn
        self._handle = handle
        self._busy = False
        self._paused = False
        self._waiting: deque[Message] = deque()

    def feed(self, message: Message) -> None:
        if self._busy:
            self._waiting.append(message)
            if len(self._waiting) > HIGH_WATER and not self._paused:
                self._paused = True
                self._conn.transport.pause_reading()
            return
        self._run(message)

    def _run(self, message: Message) -> None:
        pending = self._handle(message)
        if pending is not None and not pending.done():
            self._busy = True
            pending.add_done_callback(self._resume)

    def _resume(self, _: asyncio.Future[Any]) -> None:
        self._busy = False
        waiting = self._waiting
        while waiting and not self._busy:
            self._run(waiting.popleft())
        if self._paused and len(waiting) <= LOW_WATER:
            self._paused = False
            transport = self._conn.transport
            if not transport.is_closing():
                transport.resume_reading()
