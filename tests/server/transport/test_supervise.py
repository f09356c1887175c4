"""Supervisors ending and reassigning live interactions, over a real server."""

from __future__ import annotations

from typing import Any

import pytest

from protocol.chats import GetChat, SendMessage
from protocol.client import Client, ServerError
from protocol.routing import Accept, End, SetStatus
from protocol.sources import CallIncoming, StartChat
from protocol.supervision import EndInteraction, ListWaiting, Reassign
from protocol.views import Customer
from server.app import App


@pytest.fixture
async def sam(connect) -> Client:
    c = await connect()
    await c.login("sam", "sam-demo")
    return c


async def until(client: Client, tag: str, check: Any) -> Any:
    """The next push of ``tag`` for which ``check(push)`` holds."""
    while not check(push := await client.next_push(tag)):
        pass
    return push


async def alice_on_a_chat(agent, bot) -> tuple[Client, Client, str]:
    """alice (sales) accepted a bot's chat and wrote in it."""
    alice = await agent("alice", ready=True)
    b = await bot()
    created = await b.request(
        StartChat(
            id=0, queue="sales", customer=Customer(name="Dana"), text="Hi", welcome="Welcome!"
        )
    )
    ix = str(created.interaction.id)
    offer = await alice.next_push("offer")
    await alice.request(Accept(id=0, offer=offer.offer))
    await alice.request(SendMessage(id=0, interaction=ix, text="alice here", client_id="a1"))
    return alice, b, ix


async def test_reassign_chat_to_named_agent(agent, bot, sam, server: App) -> None:
    """alice's chat goes to bob (not even a sales member): alice is told and
    wraps up, bob gets the offer and, once he accepts, the whole transcript."""
    alice, b, ix = await alice_on_a_chat(agent, bot)
    bob = await agent("bob", ready=True)
    await sam.request(Reassign(id=0, interaction=ix, agent="bob"))
    told = await alice.next_push("reassigned")
    assert (told.interaction.id, told.by, told.to) == (ix, "sam", "bob")
    assert told.interaction.agent is None
    await until(alice, "agent_state", lambda p: p.agent.state == "wrap_up")  # sales: 5 s
    with pytest.raises(ServerError) as e:
        await alice.request(SendMessage(id=0, interaction=ix, text="still me?", client_id="a2"))
    assert e.value.code == "forbidden"

    offer = await bob.next_push("offer")
    assert offer.interaction.id == ix and offer.interaction.chat_state == "in_progress"
    await bob.request(Accept(id=0, offer=offer.offer))
    chat = await bob.request(GetChat(id=0, interaction=ix))
    assert [(m.author, m.text) for m in chat.messages] == [
        ("bot", "Welcome!"),
        ("customer", "Hi"),
        ("agent", "alice here"),
        ("system", "A supervisor moved the chat away from alice."),
        ("system", "bob took the chat."),
    ]
    took = await bob.next_push("message")  # the line naming him reaches him too
    assert (took.message.author, took.message.n) == ("system", 5)
    assert chat.record.agents == ["alice", "bob"]
    await bob.request(SendMessage(id=0, interaction=ix, text="bob now", client_id="b1"))
    relayed = await until(b, "message", lambda p: p.message.by == "bob")
    assert relayed.message.text == "bob now"
    live = server.runtime.router.interactions[ix]
    assert (live.status, live.agent) == ("assigned", "bob")


async def test_reassign_chat_back_to_queue(agent, bot, sam, server: App) -> None:
    """Back to its queue: the next free sales agent (carol) is offered it; the bot sees it."""
    alice, b, ix = await alice_on_a_chat(agent, bot)
    carol = await agent("carol", ready=True)
    await sam.request(Reassign(id=0, interaction=ix))
    told = await alice.next_push("reassigned")
    assert told.to is None and told.by == "sam"
    offer = await carol.next_push("offer")
    assert offer.interaction.id == ix
    await until(b, "interaction", lambda p: p.interaction.status == "waiting")
    assert server.runtime.router.agents["alice"].interaction is None


async def test_supervisor_ends_chat(agent, bot, sam) -> None:
    """end_interaction completes the chat naming sam; the bot and alice are told."""
    alice, b, ix = await alice_on_a_chat(agent, bot)
    await sam.request(EndInteraction(id=0, interaction=ix, reason="spam"))
    for client in (b, alice):
        ended = await until(client, "interaction", lambda p: p.interaction.status == "ended")
        assert ended.interaction.end_reason == "ended_by_supervisor:sam:spam"
        assert ended.interaction.chat_state == "completed"
    await until(alice, "agent_state", lambda p: p.agent.state == "wrap_up")
    chat = await sam.request(GetChat(id=0, interaction=ix))
    assert chat.record.state == "completed"


async def test_supervisor_end_names_them(agent, bot, sam) -> None:
    """``end`` sent by a supervisor is ``end_interaction``: the reason names them."""
    _, b, ix = await alice_on_a_chat(agent, bot)
    await sam.request(End(id=0, interaction=ix))
    ended = await until(b, "interaction", lambda p: p.interaction.status == "ended")
    assert ended.interaction.end_reason == "ended_by_supervisor:sam"


async def test_supervisor_ends_call_and_gateway_hangs_up(agent, connect, sam) -> None:
    """Ending a connected call sends the gateway a hangup; reassigning it is refused."""
    gateway = await connect()
    await gateway.login_key("sbk_demo_gateway")
    bob = await agent("bob", ready=True)
    created = await gateway.request(
        CallIncoming(id=0, call_id="pbx-s1", caller="+15550107777", queue="calls")
    )
    ix = str(created.interaction.id)
    offer = await bob.next_push("offer")
    await bob.request(Accept(id=0, offer=offer.offer))
    with pytest.raises(ServerError) as e:
        await sam.request(Reassign(id=0, interaction=ix))
    assert e.value.code == "refused" and e.value.frame.details == {"rule": "call_connected"}
    await sam.request(EndInteraction(id=0, interaction=ix))
    hangup = await gateway.next_push("hangup")
    assert (hangup.call_id, hangup.cause) == ("pbx-s1", "ended_by_supervisor:sam")
    await until(bob, "agent_state", lambda p: p.agent.state == "wrap_up")


async def test_refusals_change_nothing(agent, bot, sam, server: App) -> None:
    """Unknown, the same agent, a busy, not ready or offline agent, a
    supervisor, other roles: an error with a stable code, and alice keeps her chat."""
    alice, b, ix = await alice_on_a_chat(agent, bot)
    await agent("bob", ready=False)  # connected, not ready; carol is offline
    cases = [
        (Reassign(id=0, interaction="nope"), "not_found"),
        (EndInteraction(id=0, interaction="nope"), "not_found"),
        (Reassign(id=0, interaction=ix, agent="alice"), "conflict"),
        (Reassign(id=0, interaction=ix, agent="bob"), "conflict"),
        (Reassign(id=0, interaction=ix, agent="carol"), "conflict"),
        (Reassign(id=0, interaction=ix, agent="nobody"), "not_found"),
        (Reassign(id=0, interaction=ix, agent="sam"), "not_found"),
    ]
    for frame, code in cases:
        with pytest.raises(ServerError) as e:
            await sam.request(frame)
        assert e.value.code == code, frame
    for client in (alice, b):
        for frame in (Reassign(id=0, interaction=ix), EndInteraction(id=0, interaction=ix)):
            with pytest.raises(ServerError) as e:
                await client.request(frame)
            assert e.value.code == "forbidden"
    live = server.runtime.router.interactions[ix]
    assert (live.status, live.agent) == ("assigned", "alice")
    assert not alice.drain("reassigned")
    # Busy: carol comes in and takes a chat of her own first.
    carol = await agent("carol", ready=True)
    await b.request(StartChat(id=0, queue="sales", customer=Customer(name="Eve")))
    offer = await carol.next_push("offer")
    await carol.request(Accept(id=0, offer=offer.offer))
    with pytest.raises(ServerError) as e:
        await sam.request(Reassign(id=0, interaction=ix, agent="carol"))
    assert e.value.code == "conflict" and e.value.frame.details == {"agent": "busy"}
    await alice.request(SetStatus(id=0, status="ready"))
    assert server.runtime.router.interactions[ix].agent == "alice"


async def test_list_waiting_in_queue_order(agent, bot, sam, server: App) -> None:
    """What waits, in the order it will be served, then what is offered; a
    waiting chat can be given to a free agent or ended from there."""
    b = await bot()
    ids = []
    for name in ("Ann", "Ben", "Cy"):
        created = await b.request(StartChat(id=0, queue="sales", customer=Customer(name=name)))
        ids.append(str(created.interaction.id))

    async def listed(queue: str | None = "sales") -> list[tuple[str, str]]:
        reply = await sam.request(ListWaiting(id=0, queue=queue))
        assert all(w.waited >= 0 for w in reply.interactions)
        return [(w.interaction.id, w.interaction.status) for w in reply.interactions]

    assert await listed() == [(i, "waiting") for i in ids]
    reply = await sam.request(ListWaiting(id=0, queue="sales"))
    assert [w.interaction.customer.name for w in reply.interactions] == ["Ann", "Ben", "Cy"]
    alice = await agent("alice", ready=True)
    offer = await alice.next_push("offer")
    assert offer.interaction.id == ids[0]
    expected = [(ids[1], "waiting"), (ids[2], "waiting"), (ids[0], "assigning")]
    assert await listed() == expected
    assert await listed(None) == expected  # every queue: only sales has any

    bob = await agent("bob", ready=True)  # not in sales: given one by hand
    await sam.request(Reassign(id=0, interaction=ids[2], agent="bob"))
    assert (await bob.next_push("offer")).interaction.id == ids[2]
    await sam.request(EndInteraction(id=0, interaction=ids[1]))
    assert await listed() == [(ids[0], "assigning"), (ids[2], "assigning")]
    assert ids[1] not in server.runtime.router.interactions


async def test_list_waiting_refusals(agent, bot, sam) -> None:
    """An unknown or malformed queue is an error with a stable code; only supervisors may ask."""
    b = await bot()
    await b.request(StartChat(id=0, queue="sales", customer=Customer(name="Ann")))
    for queue, code in (("nope", "not_found"), ("Not an id!", "invalid")):
        with pytest.raises(ServerError) as e:
            await sam.request(ListWaiting(id=0, queue=queue))
        assert e.value.code == code, queue
    alice = await agent("alice")
    for client in (alice, b):
        with pytest.raises(ServerError) as e:
            await client.request(ListWaiting(id=0))
        assert e.value.code == "forbidden"
    assert len((await sam.request(ListWaiting(id=0))).interactions) == 1
