"""Calls over a real server: the gateway's events and commands, identification,
callbacks and their queue, compliance, scheduled calls, journeys."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from protocol.calls import (
    CALLBACK_ANNOUNCEMENT,
    AgentAnswered,
    CallbackRequest,
    CallRinging,
    CustomerAnswered,
    GetCall,
    GetJourney,
    PlaceCallback,
    ScheduleCall,
    SetCallResult,
)
from protocol.chats import Identify, NewContact
from protocol.client import Client, ServerError
from protocol.config import AgentConfig
from protocol.routing import Accept, Decline, End, SetStatus, WrapUpDone
from protocol.sources import CallHangup, CallIncoming, StartChat
from protocol.supervision import PutAgent
from server.app import App
from server.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Compliance lists with one entry per rule; bob may only call his customers."""
    c = settings.calls
    c.do_not_call = ["+15550000001"]
    c.blacklist = ["+1900*"]
    c.whitelist = ["+1555*", "+44*", "+3312*"]
    c.countries = ["1", "44"]
    c.personal = {"bob": ["+15551111111"]}
    return settings


@pytest.fixture
async def gateway(connect) -> Client:
    gw = await connect()
    await gw.login_key("sbk_demo_gateway")
    return gw


async def push(client: Client, tag: str, timeout: float = 5.0) -> Any:
    return await client.next_push(tag, timeout=timeout)


async def call_in(gw: Client, call_id: str, caller: str = "+15550100200") -> str:
    created = await gw.request(CallIncoming(id=0, call_id=call_id, caller=caller, queue="calls"))
    return str(created.interaction.id)


async def test_inbound_call_journey(agent, gateway) -> None:
    """Offered, rung, answered on the device, hung up: journey and durations recorded."""
    a = await agent("bob", ready=True)
    ix = await call_in(gateway, "pbx-1")
    offer = await push(a, "offer")
    ring = await push(gateway, "ring_agent")
    assert (ring.call_id, ring.agent, ring.device) == ("pbx-1", "bob", "bob-soft")
    assert ring.address == "sip:102@pbx.local" and 0 < ring.timeout <= 20
    await gateway.request(CallRinging(id=0, call_id="pbx-1", device="bob-soft"))
    await gateway.request(AgentAnswered(id=0, call_id="pbx-1", device="bob-soft"))
    closed = await push(a, "offer_closed")
    assert (closed.offer, closed.outcome) == (offer.offer, "accepted")
    connect_cmd = await push(gateway, "connect")
    assert connect_cmd.device == "bob-soft"
    await asyncio.sleep(0.3)
    await gateway.request(CallHangup(id=0, call_id="pbx-1", cause="normal_clearing"))
    change = await push(a, "interaction")
    while change.interaction.status != "ended":
        change = await push(a, "interaction")
    await a.request(SetCallResult(id=0, interaction=ix, result="resolved"))
    record = (await a.request(GetCall(id=0, interaction=ix))).record
    assert (record.kind, record.state, record.number, record.result) == (
        "inbound", "ended", "+15550100200", "resolved",
    )  # fmt: skip
    assert record.answered_at and record.talking is not None and 0.25 < record.talking < 5
    steps = [s.step for s in record.steps]
    assert steps[:3] == ["initiated", "routed", "ringing"]
    assert "answered_by_agent" in steps and steps[-1] == "ended"
    assert record.steps == sorted(record.steps, key=lambda s: s.at)


async def test_accept_in_client_connects(agent, gateway) -> None:
    """Accepting in the client tells the gateway to connect the caller."""
    a = await agent("bob", ready=True)
    await call_in(gateway, "pbx-2")
    offer = await push(a, "offer")
    await a.request(Accept(id=0, offer=offer.offer))
    cmd = await push(gateway, "connect")
    assert (cmd.call_id, cmd.agent) == ("pbx-2", "bob")


async def test_decline_stops_ringing(agent, gateway) -> None:
    """A declined call stops ringing that device and rings the next agent."""
    a = await agent("bob", ready=True)
    await asyncio.sleep(0.01)
    c = await agent("carol", ready=True)
    await call_in(gateway, "pbx-3")
    offer = await push(a, "offer")
    await push(gateway, "ring_agent")
    await a.request(Decline(id=0, offer=offer.offer))
    stop = await push(gateway, "stop_ringing")
    assert (stop.call_id, stop.agent) == ("pbx-3", "bob")
    ring = await push(gateway, "ring_agent")
    assert ring.agent == "carol"
    await push(c, "offer")


async def test_repeated_and_late_events_change_nothing(agent, gateway, server: App) -> None:
    """Duplicate and out-of-order gateway events never move a call backwards."""
    a = await agent("bob", ready=True)
    ix = await call_in(gateway, "pbx-4")
    again = await gateway.request(
        CallIncoming(id=0, call_id="pbx-4", caller="+15550100200", queue="calls")
    )
    assert again.interaction.id == ix
    await push(a, "offer")
    await gateway.request(AgentAnswered(id=0, call_id="pbx-4", device="bob-soft"))
    await gateway.request(AgentAnswered(id=0, call_id="pbx-4", device="bob-soft"))
    await gateway.request(CallRinging(id=0, call_id="pbx-4"))  # late
    assert server.runtime is not None
    assert server.runtime.calls.live[ix].state == "answered"
    await gateway.request(CallHangup(id=0, call_id="pbx-4"))
    await gateway.request(CallHangup(id=0, call_id="pbx-4"))
    await gateway.request(AgentAnswered(id=0, call_id="pbx-4"))  # after the end
    record = (await a.request(GetCall(id=0, interaction=ix))).record
    assert record.state == "ended"
    assert [s.step for s in record.steps].count("ended") == 1


async def test_agent_ending_hangs_up(agent, gateway) -> None:
    """An agent ending the call makes the gateway hang it up."""
    a = await agent("bob", ready=True)
    ix = await call_in(gateway, "pbx-5")
    offer = await push(a, "offer")
    await a.request(Accept(id=0, offer=offer.offer))
    await a.request(End(id=0, interaction=ix))
    cmd = await push(gateway, "hangup")
    assert cmd.call_id == "pbx-5"


async def test_no_call_during_chat(agent, bot, gateway) -> None:
    """Exclusivity: an agent on a chat is not offered a call until the chat ends."""
    a = await agent("carol", ready=True)
    b = await bot()
    chat = (await b.request(StartChat(id=0, queue="support"))).interaction.id
    offer = await push(a, "offer")
    await a.request(Accept(id=0, offer=offer.offer))
    await call_in(gateway, "pbx-6")
    await asyncio.sleep(0.3)
    assert not a.drain("offer")
    await a.request(End(id=0, interaction=chat))  # support has no wrap-up
    call = await push(a, "offer")
    assert call.interaction.channel == "call"


async def test_identification_outcomes(agent, gateway) -> None:
    """One matching contact is attached; several are offered as a list; none: create one."""
    a = await agent("bob", ready=True)
    # None: the agent creates the contact, which gets the caller's number.
    ix = await call_in(gateway, "pbx-7", caller="+1 (555) 010-0300")
    offer = await push(a, "offer")
    assert offer.interaction.contact is None
    await a.request(Accept(id=0, offer=offer.offer))
    made = await a.request(Identify(id=0, interaction=ix, new_contact=NewContact(name="Ann")))
    assert made.contact.phones == ["+15550100300"]
    await a.request(End(id=0, interaction=ix))
    await a.request(WrapUpDone(id=0))
    # One: attached by itself.
    ix2 = await call_in(gateway, "pbx-8", caller="+15550100300")
    await push(a, "offer")
    record = None
    for _ in range(50):
        record = (await a.request(GetCall(id=0, interaction=ix2))).record
        if record.contact is not None:
            break
        await asyncio.sleep(0.02)
    assert record is not None and record.contact is not None
    assert record.contact.id == made.contact.id
    offer2 = a.drain("offer")
    assert not offer2 or offer2[0].interaction.id == ix2


async def test_several_contacts_listed(agent, gateway, bot) -> None:
    """Several contacts with the caller's number: the agent gets the list and picks one."""
    a = await agent("bob")  # not ready while carol takes the chats
    b = await bot()
    c = await agent("carol", ready=True)
    ids = []
    for n in range(2):
        chat = (await b.request(StartChat(id=0, queue="support"))).interaction.id
        offer = await push(c, "offer")
        await c.request(Accept(id=0, offer=offer.offer))
        made = await c.request(
            Identify(
                id=0, interaction=chat,
                new_contact=NewContact(name=f"Twin {n}", phone="+15550100400"),
            )
        )  # fmt: skip
        ids.append(made.contact.id)
        await c.request(End(id=0, interaction=chat))
    await c.request(SetStatus(id=0, status="not_ready", reason="break"))
    await a.request(SetStatus(id=0, status="ready"))
    ix = await call_in(gateway, "pbx-9", caller="+15550100400")
    await push(a, "offer")
    await asyncio.sleep(0.2)
    record = (await a.request(GetCall(id=0, interaction=ix))).record
    assert record.contact is None
    assert sorted(x.id for x in record.candidates) == sorted(ids)
    picked = await a.request(Identify(id=0, interaction=ix, contact=ids[0]))
    assert picked.contact.id == ids[0]


async def test_callback_cap_dedupe_and_order(agent, gateway) -> None:
    """Callbacks queue by request time, one per caller, at most 2; the 3rd goes to missed flow."""
    now = 1_800_000_000.0
    later = await gateway.request(
        CallbackRequest(id=0, number="+15550100501", queue="calls", requested_at=now + 10)
    )
    earlier = await gateway.request(
        CallbackRequest(id=0, number="+15550100502", queue="calls", requested_at=now)
    )
    assert (later.outcome, earlier.outcome) == ("queued", "queued")
    again = await gateway.request(
        CallbackRequest(id=0, number="+1 555 010 0501", queue="calls", requested_at=now + 20)
    )
    assert (again.outcome, again.interaction.id) == ("duplicate", later.interaction.id)
    third = await gateway.request(
        CallbackRequest(id=0, number="+15550100503", queue="calls", requested_at=now + 5)
    )
    assert third.outcome == "missed_flow" and third.interaction.status == "failed"
    a = await agent("bob", ready=True)
    first = await push(a, "offer")
    assert first.interaction.id == earlier.interaction.id  # asked first, served first
    await a.request(Accept(id=0, offer=first.offer))
    originate = await push(gateway, "originate")
    assert originate.number == "+15550100502" and originate.device == "bob-soft"
    call_id = originate.call_id
    await gateway.request(AgentAnswered(id=0, call_id=call_id, device="bob-soft"))
    play = await push(gateway, "play")
    assert (play.call_id, play.to, play.text) == (call_id, "agent", CALLBACK_ANNOUNCEMENT)
    await gateway.request(CustomerAnswered(id=0, call_id=call_id))
    record = (await a.request(GetCall(id=0, interaction=first.interaction.id))).record
    assert (record.kind, record.state) == ("callback", "connected")


async def test_callback_from_transaction(agent, bot, gateway) -> None:
    """The agent calls the customer of a chat back on its device; it is linked to the chat."""
    a = await agent("alice", ready=True)
    b = await bot()
    chat = (await b.request(StartChat(id=0, queue="sales"))).interaction.id
    offer = await push(a, "offer")
    await a.request(Accept(id=0, offer=offer.offer))
    await a.request(End(id=0, interaction=chat))
    await a.request(WrapUpDone(id=0))
    await a.request(SetStatus(id=0, status="not_ready", reason="callbacks"))
    created = await a.request(
        PlaceCallback(
            id=0, interaction=chat, number="+1 555 010 0600", device="alice-soft", verified=True
        )
    )
    assert created.interaction.status == "assigned" and created.interaction.agent == "alice"
    cmd = await push(gateway, "originate")
    assert (cmd.number, cmd.agent, cmd.device) == ("+15550100600", "alice", "alice-soft")
    await gateway.request(AgentAnswered(id=0, call_id=cmd.call_id))
    await gateway.request(CallHangup(id=0, call_id=cmd.call_id, cause="no_answer"))
    await a.request(
        SetCallResult(id=0, interaction=created.interaction.id, reason="customer did not pick up")
    )
    record = (await a.request(GetCall(id=0, interaction=created.interaction.id))).record
    assert (record.related, record.verified, record.kind) == (chat, True, "outbound")
    assert record.state == "failed" and record.reason == "customer did not pick up"


@pytest.mark.parametrize(
    ("who", "number", "rule"),
    [
        ("alice", "+15550000001", "do_not_call"),
        ("alice", "+19005550100", "company_blacklist"),
        ("alice", "+4930123456", "company_whitelist"),
        ("bob", "+15552222222", "personal_whitelist"),
        ("alice", "+33123456789", "country_whitelist"),
    ],
)
async def test_compliance_refusals(agent, gateway, who: str, number: str, rule: str) -> None:
    """Each compliance rule refuses a callback and says which rule it was."""
    a = await agent(who)
    with pytest.raises(ServerError) as e:
        await a.request(PlaceCallback(id=0, interaction="i-x", number=number, device=f"{who}-soft"))
    assert e.value.code == "refused"
    assert e.value.frame.details == {"rule": rule}
    await asyncio.sleep(0.05)
    assert not gateway.drain("originate")


async def test_callback_needs_a_device(connect, gateway) -> None:
    """An agent without a device is told to activate one; nothing is dialed."""
    sup = await connect()
    await sup.login("sam", "sam-demo")
    cfg = AgentConfig(username="dora", inboxes=["calls"], skills={"support": 5})
    await sup.request(PutAgent(id=0, agent=cfg, password="dora-secret"))
    d = await connect()
    await d.login("dora", "dora-secret")
    with pytest.raises(ServerError) as e:
        await d.request(PlaceCallback(id=0, interaction="i-x", number="+15550100700", device="x"))
    assert "device" in e.value.frame.message


async def test_journey_oldest_first(agent, bot, gateway) -> None:
    """The customer journey lists a contact's calls and chats, oldest first."""
    a = await agent("alice", ready=True)
    b = await bot()
    chat = (await b.request(StartChat(id=0, queue="sales"))).interaction.id
    offer = await push(a, "offer")
    await a.request(Accept(id=0, offer=offer.offer))
    made = await a.request(
        Identify(id=0, interaction=chat, new_contact=NewContact(name="Jo", phone="+15550100800"))
    )
    await a.request(End(id=0, interaction=chat))
    await a.request(WrapUpDone(id=0))
    call = await call_in(gateway, "pbx-10", caller="+15550100800")
    await asyncio.sleep(0.3)
    journey = await a.request(GetJourney(id=0, contact=made.contact.id))
    assert [(e.interaction, e.channel) for e in journey.entries] == [
        (chat, "chat"),
        (call, "call"),
    ]
    assert journey.entries[0].status == "ended" and journey.entries[0].agent == "alice"
    assert journey.entries[1].kind == "inbound"


async def test_gateway_reconnect_replays_commands(agent, connect) -> None:
    """Commands sent while the gateway was away are replayed when it comes back."""
    gw = await connect()
    await gw.login_key("sbk_demo_gateway")
    await call_in(gw, "pbx-11")
    seen = gw.last_seq
    await gw.ws.close()
    await agent("bob", ready=True)
    back = await connect()
    w = await back.login_key("sbk_demo_gateway", last_seq=seen)
    assert w.replayed >= 1 and [i.id for i in w.interactions]
    ring = await push(back, "ring_agent")
    assert ring.call_id == "pbx-11"


async def test_scheduled_call_after_restart(settings, tmp_path) -> None:
    """A scheduled call survives a restart and is placed at its time."""
    app = App(settings)
    await app.start()
    url = f"ws://127.0.0.1:{app.port}/ws"
    a = await Client.connect(url)
    await a.login("bob", "bob-demo")
    at = app.clock() + 2.0
    number = "+15551111111"  # on bob's personal whitelist
    scheduled = await a.request(ScheduleCall(id=0, number=number, at=at, device="bob-soft"))
    assert scheduled.call.status == "pending"
    await a.close()
    await app.stop()
    settings.server.port = 0
    app2 = App(settings)
    await app2.start()
    try:
        url = f"ws://127.0.0.1:{app2.port}/ws"
        gw = await Client.connect(url)
        await gw.login_key("sbk_demo_gateway")
        b = await Client.connect(url)
        await b.login("bob", "bob-demo")
        await b.request(SetStatus(id=0, status="ready"))
        cmd = await push(gw, "originate", timeout=6)
        assert cmd.number == number and cmd.agent == "bob"
        assert app2.clock() >= at
        await gw.close()
        await b.close()
    finally:
        await app2.stop()
