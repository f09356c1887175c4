"""kill -9 the real server process and restart it on the same database:
nothing that was acknowledged may be lost, and waiting work keeps its order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from protocol.client import Client
from protocol.routing import Accept, Decline, End, SetStatus, WrapUpDone
from protocol.sources import StartChat
from protocol.views import Customer

pytestmark = pytest.mark.slow

BOT_KEY = "sbk_demo_webchat"


async def create_work(
    server: Any,
    open_client: Callable[..., Awaitable[Client]],
    chats: int,
    decline: int = 0,
) -> tuple[list[str], str]:
    """A bot opens ``chats`` chats in sales with nobody ready; alice then declines
    ``decline`` offers and accepts the next one (chat number ``decline``). Returns
    the chat ids in creation order and alice's session token. The last thing that
    happens is the ``ok`` to alice's accept."""
    bot = await open_client(server.url, "msgpack")
    await bot.login_key(BOT_KEY)
    ids: list[str] = []
    for i in range(chats):
        created = await bot.request(
            StartChat(id=0, queue="sales", customer=Customer(name=f"customer {i}"), text="hi")
        )
        assert created.interaction.status == "waiting"
        ids.append(created.interaction.id)
    alice = await open_client(server.url)
    welcome = await alice.login("alice", "alice-demo")
    assert welcome.session_token
    await alice.request(SetStatus(id=0, status="ready"))
    for i in range(decline + 1):
        offer = await alice.next_push("offer")
        assert offer.interaction.id == ids[i]
        if i < decline:
            await alice.request(Decline(id=0, offer=offer.offer))
    await alice.request(Accept(id=0, offer=offer.offer))
    return ids, welcome.session_token


async def drain_offers(carol: Client, count: int) -> list[tuple[str, str]]:
    """Take ``count`` offers one by one: accept, end, leave wrap-up. Ids and names, in order."""
    seen: list[tuple[str, str]] = []
    for _ in range(count):
        offer = await carol.next_push("offer")
        seen.append((offer.interaction.id, offer.interaction.customer.name))
        await carol.request(Accept(id=0, offer=offer.offer))
        await carol.request(End(id=0, interaction=offer.interaction.id))
        await carol.request(WrapUpDone(id=0))
    return seen


async def test_kill_9_loses_nothing_acknowledged(launch, clients, tmp_path: Path) -> None:
    """After kill -9, alice resumes her chat, the other 19 come back in order, the bot sees all."""
    started = time.monotonic()
    first = await launch()
    ids, token = await create_work(first, clients, 20)
    first.kill()  # right after the last acknowledgement

    second = await launch()
    alice = await clients(second.url)
    welcome = await alice.resume(token)
    assert welcome.principal == "alice" and welcome.resumed
    assert welcome.agent is not None and welcome.agent.interaction == ids[0]
    assert welcome.agent.state == "busy"
    assert [(ix.id, ix.status, ix.agent) for ix in welcome.interactions] == [
        (ids[0], "assigned", "alice")
    ]
    assert welcome.interactions[0].customer.name == "customer 0"

    bot = await clients(second.url, "msgpack")
    bot_welcome = await bot.login_key(BOT_KEY)
    statuses = {ix.id: ix.status for ix in bot_welcome.interactions}
    assert statuses == {ix: ("assigned" if ix == ids[0] else "waiting") for ix in ids}

    carol = await clients(second.url)
    await carol.login("carol", "carol-demo")
    await carol.request(SetStatus(id=0, status="ready"))
    seen = await drain_offers(carol, 19)
    assert seen == [(ix, f"customer {i}") for i, ix in enumerate(ids) if i > 0]
    await asyncio.sleep(0.2)
    assert not carol.drain("offer")

    # The restored assignment is real: alice can end it.
    await alice.request(End(id=0, interaction=ids[0]))
    assert time.monotonic() - started < 20


async def test_agent_not_back_after_crash_gets_work_requeued_at_head(
    launch, clients, tmp_path: Path
) -> None:
    """If alice does not come back within the grace period, her chat is offered first."""
    started = time.monotonic()
    config = tmp_path / "switchboard.toml"
    config.write_text("[routing]\ngrace = 1.0\n")
    first = await launch(config)
    # Alice takes the second chat, so "at the head" differs from "at its old place".
    ids, token = await create_work(first, clients, 10, decline=1)
    first.kill()

    second = await launch(config)
    bot = await clients(second.url, "msgpack")
    bot_welcome = await bot.login_key(BOT_KEY)
    assert {ix.id for ix in bot_welcome.interactions} == set(ids)
    mine = next(ix for ix in bot_welcome.interactions if ix.id == ids[1])
    if mine.status != "waiting":  # grace not over yet: wait for the re-queue
        assert (mine.status, mine.agent) == ("assigned", "alice")
        while True:
            push = await bot.next_push("interaction", timeout=5)
            if push.interaction.id == ids[1] and push.interaction.status == "waiting":
                break
    carol = await clients(second.url)
    await carol.login("carol", "carol-demo")
    await carol.request(SetStatus(id=0, status="ready"))
    seen = await drain_offers(carol, 10)
    assert [ix for ix, _ in seen] == [ids[1], ids[0], *ids[2:]]

    # Alice's token still works, but her chat is gone and she is offline.
    alice = await clients(second.url)
    welcome = await alice.resume(token)
    assert welcome.interactions == []
    assert welcome.agent is not None and welcome.agent.status == "offline"
    assert welcome.agent.interaction is None
    assert time.monotonic() - started < 20


async def test_kill_9_during_a_burst_keeps_every_acknowledged_chat(launch, clients) -> None:
    """Killed while chats are still being written, every acknowledged one is back, in order."""
    started = time.monotonic()
    first = await launch()
    bot = await clients(first.url, "msgpack")
    await bot.login_key(BOT_KEY)
    total, kill_after = 3000, 400
    requests: list[asyncio.Future[Any]] = []
    acked: set[str] = set()
    killed = asyncio.Event()

    def on_reply(future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is None:
            acked.add(future.result().interaction.customer.name)
            if len(acked) >= kill_after and not killed.is_set():
                first.kill()  # with requests still being sent and written
                killed.set()

    for i in range(total):
        if killed.is_set():
            break
        request = StartChat(id=0, queue="sales", customer=Customer(name=str(i)))
        requests.append(asyncio.ensure_future(bot.request(request)))
        requests[-1].add_done_callback(on_reply)
        if i % 25 == 24:
            await asyncio.sleep(0.001)  # keep sending while replies come back
    async with asyncio.timeout(10):  # a slow machine: the kill comes with later replies
        await killed.wait()
    await asyncio.gather(*requests, return_exceptions=True)
    assert len(acked) < len(requests)  # some were in flight when the process died

    second = await launch()
    bot = await clients(second.url, "msgpack")
    welcome = await bot.login_key(BOT_KEY)
    restored = [int(ix.customer.name) for ix in welcome.interactions]
    assert acked <= {str(i) for i in restored}
    # Batches commit in arrival order, so what survived is a prefix of what was sent.
    assert sorted(restored) == list(range(len(restored)))
    carol = await clients(second.url)
    await carol.login("carol", "carol-demo")
    await carol.request(SetStatus(id=0, status="ready"))
    seen = await drain_offers(carol, min(len(restored), 15))
    assert [int(name) for _, name in seen] == list(range(min(len(restored), 15)))
    assert time.monotonic() - started < 20
