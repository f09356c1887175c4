"""Routing over a real server: each role's view, exclusivity, supervisors' edits."""

from __future__ import annotations

import asyncio

import pytest

from protocol.client import Client, ServerError
from protocol.config import AgentConfig, ApiKeyConfig, QueueConfig
from protocol.routing import Accept, Decline, End, SetStatus, WrapUpDone
from protocol.sources import CallHangup, CallIncoming, StartChat
from protocol.supervision import (
    CreateApiKey,
    DeleteApiKey,
    DeleteQueue,
    GetConfig,
    PutAgent,
    PutQueue,
    SetAgentStatus,
    Watch,
)
from protocol.views import Customer
from server.app import App


async def start_chat(bot: Client, queue: str = "sales", name: str = "Dana") -> str:
    created = await bot.request(StartChat(id=0, queue=queue, customer=Customer(name=name)))
    return str(created.interaction.id)


async def test_chat_offer_accept_end(agent, bot) -> None:
    """A bot's chat is offered to a ready agent, accepted, and ended by the bot."""
    a = await agent("alice", ready=True)
    b = await bot()
    ix = await start_chat(b)
    offer = await a.next_push("offer")
    assert offer.interaction.id == ix and offer.interaction.customer.name == "Dana"
    assert offer.interaction.queue == "sales" and offer.interaction.source == "webchat"
    assert offer.expires_at > offer.interaction.created_at
    await a.request(Accept(id=0, offer=offer.offer))
    seen = await b.next_push("interaction")
    while seen.interaction.status != "assigned":
        seen = await b.next_push("interaction")
    assert seen.interaction.agent == "alice"
    await b.request(End(id=0, interaction=ix))
    ended = await a.next_push("interaction")
    while ended.interaction.status != "ended":
        ended = await a.next_push("interaction")
    assert ended.interaction.end_reason == "ended_by_key"
    state = await a.next_push("agent_state")
    while state.agent.state != "wrap_up":  # sales has 5 s of wrap-up
        state = await a.next_push("agent_state")
    await a.request(WrapUpDone(id=0))
    state = await a.next_push("agent_state")
    assert state.agent.state == "idle"


async def test_pushes_are_numbered(agent, bot) -> None:
    """Pushes to a connection carry seq 1, 2, 3... without gaps."""
    a = await agent("alice", ready=True)
    b = await bot()
    await start_chat(b)
    offer = await a.next_push("offer")
    await a.request(Accept(id=0, offer=offer.offer))
    await asyncio.sleep(0.1)
    seqs = [offer.seq, *(p.seq for p in a.drain())]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


async def test_agent_sees_only_its_offers(agent, bot) -> None:
    """One chat, two ready agents: exactly one is offered it; the other sees nothing."""
    a = await agent("alice", ready=True)
    c = await agent("carol", ready=True)
    b = await bot()
    await start_chat(b)
    await asyncio.sleep(0.2)
    offers = [p for cl in (a, c) for p in cl.drain("offer")]
    assert len(offers) == 1


async def test_accept_someone_elses_offer(agent, bot) -> None:
    """An agent cannot accept or decline an offer made to another agent."""
    a = await agent("alice", ready=True)
    c = await agent("bob", ready=False)
    b = await bot()
    await start_chat(b)
    offer = await a.next_push("offer")
    for frame in (Accept(id=0, offer=offer.offer), Decline(id=0, offer=offer.offer)):
        with pytest.raises(ServerError) as e:
            await c.request(frame)
        assert e.value.code == "not_found"
    await a.request(Accept(id=0, offer=offer.offer))


async def test_decline_goes_to_another_agent(agent, bot) -> None:
    """A declined chat is offered to the other ready agent at once."""
    a = await agent("alice", ready=True)
    await asyncio.sleep(0.01)
    c = await agent("carol", ready=True)
    b = await bot()
    ix = await start_chat(b)
    offer = await a.next_push("offer")  # alice has been idle longest
    await a.request(Decline(id=0, offer=offer.offer))
    closed = await a.next_push("offer_closed")
    assert closed.outcome == "declined"
    second = await c.next_push("offer")
    assert second.interaction.id == ix


async def test_bot_cannot_touch_other_bots_chat(connect, server: App, bot) -> None:
    """A bot sees and ends only its own chats; another bot is refused."""
    owner = await bot()
    ix = await start_chat(owner)
    sup = await connect()
    await sup.login("sam", "sam-demo")
    key = await sup.request(
        CreateApiKey(
            id=0, key=ApiKeyConfig(id="tg", role="bot", source="telegram", queues=["sales"])
        )
    )
    other = await bot(key.api_key)
    with pytest.raises(ServerError) as e:
        await other.request(End(id=0, interaction=ix))
    assert e.value.code == "forbidden"
    assert other.welcome is not None and other.welcome.interactions == []
    assert server.runtime is not None and ix in server.runtime.router.interactions


async def test_bot_limited_to_its_queues(bot) -> None:
    """A bot cannot open a chat in a queue its key does not allow."""
    b = await bot()
    with pytest.raises(ServerError) as e:
        await b.request(StartChat(id=0, queue="calls"))
    assert e.value.code == "forbidden"
    with pytest.raises(ServerError) as e:
        await b.request(StartChat(id=0, queue="no-such-queue"))
    assert e.value.code == "forbidden"


async def test_call_routed_and_hung_up(connect, agent) -> None:
    """A gateway call is offered to an agent of the call queue and ended by hangup."""
    a = await agent("bob", ready=True)
    gw = await connect()
    await gw.login_key("sbk_demo_gateway")
    created = await gw.request(
        CallIncoming(id=0, call_id="c-1", caller="+15550100", dialed="calls")
    )
    assert created.interaction.channel == "call"
    offer = await a.next_push("offer")
    assert offer.interaction.customer.phone == "+15550100"
    await a.request(Accept(id=0, offer=offer.offer))
    again = await gw.request(CallIncoming(id=0, call_id="c-1", caller="+15550100", queue="calls"))
    assert again.interaction.id == created.interaction.id  # a repeated event is no new call
    await gw.request(CallHangup(id=0, call_id="c-1"))
    ended = await a.next_push("interaction")
    while ended.interaction.status != "ended":
        ended = await a.next_push("interaction")
    # A repeated hangup is answered ok and changes nothing.
    await gw.request(CallHangup(id=0, call_id="c-1"))
    await asyncio.sleep(0.05)
    assert not a.drain("interaction")


async def test_no_call_while_chatting(connect, agent, bot) -> None:
    """An agent with an active chat is not offered a call until the chat ends."""
    a = await agent("alice", ready=True)
    b = await bot()
    ix = await start_chat(b)
    offer = await a.next_push("offer")
    await a.request(Accept(id=0, offer=offer.offer))
    gw = await connect()
    await gw.login_key("sbk_demo_gateway")
    await gw.request(CallIncoming(id=0, call_id="c-2", caller="+15550101", queue="calls"))
    await asyncio.sleep(0.3)
    assert not a.drain("offer")
    await b.request(End(id=0, interaction=ix))
    await a.request(WrapUpDone(id=0))
    call = await a.next_push("offer")
    assert call.interaction.channel == "call"


async def test_supervisor_dashboard_live(connect, agent) -> None:
    """A watching supervisor gets the dashboard, then agent changes as they happen."""
    sup = await connect()
    await sup.login("sam", "sam-demo")
    dash = await sup.request(Watch(id=0))
    assert {a.username for a in dash.agents} == {"alice", "bob", "carol"}
    assert {q.queue for q in dash.queues} == {"sales", "support", "vip", "calls"}
    a = await agent("alice")
    await a.request(SetStatus(id=0, status="not_ready", reason="lunch"))
    change = await sup.next_push("agent_state")
    while change.agent.status != "not_ready":
        change = await sup.next_push("agent_state")
    assert (change.agent.username, change.agent.reason) == ("alice", "lunch")


async def test_supervisor_sets_agent_status(connect, agent) -> None:
    """A supervisor can set an agent ready; the agent is told."""
    a = await agent("alice")
    sup = await connect()
    await sup.login("sam", "sam-demo")
    await sup.request(SetAgentStatus(id=0, agent="alice", status="ready"))
    change = await a.next_push("agent_state")
    while change.agent.status != "ready":
        change = await a.next_push("agent_state")


async def test_queue_figures_pushed(connect, bot) -> None:
    """Watching supervisors get queue figures when a chat starts waiting."""
    sup = await connect()
    await sup.login("sam", "sam-demo")
    await sup.request(Watch(id=0))
    b = await bot()
    await start_chat(b, "support")
    figures = await sup.next_push("queue_stats", timeout=3)
    while not any(q.queue == "support" and q.waiting == 1 for q in figures.queues):
        figures = await sup.next_push("queue_stats", timeout=3)


async def test_live_queue_edit_routes(connect, bot) -> None:
    """Adding a skill-less queue and an agent to it routes waiting work at once."""
    sup = await connect()
    await sup.login("sam", "sam-demo")
    await sup.request(PutQueue(id=0, queue=QueueConfig(id="promo", channel="chat")))
    await sup.request(
        PutAgent(
            id=0,
            agent=AgentConfig(username="dave", inboxes=["promo"], channels=["chat"]),
            password="dave-secret",
        )
    )
    key = await sup.request(
        CreateApiKey(id=0, key=ApiKeyConfig(id="promo-bot", role="bot", queues=["promo"]))
    )
    b = await bot(key.api_key)
    ix = await start_chat(b, "promo")
    dave = await connect()
    await dave.login("dave", "dave-secret")
    await dave.request(SetStatus(id=0, status="ready"))
    offer = await dave.next_push("offer")
    assert offer.interaction.id == ix
    config = await sup.request(GetConfig(id=0))
    assert "promo" in {q.id for q in config.queues}
    assert "dave" in {a.username for a in config.agents}
    with pytest.raises(ServerError) as e:
        await sup.request(DeleteQueue(id=0, queue="promo"))
    assert e.value.code == "conflict"


async def test_deleted_key_is_cut_off(connect, bot) -> None:
    """Deleting an API key closes its live connection and refuses it afterwards."""
    sup = await connect()
    await sup.login("sam", "sam-demo")
    key = await sup.request(
        CreateApiKey(id=0, key=ApiKeyConfig(id="tmp", role="bot", queues=["sales"]))
    )
    b = await bot(key.api_key)
    await sup.request(DeleteApiKey(id=0, key_id="tmp"))
    await asyncio.wait_for(b.ws.wait_closed(), 5)
    again = await connect()
    with pytest.raises(ServerError):
        await again.login_key(key.api_key)


async def test_new_agent_needs_password(connect) -> None:
    """Creating an account without a password is refused; nothing is stored."""
    sup = await connect()
    await sup.login("sam", "sam-demo")
    with pytest.raises(ServerError) as e:
        await sup.request(PutAgent(id=0, agent=AgentConfig(username="eve")))
    assert e.value.code == "invalid"
    config = await sup.request(GetConfig(id=0))
    assert "eve" not in {a.username for a in config.agents}


async def test_an_offer_does_not_wait_for_the_commit_but_the_ack_does(
    agent, bot, server: App
) -> None:
    """While the writer is held, the agent already has the offer and the bot
    still waits for `created`; once the commit is done the bot gets it."""
    import sqlite3

    a = await agent("alice", ready=True)
    b = await bot()
    # Another connection holds the database's write lock: the writer's next
    # transaction waits for it (busy_timeout), as behind a slow disk.
    holder = sqlite3.connect(server.settings.server.db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        asked = asyncio.ensure_future(
            b.request(StartChat(id=0, queue="sales", customer=Customer(name="Eve")))
        )
        offer = await a.next_push("offer")
        assert offer.interaction.customer.name == "Eve"
        await asyncio.sleep(0.2)
        assert not asked.done()  # not durable yet: no acknowledgement
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    created = await asyncio.wait_for(asked, 5)
    assert created.interaction.id == offer.interaction.id
