"""The load client's stamped transport, against real loopback sockets."""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import time
from typing import Any

import pytest

from server.load.stamped import SO_TIMESTAMPNS, StampedTransport, arrival

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SO_TIMESTAMPNS is Linux's")


class Recorder:
    def __init__(self) -> None:
        self.transport: Any = None
        self.reads: list[tuple[bytes, float, float]] = []  # data, stamp, read at
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_arrived(self, data: memoryview, stamp: float) -> None:
        self.reads.append((bytes(data), stamp, time.time()))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(exc)

    def data(self) -> bytes:
        return b"".join(d for d, _, _ in self.reads)


class Peer:
    """The other end: an asyncio server that keeps its one connection's streams."""

    def __init__(self) -> None:
        self.conn: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.get_running_loop().create_future()
        )

    async def start(self) -> int:
        async def accept(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            self.conn.set_result((r, w))

        self.server = await asyncio.start_server(accept, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.conn.done():
            self.conn.result()[1].close()
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def peer() -> Any:
    p = Peer()
    await p.start()
    yield p
    await p.stop()


async def connect(peer: Peer, rec: Recorder | None = None) -> tuple[Recorder, StampedTransport]:
    rec = rec or Recorder()
    port = peer.server.sockets[0].getsockname()[1]
    transport = await StampedTransport.connect(rec, "127.0.0.1", port)
    assert rec.transport is transport
    await asyncio.wait_for(asyncio.shield(peer.conn), 5)
    return rec, transport


async def test_a_read_is_stamped_when_the_data_arrived_not_when_it_was_read(peer: Peer) -> None:
    """Data that waits in the socket while the loop is busy keeps its arrival
    time: the stamp is before the busy spell's end, the read after it."""
    rec, transport = await connect(peer)
    assert transport.stamped
    _, writer = peer.conn.result()
    # Linux turns stamping on shortly after the first socket asks for it
    # (deferred work): until then reads come without a stamp.
    for _ in range(200):
        writer.write(b"w")
        await writer.drain()
        async with asyncio.timeout(5):
            while not rec.reads:
                await asyncio.sleep(0.005)
        if not transport.unstamped:
            break
        rec.reads.clear()
        transport.unstamped = 0
    assert not transport.unstamped
    rec.reads.clear()
    sent = time.time()
    writer.write(b"offer")
    await writer.drain()
    time.sleep(0.3)  # the loop is busy: nothing is read meanwhile
    busy_until = time.time()
    for _ in range(100):
        if rec.reads:
            break
        await asyncio.sleep(0.01)
    data, stamp, read_at = rec.reads[0]
    assert data == b"offer"
    assert sent - 0.001 <= stamp < sent + 0.1  # at arrival (loopback: at once)
    assert read_at >= busy_until > stamp + 0.25
    transport.abort()
    assert await asyncio.wait_for(rec.lost, 5) is None


async def test_a_write_the_socket_cannot_take_is_buffered_and_close_waits_for_it(
    peer: Peer,
) -> None:
    """32 MB written while the peer reads nothing: the rest is kept and sent as
    the peer reads; close() stops reading at once but closes only once all of
    it is written; every byte arrives, in order."""
    rec, transport = await connect(peer)
    reader, _ = peer.conn.result()
    blob = bytes(range(256)) * (32 * 4096)  # 32 MB: more than the kernel holds
    transport.write(blob[:1000])
    transport.write(blob[1000:])  # behind the first, though the socket is full
    assert transport._out  # the socket did not take it all
    transport.close()
    assert transport.is_closing()
    transport.write(b"after close")  # dropped, as asyncio's transports do
    got = await asyncio.wait_for(reader.read(), 10)  # to EOF: closed after the last byte
    assert got == blob
    assert await asyncio.wait_for(rec.lost, 5) is None


async def test_the_peer_closing_is_connection_lost(peer: Peer) -> None:
    rec, transport = await connect(peer)
    _, writer = peer.conn.result()
    writer.write(b"last words")
    writer.close()
    assert await asyncio.wait_for(rec.lost, 5) is None
    assert rec.data() == b"last words"
    assert transport.is_closing()


async def test_abort_drops_what_is_buffered_and_closes_at_once(peer: Peer) -> None:
    rec, transport = await connect(peer)
    reader, _ = peer.conn.result()
    transport.write(bytes(32 * 1024 * 1024))
    assert transport._out
    transport.abort()
    transport.abort()  # twice: still one connection_lost
    assert await asyncio.wait_for(rec.lost, 5) is None
    got = await asyncio.wait_for(reader.read(), 10)
    assert len(got) < 32 * 1024 * 1024  # the buffered rest was never sent


async def test_a_protocol_that_fails_on_data_loses_the_connection(peer: Peer) -> None:
    """As with asyncio's transports: the error closes the connection and
    reaches connection_lost, rather than leaving it open with frames dropped."""
    broken = ValueError("cannot decode")

    class Failing(Recorder):
        def data_arrived(self, data: memoryview, stamp: float) -> None:
            raise broken

    rec, transport = await connect(peer, Failing())
    _, writer = peer.conn.result()
    writer.write(b"garbage")
    assert await asyncio.wait_for(rec.lost, 5) is broken
    assert transport.is_closing()


async def test_a_refused_connection_raises_and_leaves_no_socket() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    with pytest.raises(ConnectionRefusedError):
        await StampedTransport.connect(Recorder(), "127.0.0.1", port)


def test_arrival_reads_the_timespec_and_ignores_other_messages() -> None:
    stamp = struct.pack("@qq", 1_700_000_000, 250_000_000)
    assert arrival([]) is None
    assert arrival([(socket.SOL_SOCKET, 1, stamp)]) is None  # another option's message
    assert arrival([(socket.SOL_SOCKET, SO_TIMESTAMPNS or 0, stamp)]) == 1_700_000_000.25


@pytest.mark.parametrize(
    "scenario",
    [
        test_a_read_is_stamped_when_the_data_arrived_not_when_it_was_read,
        test_a_write_the_socket_cannot_take_is_buffered_and_close_waits_for_it,
        test_abort_drops_what_is_buffered_and_closes_at_once,
    ],
)
def test_the_same_on_uvloop(scenario: Any) -> None:
    """The load workers run on uvloop, whose add_reader/add_writer are libuv's."""
    uvloop = pytest.importorskip("uvloop")

    async def main() -> None:
        p = Peer()
        await p.start()
        try:
            await scenario(p)
        finally:
            await p.stop()

    uvloop.run(main())
