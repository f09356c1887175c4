"""A raw websocket client that reads only when told to: a dead or slow peer."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from websockets.client import ClientProtocol
from websockets.frames import Frame
from websockets.protocol import State
from websockets.uri import parse_uri

from server.app import App


class RawClient:
    """Drives websockets' sans-I/O client protocol over a plain socket.

    Unlike a normal client it never answers pings and never reads unless asked,
    so it can play a dead peer or a reader that falls behind.
    """

    def __init__(self, sock: socket.socket, proto: ClientProtocol) -> None:
        self.sock = sock
        self.proto = proto
        self.loop = asyncio.get_running_loop()

    @classmethod
    async def open(cls, port: int, rcvbuf: int | None = None) -> RawClient:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        proto = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}/ws"))
        proto.send_request(proto.connect())
        client = cls(sock, proto)
        await client.flush()
        while proto.state is State.CONNECTING:
            await client.read_some()
        assert proto.state is State.OPEN, proto.handshake_exc
        proto.events_received()
        return client

    async def flush(self) -> None:
        for data in self.proto.data_to_send():
            if data:
                await self.loop.sock_sendall(self.sock, data)

    async def send_text(self, text: str) -> None:
        self.proto.send_text(text.encode())
        await self.flush()

    async def read_some(self) -> bool:
        """Read once from the socket; False at end of stream (or reset)."""
        try:
            data = await self.loop.sock_recv(self.sock, 65536)
        except ConnectionResetError:
            data = b""
        if data:
            self.proto.receive_data(data)
        else:
            self.proto.receive_eof()
        return bool(data)

    async def frames_until_closed(self, timeout: float) -> list[Frame]:
        """Read everything until the server closes (or ``timeout``)."""
        frames: list[Frame] = []
        async with asyncio.timeout(timeout):
            while await self.read_some():
                frames.extend(self.proto.events_received())
        frames.extend(self.proto.events_received())
        return frames

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
async def raw(server: App) -> AsyncIterator[type[RawClient]]:
    opened: list[RawClient] = []

    class Tracked(RawClient):
        @classmethod
        async def open(cls, port: int = 0, rcvbuf: int | None = None) -> RawClient:
            client = await RawClient.open(port or server.port, rcvbuf)
            opened.append(client)
            return client

    yield Tracked
    for c in opened:
        c.close()
