"""A websocket connection that hands each message to a callback as it is parsed.

websockets delivers messages through ``recv()``: each one is queued in an
assembler and then picked up by the handler's task when the loop resumes it.
For a relay that is a queue put, a queue get, a coroutine resumption and a
task wake-up per message, a quarter of the event loop's time in the relay
benchmark. Once a client has logged in, Switchboard's handlers need none of
that: every command runs synchronously (see ``server.runtime``), so the
message can be handled right where the frame is parsed.

Once delivering, the connection also reads the frames itself: a data frame
is a header, a mask and a payload, and websockets' general parser (a
generator per frame, a ``Frame`` object, checks for extensions the server
never negotiates) cost another tenth of the relay's loop time. Anything that
is not a plain masked data frame of an allowed size (pings, pongs, close,
reserved bits, an oversized message) goes to websockets byte for byte, so
its protocol handling, errors and close codes are unchanged.

Keepalive is a timer per connection rather than websockets' task per
connection (a coroutine that sleeps, pings and awaits the pong: about 4 % of
the loop with 10,000 agents at 2,000 chats/s). And only a silent connection is
pinged: whatever the peer sends shows it is alive, so a busy agent is never
pinged at all. A connection that has sent nothing for ``ping_interval`` gets a
ping; one that then stays silent for ``ping_timeout`` is closed with 1011, as
websockets' keepalive does.

Order is kept per connection. A command whose handler has to await (a read
from the database, a file write) holds the messages behind it in
:class:`Inbox` until it is done, and reading from the socket pauses while too
many wait, which is the back-pressure the assembler gave before.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import State
from websockets.speedups import apply_mask

from server.transport.framing import payload_length

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
        #: Received bytes not yet making a whole frame (own parsing only).
        self._rbuf = bytearray()
        self._fragments_size = 0
        #: Whether data_received parses frames here (once delivering).
        self._own = False
        self._handed_back = False
        #: ``(begin, end)`` called around the messages of one read, so work
        #: that can wait for the last of them is done once (Runtime.batch_*).
        self.batch_hooks: tuple[Callable[[], None], Callable[[], None]] | None = None
        #: Loop time of the last bytes received, and of the unanswered ping.
        self.heard_at = 0.0
        self._ping_sent: float | None = None
        self._keepalive: asyncio.TimerHandle | None = None

    def deliver_to(self, deliver: Callable[[Message], None]) -> asyncio.Future[None]:
        """Call ``deliver(message)`` for every message from now on, instead of
        queueing it for ``recv()`` (which must not be running).

        Messages already queued (sent right behind the login) are delivered
        first. ``deliver`` must not raise. Returns a future that resolves when
        the connection is lost.
        """
        self.delivery_done = self.loop.create_future()
        self._deliver = deliver
        self._own = self._at_frame_start()
        # The assembler's queue holds frames (possibly fragments) not yet read.
        queued = self.recv_messages.frames.queue
        frames = list(queued)
        queued.clear()
        if self.recv_messages.paused:
            self.recv_messages.paused = False
            self.recv_messages.resume()
        for frame in frames:
            self._message(frame.opcode, frame.fin, frame.data)
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
            self._message(event.opcode, event.fin, event.data)
        else:
            super().process_event(event)

    def _message(self, opcode: Opcode, fin: bool | int, data: bytes) -> None:
        """One data frame: deliver it, or keep it until its message is complete."""
        assert self._deliver is not None
        if opcode is Opcode.CONT:
            if self._fragments is None:
                return  # the protocol rejects a stray continuation before this
            self._fragments.append(data)
            if not fin:
                return
            data = b"".join(self._fragments)
            text, self._fragments = self._fragments_text, None
        elif not fin:
            self._fragments = [data]
            self._fragments_text = opcode is Opcode.TEXT
            return
        else:
            text = opcode is Opcode.TEXT
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

    @property
    def parses_frames(self) -> bool:
        """Whether this connection reads its data frames itself (see above)."""
        return self._own

    def _at_frame_start(self) -> bool:
        """Whether websockets' parser has nothing of a frame in hand: it waits
        in ``at_eof()`` before the next frame, with nothing buffered. Only then
        can the bytes that follow be parsed here. (If websockets changes how
        it waits, this says no and websockets keeps parsing: slower, not wrong.)
        """
        inner: Any = self.protocol.parser
        while getattr(inner, "gi_yieldfrom", None) is not None:
            inner = inner.gi_yieldfrom  # the server's parser wraps the frame parser
        code = getattr(inner, "gi_code", None)
        return (
            not self._handed_back
            and not self.protocol.reader.buffer
            and code is not None
            and code.co_name == "at_eof"
        )

    # --------------------------------------------------------------- keepalive

    def start_keepalive(self) -> None:
        """Called by websockets once the handshake is done (instead of its task)."""
        if self.ping_interval is not None:
            self.heard_at = self.loop.time()
            self._keepalive = self.loop.call_later(self.ping_interval, self._check_alive)

    def _check_alive(self) -> None:
        self._keepalive = None
        if self.protocol.state is not State.OPEN:
            return
        interval, timeout = self.ping_interval, self.ping_timeout
        assert interval is not None
        now = self.loop.time()
        if timeout is not None and self._ping_sent is not None and self.heard_at < self._ping_sent:
            # Nothing since the ping (without a timeout, a silent peer is
            # just pinged again below).
            if now - self._ping_sent >= timeout:
                self._ping_timed_out()
                return
            wait = self._ping_sent + timeout - now
        elif now - self.heard_at < interval:  # heard from lately
            self._ping_sent = None
            wait = self.heard_at + interval - now
        else:
            self.protocol.send_ping(os.urandom(4))
            self.send_data()
            self._ping_sent = now
            wait = timeout if timeout is not None else interval
        self._keepalive = self.loop.call_later(wait, self._check_alive)

    def _ping_timed_out(self) -> None:
        """As websockets' keepalive: fail with 1011, then give the close
        handshake ``close_timeout`` before cutting the socket."""
        self.protocol.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
        with contextlib.suppress(Exception):  # a write error: the socket is going anyway
            self.send_data()
        transport = self.transport
        self.loop.call_later(self.close_timeout or 0, transport.abort)

    # ----------------------------------------------------------------- reading

    def data_received(self, data: bytes) -> None:
        self.heard_at = self.loop.time()
        if not self._own:
            super().data_received(data)  # the handshake, the login, or handed back
            if self._deliver not in (None, _drop) and self._at_frame_start():
                self._own = True  # a frame was cut when delivery began; now it is whole
            return
        buf = self._rbuf
        if buf:
            buf.extend(data)
            view = memoryview(buf)
        else:
            view = memoryview(data)
        end = len(view)
        pos = 0
        hooks = self.batch_hooks
        if hooks is not None:
            hooks[0]()
        try:
            pos = self._parse(view, end)
        finally:
            view.release()
            if hooks is not None:
                hooks[1]()
        if not self._own:
            return  # handed the rest to websockets
        if buf:
            del buf[:pos]  # in place: a big frame arriving in pieces is not copied again
        elif pos < end:
            self._rbuf = bytearray(data[pos:])

    def _parse(self, view: memoryview, end: int) -> int:
        """Take the whole frames in ``view``; where the first incomplete one starts.

        Per frame this is the relay's innermost loop, so the usual frame (a
        whole binary message under 64 KiB) is read and delivered inline; a
        longer one, a fragment, text or a control frame takes the general way."""
        pos = 0
        protocol = self.protocol
        limit = protocol.max_message_size
        is_open = protocol.state is State.OPEN
        while end - pos >= 2:
            b0 = view[pos]
            b1 = view[pos + 1]
            opcode = b0 & 0x0F
            size = b1 & 0x7F
            head = 2
            if size == 126:  # 126 to 65,535 bytes: most chat messages
                if end - pos < 4:
                    break
                size = view[pos + 2] << 8 | view[pos + 3]
                head = 4
            elif size == 127:
                size, head = payload_length(view, pos, end)
                if size < 0:
                    break
            total = head + 4 + size
            if not (
                b0 & 0x70 == 0  # no reserved bits: no extension is ever negotiated
                and b1 & 0x80  # masked, as every client frame must be
                and opcode <= 2  # continuation, text, binary
                and (limit is None or self._fragments_size + size <= limit)
                and is_open
            ):
                if opcode >= 8 and is_open:
                    if end - pos < total:
                        break  # a control frame still arriving
                    # A whole ping, pong or close: websockets answers it.
                    super().data_received(bytes(view[pos : pos + total]))
                    pos += total
                    is_open = protocol.state is State.OPEN  # a close changes it
                    continue
                # Anything else, and all that follows, goes to websockets,
                # which refuses it with the right close code.
                self._own = False
                self._handed_back = True
                self._rbuf = bytearray()
                super().data_received(bytes(view[pos:end]))
                return end
            if end - pos < total:
                break
            payload = apply_mask(
                view[pos + head + 4 : pos + total], view[pos + head : pos + head + 4]
            )
            pos += total
            if b0 == 0x82:  # a whole binary message, the usual case
                self._deliver(payload)  # set: only a delivering connection parses
                continue
            fin = b0 & 0x80
            if opcode == 0:
                self._fragments_size = 0 if fin else self._fragments_size + size
            elif not fin:
                self._fragments_size = size
            self._message(_OPCODES[opcode], fin, payload)
        return pos

    def connection_lost(self, exc: Exception | None) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        super().connection_lost(exc)
        if self._deliver is not None:
            self.stop_delivery()


_DATA = frozenset({Opcode.TEXT, Opcode.BINARY, Opcode.CONT})
_OPCODES = {0: Opcode.CONT, 1: Opcode.TEXT, 2: Opcode.BINARY}


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
        if not self._busy:  # the usual case, without a call to _run
            pending = self._handle(message)
            if pending is not None and not pending.done():
                self._busy = True
                pending.add_done_callback(self._resume)
            return
        self._waiting.append(message)
        if len(self._waiting) > HIGH_WATER and not self._paused:
            self._paused = True
            self._conn.transport.pause_reading()

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
