"""A socket transport for the load client that knows when data arrived.

The load tester shares the machine's cores with the server it measures. When
an offer reaches an agent's socket while that load process is busy with its
other sockets (thousands of them, at 2,000 chats/s), the offer waits in the
socket buffer until the process gets to it; a latency stamped when the
process reads it includes that wait, which is the load tester's, not the
server's. Here the kernel stamps every segment as it is received
(``SO_TIMESTAMPNS``), and each read reports the stamp, so latencies can be
taken at arrival, as a remote agent's machine would see them.

The stamp of a read is that of the last segment in it (Linux's TCP reports
the last one), so it is never earlier than the arrival of any frame in the
read: a latency taken from it can only be overstated.

asyncio's and uvloop's transports read the socket themselves and drop the
ancillary data, so this is a small transport of its own: ``recvmsg`` when the
loop says the socket is readable, ``send`` at once and a buffer (written when
writable) only when the socket is full. It offers what
:class:`~server.load.wire.LeanClient` uses of a transport: ``write``,
``close``, ``abort``, ``is_closing``; the protocol gets ``connection_made``,
``data_arrived(data, stamp)`` and ``connection_lost``.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import time
from typing import Any, Protocol

#: Linux's ``SO_TIMESTAMPNS`` (``SO_TIMESTAMPNS_OLD``: 35 on x86 and arm);
#: Python's socket module does not name it. None where there is no such option.
SO_TIMESTAMPNS: int | None = getattr(
    socket, "SO_TIMESTAMPNS", 35 if sys.platform == "linux" else None
)
_TIMESPEC = struct.Struct("@qq")  # struct timespec: seconds, nanoseconds
_CMSG_SPACE = socket.CMSG_SPACE(_TIMESPEC.size)
_READ = 65_536  # bytes per read: more than a burst of pushes to one agent


class StampedProtocol(Protocol):
    def connection_made(self, transport: Any) -> None: ...
    def data_arrived(self, data: memoryview, stamp: float) -> None: ...
    def connection_lost(self, exc: Exception | None) -> None: ...


def arrival(ancdata: list[tuple[int, int, bytes]]) -> float | None:
    """The receive time in ``recvmsg``'s ancillary data, if there is one."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanos = _TIMESPEC.unpack_from(data)
            return seconds + nanos * 1e-9
    return None


class StampedTransport:
    # Every read goes into this one buffer (a fresh bytes object of _READ
    # bytes per read, as recvmsg makes, cost a third more CPU in the whole
    # load process; a buffer per connection would be _READ bytes times
    # thousands). Shared, because reads run one at a time on the loop's
    # thread and the protocol copies the data before the next one.
    _in = bytearray(_READ)
    _view = memoryview(_in)

    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol: StampedProtocol
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._out = bytearray()  # what the socket did not take yet
        self._closing = False
        self._done = False
        #: Whether the kernel was asked to stamp this socket's reads.
        self.stamped = False
        #: Reads that came without a stamp, and so got the read time: Linux
        #: turns stamping on a moment after the first socket asks for it.
        self.unstamped = 0
        if SO_TIMESTAMPNS is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                self.stamped = True
            except OSError:
                pass
        protocol.connection_made(self)
        if not self._closing:  # connection_made may have closed it already
            loop.add_reader(self._fd, self._readable)

    @classmethod
    async def connect(cls, protocol: StampedProtocol, host: str, port: int) -> StampedTransport:
        """A connected transport to ``host:port`` (the first address that takes it)."""
        loop = asyncio.get_running_loop()
        error: OSError | None = None
        for family, kind, proto, _, addr in await loop.getaddrinfo(
            host, port, type=socket.SOCK_STREAM
        ):
            sock = socket.socket(family, kind, proto)
            try:
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                await loop.sock_connect(sock, addr)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            except BaseException:
                sock.close()
                raise
            return cls(loop, sock, protocol)
        raise error or OSError(f"no address for {host}:{port}")

    # ------------------------------------------------------------- reading

    def _readable(self) -> None:
        try:
            size, ancdata, _, _ = self._sock.recvmsg_into((self._in,), _CMSG_SPACE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lose(exc)
            return
        if not size:  # the peer closed its side
            self._lose(None)
            return
        # One read per readable event: the loop polls level-triggered, so
        # what is left is read on its next round, after the other sockets.
        # The protocol gets a view of the buffer, valid until the next read.
        stamp = arrival(ancdata)
        if stamp is None:
            self.unstamped += 1
            stamp = time.time()
        try:
            self._protocol.data_arrived(self._view[:size], stamp)
        except Exception as exc:  # as asyncio's transports do: the connection is lost
            self._lose(exc)

    # ------------------------------------------------------------- writing

    def write(self, data: bytes) -> None:
        if self._closing:
            return
        if not self._out:
            try:
                sent = self._sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._lose(exc)
                return
            if sent == len(data):
                return
            data = data[sent:]
            self._loop.add_writer(self._fd, self._writable)
        self._out += data

    def _writable(self) -> None:
        try:
            sent = self._sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lose(exc)
            return
        del self._out[:sent]
        if not self._out:
            self._loop.remove_writer(self._fd)
            if self._closing:
                self._finish(None)

    # ------------------------------------------------------------- closing

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Stop reading; close once what is buffered is written."""
        if self._closing:
            return
        self._closing = True
        self._loop.remove_reader(self._fd)
        if not self._out:
            self._loop.call_soon(self._finish, None)

    def abort(self) -> None:
        self._lose(None)

    def _lose(self, exc: Exception | None) -> None:
        if self._done:
            return
        self._closing = True
        self._out.clear()
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        self._loop.call_soon(self._finish, exc)

    def _finish(self, exc: Exception | None) -> None:
        if self._done:
            return
        self._done = True
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        self._sock.close()
        self._protocol.connection_lost(exc)
