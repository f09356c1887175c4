"""A small library for chat sources (bots): web chat, Telegram, WhatsApp bridges.

A bot speaks for its customers: it starts a chat for each, sends what they
write, and hears what the agent answers. The library keeps the connection
up: it reconnects with backoff, continues its session (missed pushes are
replayed) and resends messages that were not acknowledged, with their
original ``client_id`` so that the server stores each exactly once.

    bot = Bot("ws://127.0.0.1:8080/ws", "sbk_...")
    await bot.connect()
    chat = await bot.start_chat("support", Customer(name="Dana"), text="Hi!")
    await bot.say(chat.id, "Is anyone there?")
    async for event in bot.events():
        ...  # NewMessage (agent wrote), InteractionChanged (assigned, ended...)
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import structlog
from websockets.exceptions import ConnectionClosed

from protocol.base import Push
from protocol.chats import MessageSent, MessageView, SendFile, SendMessage
from protocol.client import Client, ServerError
from protocol.routing import End
from protocol.sources import Created, StartChat
from protocol.views import Customer, InteractionView

log = structlog.get_logger(__name__)


class Bot:
    def __init__(
        self,
        url: str,
        api_key: str,
        encoding: str = "msgpack",
        max_backoff: float = 10.0,
    ) -> None:
        self.url = url
        self.api_key = api_key
        self.encoding = encoding
        self.max_backoff = max_backoff
        self.client: Client | None = None
        self._events: asyncio.Queue[Push] = asyncio.Queue()
        self._last_seq: int | None = None
        self._pump: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closing = False

    # ------------------------------------------------------------- connection

    async def connect(self) -> None:
        """Connect and log in (continuing the session after the first time)."""
        client = await Client.connect(self.url, encoding=self.encoding)
        welcome = await client.login_key(self.api_key, last_seq=self._last_seq)
        self.client = client
        if welcome.replay_gap:
            log.warning("bot_replay_gap", last_seq=self._last_seq)
        self._ready.set()
        if self._pump is None:
            self._pump = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        """Forward pushes to :meth:`events`; reconnect when the connection drops."""
        backoff = 0.5
        while not self._closing:
            client = self.client
            assert client is not None
            reader = asyncio.ensure_future(client.ws.wait_closed())
            while not reader.done():
                getter = asyncio.ensure_future(client.pushes.get())
                done, _ = await asyncio.wait({getter, reader}, return_when="FIRST_COMPLETED")
                if getter in done:
                    push = getter.result()
                    self._last_seq = push.seq
                    self._events.put_nowait(push)
                else:
                    getter.cancel()
            for push in client.drain():
                self._last_seq = push.seq
                self._events.put_nowait(push)
            if self._closing:
                return
            self._ready.clear()
            while not self._closing:
                await asyncio.sleep(backoff)
                try:
                    await self.connect()
                    backoff = 0.5
                    break
                except (TimeoutError, OSError, ServerError) as exc:
                    log.info("bot_reconnect_failed", error=repr(exc), retry_in=backoff)
                    backoff = min(self.max_backoff, backoff * 2)

    async def close(self) -> None:
        self._closing = True
        if self.client is not None:
            await self.client.close()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump

    async def _request(self, frame: Any) -> Any:
        """Send ``frame``; on a dropped connection, wait for the reconnect and
        send it again (requests are safe to repeat: messages carry client ids)."""
        while True:
            await self._ready.wait()
            assert self.client is not None
            try:
                return await self.client.request(frame)
            except (TimeoutError, ConnectionError, ConnectionClosed):
                if self._closing:
                    raise
                self._ready.clear()

    # ------------------------------------------------------------------ chats

    async def start_chat(
        self, queue: str, customer: Customer, text: str = "", welcome: str = ""
    ) -> InteractionView:
        """Open a chat for ``customer`` in ``queue`` with their first message."""
        created: Created = await self._request(
            StartChat(id=0, queue=queue, customer=customer, text=text, welcome=welcome)
        )
        return created.interaction

    async def say(
        self, chat: str, text: str, client_id: str | None = None, as_bot: bool = False
    ) -> MessageView:
        """Send the customer's (or, ``as_bot``, the bot's own) message; returns it
        once stored. If the chat had ended, the message opened a new chat: see
        ``message.interaction``."""
        frame = SendMessage(
            id=0,
            interaction=chat,
            text=text,
            client_id=client_id or uuid.uuid4().hex,
            as_bot=as_bot,
        )
        sent: MessageSent = await self._request(frame)
        return sent.message

    async def send_file(self, chat: str, name: str, mime: str, data: bytes) -> MessageView:
        frame = SendFile(
            id=0, interaction=chat, name=name, mime=mime, data=data, client_id=uuid.uuid4().hex
        )
        sent: MessageSent = await self._request(frame)
        return sent.message

    async def end(self, chat: str) -> None:
        """The customer left: end the chat."""
        await self._request(End(id=0, interaction=chat, reason="customer_left"))

    def drain_events(self) -> list[Push]:
        """Events already received, without waiting."""
        out = []
        while not self._events.empty():
            out.append(self._events.get_nowait())
        return out

    async def events(self) -> AsyncIterator[Push]:
        """Pushes for this bot's chats, in order, across reconnects."""
        while True:
            yield await self._events.get()
