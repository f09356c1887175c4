"""Calls over a real server: the gateway's events and commands, identification,
callbacks and their queue, compliance, scheduled calls, journeys."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from protocol.calls import (
    CALLBACK_ANNOUNCEMENT,
    AgentAnswered,
    CallbackRequest,
    CallRinging,
    CancelScheduledCall,
    CustomerAnswered,
    GetCall,
    GetJourney,
    ListCalls,
    PlaceCallback,
    ScheduleCall,
    SetCallResult,
    StartScheduledCall,
)
from protocol.cases import CreateCase
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


# ------------------------------------------------------------------- my calls


async def test_my_calls_scheduled_and_recent(agent, gateway, server: App) -> None:
    """list_calls: pending scheduled calls soonest first, then the calls the agent
    handled newest first, with number, direction, contact, times, result and case."""
    a = await agent("alice", ready=True)
    now = server.clock()
    later = await a.request(
        ScheduleCall(id=0, number="+1 555 010 0901", at=now + 7200, device="alice-soft")
    )
    sooner = await a.request(
        ScheduleCall(id=0, number="+15550100902", at=now + 3600, device="alice-soft")
    )
    # A call: answered, linked to a new case, hung up, a result set.
    ix = await call_in(gateway, "pbx-20", caller="+15550100903")
    await push(a, "offer")
    await gateway.request(AgentAnswered(id=0, call_id="pbx-20", device="alice-soft"))
    case = await a.request(
        CreateCase(
            id=0, subject="Broken zip", interaction=ix, email="dana@example.com",
            new_contact=NewContact(name="Dana Zip"),
        )
    )  # fmt: skip
    await asyncio.sleep(0.2)
    await gateway.request(CallHangup(id=0, call_id="pbx-20"))
    await a.request(SetCallResult(id=0, interaction=ix, result="resolved", reason="zip sent"))
    mine = await a.request(ListCalls(id=0))
    assert mine.agent == "alice"
    assert [s.id for s in mine.scheduled] == [sooner.call.id, later.call.id]
    assert [s.number for s in mine.scheduled] == ["+15550100902", "+15550100901"]
    assert {s.status for s in mine.scheduled} == {"pending"}
    [call] = mine.recent
    assert (call.interaction, call.kind, call.direction, call.state) == (
        ix, "inbound", "inbound", "ended",
    )  # fmt: skip
    assert (call.number, call.queue, call.result, call.reason) == (
        "+15550100903", "calls", "resolved", "zip sent",
    )  # fmt: skip
    assert call.case == case.case.number
    assert call.contact is not None and call.contact.name == "Dana Zip"
    assert call.started_at <= (call.answered_at or 0) < (call.ended_at or 0)
    assert call.talking is not None and call.talking > 0
    record = (await a.request(GetCall(id=0, interaction=ix))).record
    assert record.case == case.case.number
    # Canceled: no longer listed.
    await a.request(CancelScheduledCall(id=0, scheduled=sooner.call.id))
    mine = await a.request(ListCalls(id=0))
    assert [s.id for s in mine.scheduled] == [later.call.id]


async def test_my_calls_newest_first_and_limit(agent, gateway) -> None:
    """Recent calls are the agent's own, newest first, at most ``limit``."""
    a = await agent("bob", ready=True)
    c = await agent("carol")
    ids = []
    for n in range(3):
        ix = await call_in(gateway, f"pbx-3{n}", caller=f"+1555010099{n}")
        offer = await push(a, "offer")
        await a.request(Accept(id=0, offer=offer.offer))
        await a.request(End(id=0, interaction=ix))
        await a.request(WrapUpDone(id=0))
        ids.append(ix)
    mine = await a.request(ListCalls(id=0, limit=2))
    assert [r.interaction for r in mine.recent] == [ids[2], ids[1]]
    assert [r.number for r in mine.recent] == ["+15550100992", "+15550100991"]
    assert (await c.request(ListCalls(id=0))).recent == []  # carol handled none


async def test_my_calls_include_the_live_call(agent, gateway) -> None:
    """The call the agent is on is listed with its live state."""
    a = await agent("bob", ready=True)
    ix = await call_in(gateway, "pbx-40")
    await push(a, "offer")
    await gateway.request(AgentAnswered(id=0, call_id="pbx-40", device="bob-soft"))
    [call] = (await a.request(ListCalls(id=0))).recent
    assert (call.interaction, call.state, call.ended_at) == (ix, "answered", None)


async def test_supervisor_lists_an_agents_calls(agent, connect) -> None:
    """A supervisor names the agent; agents see only their own."""
    a = await agent("bob")
    at = 4_000_000_000.0
    made = await a.request(ScheduleCall(id=0, number="+15551111111", at=at, device="bob-soft"))
    sam = await connect()
    await sam.login("sam", "sam-demo")
    listed = await sam.request(ListCalls(id=0, agent="bob"))
    assert listed.agent == "bob" and [s.id for s in listed.scheduled] == [made.call.id]
    own = await a.request(ListCalls(id=0, agent="bob"))
    assert [s.id for s in own.scheduled] == [made.call.id]


@pytest.mark.parametrize(
    ("who", "frame", "code"),
    [
        ("alice", lambda s: ListCalls(id=0, agent="bob"), "forbidden"),
        ("sam", lambda s: ListCalls(id=0), "invalid"),
        ("sam", lambda s: ListCalls(id=0, agent="nobody"), "not_found"),
        ("sam", lambda s: ListCalls(id=0, agent="sam"), "not_found"),
        ("alice", lambda s: {"type": "list_calls", "id": 0, "limit": 0}, "invalid"),
        ("alice", lambda s: {"type": "list_calls", "id": 0, "agent": "a b"}, "invalid"),
        ("alice", lambda s: CancelScheduledCall(id=0, scheduled="s-nope"), "not_found"),
        ("alice", lambda s: StartScheduledCall(id=0, scheduled="s-nope"), "not_found"),
        ("carol", lambda s: StartScheduledCall(id=0, scheduled=s), "not_found"),
        ("sam", lambda s: StartScheduledCall(id=0, scheduled=s), "forbidden"),
    ],
)
async def test_my_calls_bad_input(
    agent, connect, server: App, who: str, frame: Callable[[str], Any], code: str
) -> None:
    """Bad requests get a stable error code and change nothing."""
    bob = await agent("bob")
    bobs = await bob.request(
        ScheduleCall(id=0, number="+15551111111", at=server.clock() + 600, device="bob-soft")
    )
    c = await connect()
    await c.login(who, f"{who}-demo")
    request = frame(bobs.call.id)
    if isinstance(request, dict):  # not even a valid frame: the codec refuses it
        data = c.codec.encode(request)
        await c.send_raw(data.decode() if c.codec.text else data)
        error = await asyncio.wait_for(c.orphan_errors.get(), 5)
    else:
        with pytest.raises(ServerError) as e:
            await c.request(request)
        error = e.value.frame
    assert error.code == code
    assert server.runtime is not None
    assert list(server.runtime.calls.scheduled) == [bobs.call.id]
    assert server.runtime.calls.scheduled[bobs.call.id].status == "pending"
    mine = await bob.request(ListCalls(id=0))
    assert [s.id for s in mine.scheduled] == [bobs.call.id] and mine.recent == []


async def test_start_scheduled_call_now(agent, gateway, server: App) -> None:
    """An agent places its scheduled call at once; busy, it is refused and kept."""
    a = await agent("bob")
    made = await a.request(
        ScheduleCall(id=0, number="+15551111111", at=server.clock() + 600, device="bob-soft")
    )
    other = await a.request(
        ScheduleCall(id=0, number="+15551111111", at=server.clock() + 900, device="bob-soft")
    )
    started = await a.request(StartScheduledCall(id=0, scheduled=made.call.id))
    assert started.call.status == "placed" and started.call.interaction
    cmd = await push(gateway, "originate")
    assert (cmd.number, cmd.agent, cmd.device) == ("+15551111111", "bob", "bob-soft")
    # On that call, bob cannot start the other one: refused, still pending.
    with pytest.raises(ServerError) as e:
        await a.request(StartScheduledCall(id=0, scheduled=other.call.id))
    assert e.value.code == "conflict"
    with pytest.raises(ServerError) as e:
        await a.request(StartScheduledCall(id=0, scheduled=made.call.id))
    assert e.value.code == "not_found"  # placed already
    mine = await a.request(ListCalls(id=0))
    assert [s.id for s in mine.scheduled] == [other.call.id]
    [call] = mine.recent
    assert (call.interaction, call.kind, call.direction) == (
        started.call.interaction, "scheduled", "outbound",
    )  # fmt: skip
    record = (await a.request(GetCall(id=0, interaction=call.interaction))).record
    assert (record.kind, record.state, record.number) == (
        "scheduled",
        "dialing_agent",
        "+15551111111",
    )
