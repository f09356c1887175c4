"""The bot library and the example bot, against a real server."""

from __future__ import annotations

import asyncio
from typing import Any

from protocol.bot import Bot
from protocol.chats import GetChat, NewMessage, SendMessage
from protocol.routing import Accept, InteractionChanged, SetStatus
from protocol.views import Customer
from server.app import App
from server.demo_bot import run as run_demo_bot


def url(server: App) -> str:
    return f"ws://127.0.0.1:{server.port}/ws"


async def next_event(bot: Bot, kind: type, timeout: float = 5.0) -> Any:
    async with asyncio.timeout(timeout):
        async for event in bot.events():
            if isinstance(event, kind):
                return event
    return None


async def test_bot_chat_round_trip(server: App, agent) -> None:
    """A bot opens a chat, hears the agent and answers, through the library."""
    a = await agent("alice", ready=True)
    bot = Bot(url(server), "sbk_demo_webchat")
    await bot.connect()
    try:
        chat = await bot.start_chat("sales", Customer(name="Dana"), text="Hi")
        offer = await a.next_push("offer")
        await a.request(Accept(id=0, offer=offer.offer))
        await a.request(SendMessage(id=0, interaction=chat.id, text="Hello Dana", client_id="a1"))
        heard = await next_event(bot, NewMessage)
        assert heard.message.text == "Hello Dana"
        sent = await bot.say(chat.id, "Thanks!")
        got = await a.next_push("message")
        assert got.message.id == sent.id and got.message.text == "Thanks!"
    finally:
        await bot.close()


async def test_bot_reconnects_and_replays(server: App, agent) -> None:
    """When its connection drops, the bot reconnects and gets what it missed, once."""
    a = await agent("alice", ready=True)
    bot = Bot(url(server), "sbk_demo_webchat")
    await bot.connect()
    try:
        chat = await bot.start_chat("sales", Customer(name="Dana"), text="Hi")
        offer = await a.next_push("offer")
        await a.request(Accept(id=0, offer=offer.offer))
        while (await next_event(bot, InteractionChanged)).interaction.status != "assigned":
            pass
        assert bot.client is not None
        await bot.client.ws.close()  # the network blips
        for i in range(3):
            await a.request(SendMessage(id=0, interaction=chat.id, text=f"m{i}", client_id=f"a{i}"))
        texts = [(await next_event(bot, NewMessage)).message.text for _ in range(3)]
        assert texts == ["m0", "m1", "m2"]
        sent = await bot.say(chat.id, "back again")  # requests work after the reconnect
        assert sent.n == 5  # Hi, m0, m1, m2, this
        await asyncio.sleep(0.1)
        extra = [e for e in bot._events._queue if isinstance(e, NewMessage)]
        assert extra == []
    finally:
        await bot.close()


async def test_demo_bot_simulates_customers(server: App, agent) -> None:
    """The example bot opens chats, answers the agent and ends them itself."""
    a = await agent("alice", ready=True)
    task = asyncio.ensure_future(
        run_demo_bot(url(server), "sbk_demo_webchat", ["sales"], rate=20.0, max_chats=1,
                     duration=4.0, seed=7, think=(0.0, 0.05))
    )  # fmt: skip
    offer = await a.next_push("offer", timeout=5)
    chat = offer.interaction.id
    await a.request(Accept(id=0, offer=offer.offer))
    for i in range(3):
        await a.request(SendMessage(id=0, interaction=chat, text=f"answer {i}", client_id=str(i)))
        await a.next_push("message", timeout=5)
    change = await a.next_push("interaction", timeout=5)
    while change.interaction.status != "ended":
        change = await a.next_push("interaction", timeout=5)
    transcript = await a.request(GetChat(id=0, interaction=chat))
    authors = [m.author for m in transcript.messages]
    assert authors[:2] == ["bot", "customer"]  # welcome, then the question
    assert authors.count("agent") == 3 and authors.count("customer") == 5
    assert transcript.messages[-1].text.startswith("Thank you")
    await a.request(SetStatus(id=0, status="not_ready", reason="done"))
    await task
    assert task.result() == 0
