"""A lean websocket client of the protocol for the load tester.

``switchboard load`` holds thousands of agent connections on the same two
cores as the server it measures. :class:`protocol.client.Client` (websockets'
asyncio connection: a reader task per connection, its frame parser and
keepalive task in Python) made the load processes use about a core at 500
chats/s with 10,000 agents, and its delays counted as the server's latency.

This client is an :class:`asyncio.Protocol`: frames are parsed in
``data_received`` and dispatched at once (replies to their futures, pushes to
:attr:`pushes`), with no task, no keepalive of its own (it answers the
server's pings) and frames sent with a zero mask key, whose masking is a copy.
It offers what the load worker uses of :class:`~protocol.client.Client`:
``request``, ``pushes``, ``login``, ``login_key``, ``last_seq``, ``close``.
Plain ``ws://`` only: the load tester targets loopback by default.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import msgspec

from protocol.base import Push, Request
from protocol.client import ClientBase, ServerError
from protocol.codec import JSON, MSGPACK, Codec
from protocol.common import Error
from server.load.stamped import StampedTransport
from server.transport.framing import payload_length

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_HEAD = 16_384  # bytes of handshake response before giving up

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


class HandshakeFailed(ConnectionError):
    """The server did not switch protocols as asked."""


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One final client frame, masked with the key 0 (which leaves it as is)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + b"\0\0\0\0" + payload


def parse_frames(buf: bytearray) -> list[tuple[bool, int, bytes]]:
    """Cut the complete server frames (unmasked) off the front of ``buf``:
    ``(fin, opcode, payload)`` each; a partial frame stays in ``buf``."""
    out = []
    pos = 0
    end = len(buf)
    while end - pos >= 2:
        b0, b1 = buf[pos], buf[pos + 1]
        n, head = payload_length(buf, pos, end)
        if n < 0:
            break
        if b1 & 0x80:
            raise ConnectionError("the server sent a masked frame")
        if end - pos < head + n:
            break
        out.append((bool(b0 & 0x80), b0 & 0x0F, bytes(buf[pos + head : pos + head + n])))
        pos += head + n
    if pos:
        del buf[:pos]
    return out


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError("no reply in time"))


class LeanClient(ClientBase, asyncio.Protocol):
    def __init__(self, codec: Codec) -> None:
        super().__init__(codec)
        #: When each push in :attr:`pushes` arrived (read from the socket, or
        #: the kernel's receive time when stamped), in the same order:
        #: latencies measured at arrival leave out how long the load process
        #: takes to get to the push.
        self.arrivals: deque[float] = deque()
        #: When set, pushes go to ``on_push(push, arrived)`` as they are read,
        #: instead of to :attr:`pushes`: no queue and no task woken per push
        #: (thousands of agents take tens of thousands of pushes a second).
        self.on_push: Callable[[Any, float], None] | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._transport: asyncio.Transport | None = None
        self._opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._request_head = b""
        self._accept = b""
        self._buf = bytearray()
        self._fragments: list[bytes] = []
        self._upgraded = False
        self._close_sent = False
        self._now = 0.0  # when the data being parsed arrived
        self._data_op = OP_TEXT if codec.text else OP_BINARY

    @classmethod
    async def connect(
        cls, url: str, encoding: str = "msgpack", open_timeout: float = 30, stamped: bool = False
    ) -> LeanClient:
        """Connect and upgrade. ``stamped``: over a :class:`StampedTransport`,
        so a push's arrival is the kernel's receive time, not the time this
        process got to it."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "ws" or not parts.hostname:
            raise ValueError(f"the lean client speaks ws:// only, not {url!r}")
        port = parts.port or 80
        client = cls(MSGPACK if encoding == "msgpack" else JSON)
        key = base64.b64encode(os.urandom(16))
        client._accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        host = parts.netloc.encode()
        client._request_head = (
            b"GET " + (parts.path or "/").encode() + b" HTTP/1.1\r\nHost: " + host
            + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key
            + b"\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: "
            + client.codec.subprotocol.encode() + b"\r\n\r\n"
        )  # fmt: skip
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(open_timeout):
                if stamped:
                    await StampedTransport.connect(client, parts.hostname, port)
                else:
                    await loop.create_connection(lambda: client, parts.hostname, port)
                await client._opened
        except BaseException:
            if client._transport is not None:  # connected, but no upgrade in time
                client._transport.abort()
            raise
        return client

    # ------------------------------------------------------------ protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance.
        self._transport = cast(asyncio.Transport, transport)
        transport.write(self._request_head)

    def data_received(self, data: bytes) -> None:
        self.data_arrived(data, time.time())

    def data_arrived(self, data: bytes | memoryview, stamp: float) -> None:
        """``data`` as it arrived at ``stamp`` (a :class:`StampedTransport`'s
        kernel receive time; :meth:`data_received`: now). Copied at once: a
        view is valid only until the transport's next read."""
        self._buf += data
        self._now = stamp
        try:
            if not self._upgraded and not self._handshake():
                return
            for fin, opcode, payload in parse_frames(self._buf):
                self._frame(fin, opcode, payload)
        except ConnectionError as exc:
            self._abort(exc)

    def _handshake(self) -> bool:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > _MAX_HEAD:
                raise HandshakeFailed("handshake response too long")
            return False
        lines = bytes(self._buf[:end]).split(b"\r\n")
        del self._buf[: end + 4]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if lines[0].split(b" ", 2)[1:2] != [b"101"]:
            raise HandshakeFailed(f"no upgrade: {lines[0].decode(errors='replace')}")
        if headers.get(b"sec-websocket-accept") != self._accept:
            raise HandshakeFailed("wrong Sec-WebSocket-Accept")
        if headers.get(b"sec-websocket-protocol") != self.codec.subprotocol.encode():
            raise HandshakeFailed("the server did not take the subprotocol")
        self._upgraded = True
        if not self._opened.done():
            self._opened.set_result(None)
        return True

    def _frame(self, fin: bool, opcode: int, payload: bytes) -> None:
        if opcode == OP_PING:
            self._write(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            if self._transport is not None and not self._transport.is_closing():
                if not self._close_sent:  # echo the server's close, once
                    self._close_sent = True
                    self._write(OP_CLOSE, payload[:2])
                self._transport.close()
        elif opcode in (OP_TEXT, OP_BINARY, OP_CONT):
            if not fin or self._fragments:
                self._fragments.append(payload)
                if not fin:
                    return
                payload = b"".join(self._fragments)
                self._fragments = []
            frame = self.codec.decode_server(payload)
            if isinstance(frame, Push):
                if self.on_push is not None:
                    self.last_seq = frame.seq
                    self.on_push(frame, self._now)
                    return
                self.arrivals.append(self._now)
            self._received(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        error = exc or ConnectionError("connection closed")
        if not self._opened.done():
            self._opened.set_exception(error)
        self._lost()
        if not self.closed.done():
            self.closed.set_result(None)

    def _abort(self, exc: Exception) -> None:
        if not self._opened.done():
            self._opened.set_exception(exc)
        if self._transport is not None:
            self._transport.abort()

    def _write(self, opcode: int, payload: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionError("connection closed")
        self._transport.write(client_frame(opcode, payload))

    # ------------------------------------------------------------- the API

    async def request(self, frame: Request, timeout: float = 10.0) -> Any:
        """Send ``frame`` with a fresh id; the reply, or :class:`ServerError`."""
        frame = msgspec.structs.replace(frame, id=next(self._ids))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[frame.id] = future
        # A timer that fails the future: cheaper than asyncio.timeout's
        # cancellation machinery, once per request of thousands of agents.
        timer = asyncio.get_running_loop().call_later(timeout, _expire, future)
        try:
            self._write(self._data_op, self.codec.encode(frame))
            reply = await future
        finally:
            timer.cancel()
            self._waiting.pop(frame.id, None)
        if isinstance(reply, Error):
            raise ServerError(reply)
        return reply

    async def close(self, timeout: float = 2.0) -> None:
        """Close with 1000 and wait (up to ``timeout``) for the server's close."""
        if self._transport is not None and not self._transport.is_closing():
            self._close_sent = True
            self._write(OP_CLOSE, struct.pack("!H", 1000))
            try:
                async with asyncio.timeout(timeout):
                    await asyncio.shield(self.closed)
            except TimeoutError:
                pass
        if self._transport is not None:
            self._transport.abort()
