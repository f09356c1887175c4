"""A small asyncio client of the Switchboard protocol, for bots, tools and tests.

    async with await Client.connect("ws://127.0.0.1:8080/ws", encoding="msgpack") as c:
        await c.login_key("sbk_...")
        created = await c.request(StartChat(id=0, queue="sales", text="Hi"))
        push = await c.next_push("interaction")

Requests get their ``id`` filled in; :meth:`Client.request` returns the reply
or raises :class:`ServerError`. Pushes are queued in order; ``last_seq`` is
kept for :meth:`Client.resume`.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, TypeVar

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State
from websockets.typing import Origin, Subprotocol

from protocol.auth import Login, LoginKey, Resume, Welcome
from protocol.base import Push, Request, tag_of
from protocol.codec import JSON, MSGPACK, Codec
from protocol.common import Error

R = TypeVar("R", bound=Request)


class ServerError(Exception):
    """The server answered a request with an ``error`` frame."""

    def __init__(self, frame: Error) -> None:
        super().__init__(f"{frame.code}: {frame.message}")
        self.frame = frame
        self.code = str(frame.code)


class ClientBase:
    """What any client of the protocol does with the frames it gets, and its
    logins; subclasses carry the frames (:class:`Client` over websockets, the
    load tester's lean client over a raw asyncio protocol)."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.pushes: asyncio.Queue[Push] = asyncio.Queue()
        #: Error frames that named no request (malformed input).
        self.orphan_errors: asyncio.Queue[Error] = asyncio.Queue()
        self.last_seq = 0
        self.welcome: Welcome | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int | str, asyncio.Future[Any]] = {}

    def _received(self, frame: Any) -> None:
        """A decoded server frame: a push is queued, a reply answers its request."""
        if isinstance(frame, Push):
            self.last_seq = frame.seq
            self.pushes.put_nowait(frame)
            return
        future = self._waiting.pop(frame.id, None) if frame.id is not None else None
        if future is not None and not future.done():
            future.set_result(frame)
        elif isinstance(frame, Error):
            self.orphan_errors.put_nowait(frame)

    def _lost(self) -> None:
        """The connection is gone: every request still waiting fails."""
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("connection closed"))
        self._waiting.clear()

    async def request(self, frame: Request, timeout: float = 10.0) -> Any:
        """Send ``frame`` and return its reply: each connection kind sends its own way."""
        raise NotImplementedError

    async def login(self, username: str, password: str) -> Welcome:
        self.welcome = await self.request(Login(id=0, username=username, password=password))
        return self.welcome

    async def login_key(self, api_key: str, last_seq: int | None = None) -> Welcome:
        self.welcome = await self.request(LoginKey(id=0, api_key=api_key, last_seq=last_seq))
        return self.welcome

    async def resume(self, token: str, last_seq: int = 0) -> Welcome:
        self.welcome = await self.request(Resume(id=0, token=token, last_seq=last_seq))
        return self.welcome


class Client(ClientBase):
    def __init__(self, ws: ClientConnection, codec: Codec) -> None:
        super().__init__(codec)
        self.ws = ws
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(
        cls,
        url: str,
        encoding: str = "json",
        origin: str | None = None,
        subprotocol: bool = True,
        **kwargs: Any,
    ) -> Client:
        codec = MSGPACK if encoding == "msgpack" else JSON
        protocols = [Subprotocol(codec.subprotocol)] if subprotocol else None
        ws = await connect(
            url,
            subprotocols=protocols,
            origin=Origin(origin) if origin else None,
            compression=None,
            **kwargs,
        )
        return cls(ws, codec)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self.ws.state is not State.CLOSED:
            await self.ws.close()
        self._reader.cancel()

    # ---------------------------------------------------------------- traffic

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                self._received(self.codec.decode_server(data))
        except ConnectionClosed:
            pass
        finally:
            self._lost()

    async def send_raw(self, data: bytes | str) -> None:
        await self.ws.send(data)

    async def request(self, frame: Request, timeout: float = 10.0) -> Any:
        """Send ``frame`` with a fresh id; the reply, or :class:`ServerError`."""
        frame = msgspec.structs.replace(frame, id=next(self._ids))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[frame.id] = future
        data = self.codec.encode(frame)
        await self.ws.send(data.decode() if self.codec.text else data)
        reply = await asyncio.wait_for(future, timeout)
        if isinstance(reply, Error):
            raise ServerError(reply)
        return reply

    async def next_push(self, kind: str | None = None, timeout: float = 5.0) -> Any:
        """The next push (of tag ``kind``, skipping others) within ``timeout``."""
        async with asyncio.timeout(timeout):
            while True:
                push = await self.pushes.get()
                if kind is None or tag_of(push) == kind:
                    return push

    def drain(self, kind: str | None = None) -> list[Push]:
        """Pushes already received, without waiting (only those of tag ``kind``,
        if given; the others are dropped)."""
        out = []
        while not self.pushes.empty():
            push = self.pushes.get_nowait()
            if kind is None or tag_of(push) == kind:
                out.append(push)
        return out
