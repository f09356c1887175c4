"""kill -9 the real server while bots and agents write to their chats as fast as
they can: after a restart every acknowledged message is there, once, in order."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.protocol import State

from protocol.chats import GetChat, MessageView, SendMessage
from protocol.client import Client
from protocol.routing import Accept, SetStatus
from protocol.sources import StartChat
from protocol.views import Customer

pytestmark = pytest.mark.slow

BOT_KEY = "sbk_demo_webchat"
BOT_ID = "webchat"  # the key's id: what messages name as their sender
AGENTS = ("alice", "carol")  # both serve "sales"
#: Acknowledged messages (all chats, both directions) after which the server dies.
KILL_AFTER = 2000
#: Requests each writer keeps in flight.
WINDOW = 32
#: Agents are rate limited to 50 frames/s by default; this test wants the
#: server, not the limiter, to be the bottleneck.
CONFIG = """\
[limits]
rate = { agent = 100000.0, supervisor = 100000.0, bot = 100000.0, gateway = 100000.0 }
"""


@dataclass
class Chat:
    """One accepted chat and everything its two writers sent and got acknowledged."""

    id: str
    agent: str
    token: str
    sent: dict[tuple[str, str], str] = field(default_factory=dict)  # (author, client id) -> text
    acked: list[MessageView] = field(default_factory=list)
    replies: list[Any] = field(default_factory=list)  # the message_sent frames


async def write(
    client: Client, chat: Chat, author: str, killed: asyncio.Event, on_ack: Any
) -> None:
    """Send messages into ``chat`` back to back (``WINDOW`` in flight) until the
    server is dead or the connection is gone."""
    room = asyncio.Semaphore(WINDOW)
    pending: list[asyncio.Future[Any]] = []

    def done(future: asyncio.Future[Any]) -> None:
        room.release()
        if not future.cancelled() and future.exception() is None:
            on_ack(chat, future.result())

    i = 0
    while not killed.is_set() and client.ws.state is State.OPEN:
        await room.acquire()
        if killed.is_set() or client.ws.state is not State.OPEN:
            break
        client_id = f"{author[0]}{i}"
        text = f"{author} {chat.agent} #{i} ✓"
        chat.sent[(author, client_id)] = text
        request = SendMessage(id=0, interaction=chat.id, text=text, client_id=client_id)
        pending.append(asyncio.ensure_future(client.request(request)))
        pending[-1].add_done_callback(done)
        i += 1
    await asyncio.gather(*pending, return_exceptions=True)


async def test_kill_9_mid_conversation_keeps_every_acknowledged_message(launch, clients) -> None:
    """Bot and agents write both ways in two chats; after kill -9 each acknowledged message is
    in its transcript exactly once at its n, n runs 1..N, and a resend is a duplicate."""
    started = time.monotonic()

    async def connect(server: Any, encoding: str = "json") -> Client:
        return await clients(server.url, encoding)

    first = await launch(CONFIG)
    bot = await connect(first, "msgpack")
    await bot.login_key(BOT_KEY)
    chats: list[Chat] = []
    agents: dict[str, Client] = {}
    for name in AGENTS:  # one at a time, so each chat is offered to the agent just ready
        agent = await connect(first)
        welcome = await agent.login(name, f"{name}-demo")
        assert welcome.session_token
        await agent.request(SetStatus(id=0, status="ready"))
        created = await bot.request(
            StartChat(id=0, queue="sales", customer=Customer(name=f"customer of {name}"))
        )
        offer = await agent.next_push("offer")
        assert offer.interaction.id == created.interaction.id
        await agent.request(Accept(id=0, offer=offer.offer))
        chats.append(Chat(created.interaction.id, name, welcome.session_token))
        agents[name] = agent

    due, killed = asyncio.Event(), asyncio.Event()
    total = 0

    def on_ack(chat: Chat, reply: Any) -> None:
        nonlocal total
        chat.replies.append(reply)
        chat.acked.append(reply.message)
        total += 1
        if total >= KILL_AFTER:
            due.set()

    async def kill_when_due() -> None:
        await due.wait()
        # No wait here: the writers go on sending while the process dies.
        os.kill(first.proc.pid, signal.SIGKILL)
        while first.proc.poll() is None:
            await asyncio.sleep(0.005)
        killed.set()

    writers = [
        write(client, chat, author, killed, on_ack)
        for chat in chats
        for client, author in ((bot, "customer"), (agents[chat.agent], "agent"))
    ]
    async with asyncio.timeout(15):
        await asyncio.gather(kill_when_due(), *writers)
    assert killed.is_set()
    for chat in chats:
        assert all(r.interaction == chat.id and not r.duplicate for r in chat.replies)
        authors = {m.author for m in chat.acked}
        assert authors == {"customer", "agent"}, f"{chat.agent}'s chat was not two-way"
    # Some messages never got their acknowledgement: the kill was mid-stream.
    assert sum(len(c.acked) for c in chats) < sum(len(c.sent) for c in chats)

    second = await launch(CONFIG)
    bot = await connect(second, "msgpack")
    await bot.login_key(BOT_KEY)
    for chat in chats:
        agent = await connect(second)
        welcome = await agent.resume(chat.token)
        assert welcome.resumed and welcome.principal == chat.agent
        assert [ix.id for ix in welcome.interactions] == [chat.id]
        transcript = (await agent.request(GetChat(id=0, interaction=chat.id))).messages
        check_transcript(chat, transcript)
        print(
            "STATS",
            chat.agent,
            len(chat.sent),
            len(chat.acked),
            len(transcript),
            {a: sum(m.author == a for m in chat.acked) for a in ("customer", "agent")},
        )

        # A resend of an acknowledged message, after the restart, is found, not stored again.
        for client, author in ((agent, "agent"), (bot, "customer")):
            earlier = next(m for m in reversed(chat.acked) if m.author == author)
            again = await client.request(
                SendMessage(
                    id=0, interaction=chat.id, text=earlier.text, client_id=earlier.client_id
                )
            )
            assert again.duplicate and again.message == earlier
        after = (await agent.request(GetChat(id=0, interaction=chat.id))).messages
        assert after == transcript
        # And the numbering goes on from the last stored message.
        new = await agent.request(
            SendMessage(id=0, interaction=chat.id, text="after the crash", client_id="new")
        )
        assert not new.duplicate and new.message.n == len(transcript) + 1
    assert time.monotonic() - started < 20


def check_transcript(chat: Chat, transcript: list[MessageView]) -> None:
    """Every acknowledged message once, at its n; n = 1..N; nothing that was not sent."""
    assert [m.n for m in transcript] == list(range(1, len(transcript) + 1))
    assert len({m.id for m in transcript}) == len(transcript)
    keys = [(m.author, m.client_id) for m in transcript]
    assert len(set(keys)) == len(keys), "a message was stored twice"
    for m in transcript:
        assert m.interaction == chat.id
        assert chat.sent.get((m.author, m.client_id)) == m.text, f"not sent: {m}"
        assert m.by == (chat.agent if m.author == "agent" else BOT_ID)
    for acked in chat.acked:
        assert acked.n <= len(transcript), f"acknowledged message {acked.n} lost"
        assert transcript[acked.n - 1] == acked
    assert len(transcript) >= len(chat.acked)
