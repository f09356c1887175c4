"""Connection loss: offers move at once, work is held for a grace period, resume
restores state and missed pushes, dead and slow peers are cut off."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from protocol.base import tag_of
from protocol.chats import SendMessage
from protocol.client import Client
from protocol.errors import CloseCode
from protocol.routing import Accept, End, SetStatus
from protocol.sources import StartChat
from server.app import App
from server.settings import Settings


async def start_chat(bot: Client, queue: str = "sales") -> str:
    return str((await bot.request(StartChat(id=0, queue=queue))).interaction.id)


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def accepted_then_dropped(agent, bot) -> tuple[Client, str, str, int]:
    """Alice takes a chat, has seen every push, and drops: (bot, chat, resume
    token, last seq seen)."""
    a = await agent("alice", ready=True)
    b = await bot()
    ix = await start_chat(b)
    offer = await a.next_push("offer")
    await a.request(Accept(id=0, offer=offer.offer))
    await asyncio.sleep(0.1)
    a.drain()
    assert a.welcome is not None
    token, seen = a.welcome.session_token, a.last_seq
    await a.ws.close()
    return b, ix, token, seen


async def test_offer_moves_when_agent_drops(agent, bot) -> None:
    """An agent that drops with an open offer loses it to another agent at once."""
    a = await agent("alice", ready=True)
    await asyncio.sleep(0.01)
    c = await agent("carol", ready=True)
    b = await bot()
    ix = await start_chat(b)
    await a.next_push("offer")
    await a.ws.close()
    offer = await c.next_push("offer", timeout=2)
    assert offer.interaction.id == ix


async def test_resume_within_grace(agent, bot, connect, server: App) -> None:
    """Resuming within the grace period restores the chat and replays missed pushes."""
    b, ix, token, seen = await accepted_then_dropped(agent, bot)
    assert server.runtime is not None
    await until(lambda: not server.runtime.router.agents["alice"].connected)
    # While alice is away her chat is still hers, and the bot ends it.
    assert server.runtime.router.interactions[ix].agent == "alice"
    await b.request(End(id=0, interaction=ix))
    back = await connect(encoding="msgpack")  # another encoding: frames are re-encoded
    w = await back.resume(token, last_seq=seen)
    assert w.resumed and w.replayed >= 1 and not w.replay_gap
    assert w.agent is not None and w.agent.status == "ready"
    replayed = [await back.next_push() for _ in range(w.replayed)]
    assert replayed[0].seq == seen + 1
    assert any(tag_of(p) == "interaction" and p.interaction.status == "ended" for p in replayed)


@pytest.mark.parametrize(("messages", "gap"), [(3, False), (20, True)])
async def test_a_resume_past_the_replay_bytes_is_a_gap(
    agent, bot, connect, messages: int, gap: bool
) -> None:
    """Missed pushes are replayed up to 64 KiB of them: a few long messages
    come back; twenty of 4,096 characters do not fit, and the welcome says
    replay_gap, with the chat in its snapshot."""
    b, ix, token, seen = await accepted_then_dropped(agent, bot)
    for n in range(messages):
        text = f"{n:02d}:" + "x" * 4_093
        await b.request(SendMessage(id=0, interaction=ix, text=text, client_id=f"m{n}"))
    back = await connect()
    w = await back.resume(token, last_seq=seen)
    assert w.resumed and w.replay_gap is gap
    assert [i.id for i in w.interactions] == [ix]
    replayed = [await back.next_push() for _ in range(w.replayed)]
    texts = [p.message.text for p in replayed if tag_of(p) == "message"]
    if gap:  # what is replayed is the newest, in order, and less than all
        assert 0 < len(texts) < messages and replayed[0].seq > seen + 1
        assert [int(t.split(":")[0]) for t in texts] == [
            n for n in range(messages - len(texts), messages)
        ]
    else:
        assert replayed[0].seq == seen + 1 and len(texts) == messages


async def test_resume_keeps_active_chat(agent, bot, connect) -> None:
    """A resumed agent's welcome lists the chat it was handling."""
    a = await agent("alice", ready=True)
    b = await bot()
    ix = await start_chat(b)
    offer = await a.next_push("offer")
    await a.request(Accept(id=0, offer=offer.offer))
    token = a.welcome.session_token if a.welcome else ""
    await a.ws.close()
    back = await connect()
    w = await back.resume(token, last_seq=a.last_seq)
    assert [i.id for i in w.interactions] == [ix]
    assert w.agent is not None and w.agent.state == "busy"


async def test_grace_expires_requeues_at_head(agent, bot, server: App, settings) -> None:
    """If the agent does not come back, its chat goes to the head of the queue."""
    b = await bot()
    first = await start_chat(b)
    a = await agent("alice", ready=True)
    offer = await a.next_push("offer")
    assert offer.interaction.id == first
    await a.request(Accept(id=0, offer=offer.offer))
    later = await start_chat(b)  # waits: nobody else is ready
    await a.ws.close()
    c = await agent("carol", ready=True)
    got = await c.next_push("offer", timeout=2)
    assert got.interaction.id == later  # during the grace period the chat stays alice's
    await c.request(Accept(id=0, offer=got.offer))
    await c.request(End(id=0, interaction=later))
    await c.request(SetStatus(id=0, status="ready"))
    from protocol.routing import WrapUpDone

    await c.request(WrapUpDone(id=0))
    requeued = await c.next_push("offer", timeout=settings.routing.grace + 3)
    assert requeued.interaction.id == first
    assert server.runtime is not None
    assert server.runtime.router.agents["alice"].status == "offline"


async def test_bot_reconnect_replays(bot, agent, connect) -> None:
    """A bot reconnecting with last_seq gets the pushes it missed."""
    b = await bot()
    await start_chat(b)
    await asyncio.sleep(0.05)
    b.drain()
    seen = b.last_seq
    await b.ws.close()
    a = await agent("alice", ready=True)
    offer = await a.next_push("offer")
    await a.request(Accept(id=0, offer=offer.offer))
    await asyncio.sleep(0.1)
    back = await connect()
    w = await back.login_key("sbk_demo_webchat", last_seq=seen)
    assert w.replayed >= 2
    statuses = [(await back.next_push("interaction")).interaction.status for _ in range(2)]
    assert statuses == ["assigning", "assigned"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A small write buffer so that a slow reader shows quickly."""
    settings.limits.max_write_buffer = 16 * 1024
    return settings


async def test_slow_reader_cut_off(raw, server: App, connect) -> None:
    """A client that does not read is closed instead of buffering without bound."""
    peer = await raw.open(rcvbuf=4096)
    await peer.send_text(json.dumps({"type": "login_key", "id": 1, "api_key": "sbk_demo_webchat"}))
    assert server.runtime is not None
    await until(lambda: ("key", "webchat") in server.runtime.sessions)
    session = server.runtime.sessions[("key", "webchat")]
    sent = 0
    # Every reply and push echoes the customer, so each request makes ~1.5 kB to read.
    who = {"name": "n" * 256, "email": "e" * 256, "external_id": "x" * 256}
    while session.conn is not None and sent < 20000:
        await peer.send_text(
            json.dumps({"type": "start_chat", "id": sent, "queue": "sales", "customer": who})
        )
        sent += 1
        if sent % 50 == 0:
            await asyncio.sleep(0.01)
    assert session.conn is None, "the slow reader was never cut off"
    frames = await peer.frames_until_closed(timeout=10)
    codes = [f.data[:2] for f in frames if f.opcode.name == "CLOSE"]
    # The close frame may be stuck behind the unread data; if it arrives, it says why.
    assert codes == [] or int.from_bytes(codes[0], "big") == CloseCode.SLOW_CONSUMER
    # The server is fine and serves others.
    other = await connect()
    assert (await other.login("alice", "alice-demo")).role == "agent"
