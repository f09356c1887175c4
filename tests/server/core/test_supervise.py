"""Supervisors ending and reassigning live interactions, on a fake clock."""

from __future__ import annotations

import msgspec
import pytest

from protocol.calls import Hangup, RingAgent, StopRinging
from protocol.config import Device
from protocol.errors import ErrorCode
from protocol.routing import AgentChanged, InteractionChanged, OfferClosed, Offered
from protocol.supervision import Reassigned
from server.core import effects as fx
from server.core.calls import Calls
from server.core.chats import Conversations

# ---------------------------------------------------------------------- helpers


def with_ann(desk, wrap_up: float = 0.0, owner: str = "bot"):
    """Queue ``q``; ann accepted a chat; bob connected but not ready."""
    desk.queue(wrap_up=wrap_up)
    desk.agent("ann")
    desk.agent("bob", status="not_ready")
    ix = desk.chat(owner=owner)
    desk.accept("ann")
    desk.effects()
    return ix


def with_device(desk, name: str) -> None:
    """Give agent ``name`` a softphone (calls need a device to ring)."""
    cfg = desk.router.agents[name].cfg
    device = Device(id=f"{name}-soft", address=f"sip:{name}@pbx")
    desk.router.put_agent(msgspec.structs.replace(cfg, devices=[device]))


def call_desk(desk, *names: str) -> Calls:
    """A call queue ``q`` (no wrap-up) and agents with devices; the first ready."""
    calls = Calls(desk.router)
    desk.queue(channel="call")
    for i, name in enumerate(names):
        desk.agent(name, status="ready" if i == 0 else "not_ready")
        with_device(desk, name)
    return calls


# -------------------------------------------------------------------------- end


def test_supervisor_ends_a_chat_naming_themselves(desk) -> None:
    """The chat is completed; its end reason names the supervisor; agent and bot told."""
    ix = with_ann(desk)
    desk.clock.advance(30)
    desk.router.end_by_supervisor(ix.id, "sue")
    assert (ix.status, ix.chat_state, ix.ended_at) == ("ended", "completed", desk.clock.now)
    assert ix.end_reason == "ended_by_supervisor:sue"
    effects = desk.effects()
    told = {e.to for e in desk.sends(effects, InteractionChanged)}
    assert told == {fx.key("bot"), fx.agent("ann")}
    assert [p.row.status for p in desk.persists(effects, "interaction")] == ["ended"]
    assert desk.router.agents["ann"].state == "idle"  # q has no wrap-up
    assert ix.id not in desk.router.interactions


def test_supervisor_end_with_a_reason_and_wrap_up(desk) -> None:
    """A reason is kept after the name; the agent goes to its queue's wrap-up."""
    ix = with_ann(desk, wrap_up=20)
    desk.router.end_by_supervisor(ix.id, "sue", "spam")
    assert ix.end_reason == "ended_by_supervisor:sue:spam"
    ann = desk.router.agents["ann"]
    assert (ann.state, ann.wrap_up_until) == ("wrap_up", desk.clock.now + 20)
    desk.tick(20)
    assert ann.state == "idle"


def test_supervisor_ends_a_waiting_chat(desk) -> None:
    """Ending a chat nobody took fails it, still naming the supervisor."""
    desk.queue()
    ix = desk.chat()
    desk.router.end_by_supervisor(ix.id, "sue")
    assert (ix.status, ix.end_reason) == ("failed", "ended_by_supervisor:sue")
    assert desk.router.waiting("q") == []


def test_supervisor_end_of_unknown_or_ended_interaction(desk) -> None:
    """Unknown or already ended: not_found, nothing changes."""
    ix = with_ann(desk)
    assert desk.refused(desk.router.end_by_supervisor, "nope", "sue").code == ErrorCode.NOT_FOUND
    desk.router.end_by_supervisor(ix.id, "sue")
    assert desk.refused(desk.router.end_by_supervisor, ix.id, "sue").code == ErrorCode.NOT_FOUND


def test_supervisor_ends_a_call_and_the_gateway_hangs_up(desk) -> None:
    """Ending a connected call commands the gateway to hang up, with the reason."""
    calls = call_desk(desk, "ann")
    ix = calls.incoming("gw", "pbx-1", "+15550001111", "", "q")
    calls.event("gw", "pbx-1", "agent_answered")
    assert ix.status == "assigned"
    desk.effects()
    desk.router.end_by_supervisor(ix.id, "sue")
    effects = desk.effects()
    [hangup] = [e.frame for e in desk.sends(effects, Hangup, fx.key("gw"))]
    assert (hangup.call_id, hangup.cause) == ("pbx-1", "ended_by_supervisor:sue")
    assert ix.id not in calls.live and ix.status == "ended"
    ann = desk.router.agents["ann"]
    assert (ann.interaction, ann.state) == (None, "idle")


# ------------------------------------------------------------- back to queue


def test_reassign_to_queue_goes_to_another_agent(desk) -> None:
    """Back to its queue: offered to the next free agent; the first one is told."""
    ix = with_ann(desk)
    desk.router.set_status("bob", "ready")
    assert desk.offered_to(ix) is None  # bob is free but ix is ann's
    desk.effects()
    desk.router.reassign(ix.id, "sue")
    effects = desk.effects()
    assert desk.offered_to(ix) == "bob" and ix.agent is None and ix.status == "assigning"
    [push] = [e.frame for e in desk.sends(effects, Reassigned, fx.agent("ann"))]
    assert (push.by, push.to, push.interaction.id) == ("sue", None, ix.id)
    ann = desk.router.agents["ann"]
    assert (ann.interaction, ann.state) == (None, "idle")
    assert next(p.row.status for p in desk.persists(effects, "interaction")) == "waiting"
    # The bot sees it waiting again, then offered.
    to_bot = [e.frame.interaction.status for e in desk.sends(effects, InteractionChanged)]
    assert to_bot[:2] == ["waiting", "assigning"]
    desk.accept("bob")
    assert (ix.status, ix.agent) == ("assigned", "bob")


def test_reassign_to_queue_is_at_the_head(desk) -> None:
    """It goes before interactions that were already waiting."""
    ix = with_ann(desk, wrap_up=30)  # ann does not take the older one meanwhile
    older = desk.chat()
    assert desk.router.waiting("q") == [older]
    desk.router.reassign(ix.id, "sue")
    assert desk.router.waiting("q") == [ix, older]
    assert ix.band == 0


def test_reassign_to_queue_passes_over_the_agent_that_had_it(desk) -> None:
    """Alone in the queue, the agent that lost it gets it back only after the delay."""
    ix = with_ann(desk)
    desk.router.reassign(ix.id, "sue")
    assert desk.offered_to(ix) is None and desk.router.agents["ann"].state == "idle"
    desk.tick(desk.router.settings.reoffer_delay)
    assert desk.offered_to(ix) == "ann"


def test_reassign_to_queue_wrap_up_per_queue(desk) -> None:
    """The agent losing it goes to the queue's wrap-up, as after an end."""
    ix = with_ann(desk, wrap_up=15)
    desk.router.reassign(ix.id, "sue")
    ann = desk.router.agents["ann"]
    assert (ann.state, ann.wrap_up_until) == ("wrap_up", desk.clock.now + 15)
    effects = desk.effects()
    states = [e.frame.agent.state for e in desk.sends(effects, AgentChanged, fx.agent("ann"))]
    assert states[-1] == "wrap_up"


def test_reassign_of_a_disconnected_agents_chat(desk) -> None:
    """An agent in its grace period can lose the chat; the grace timer then finds nothing."""
    ix = with_ann(desk)
    desk.router.disconnect("ann")
    desk.router.reassign(ix.id, "sue")
    assert ix.status == "waiting" and desk.router.agents["ann"].interaction is None
    desk.tick(desk.router.settings.grace)
    ann = desk.router.agents["ann"]
    assert (ann.status, ann.state) == ("offline", "idle")
    assert ix.status == "waiting"


# -------------------------------------------------------------- to an agent


def test_reassign_to_agent_offers_it_and_the_transcript_follows(desk) -> None:
    """Ann's chat is offered to bob; on accept it is his, with every message."""
    talk = Conversations(desk.router)
    ix = with_ann(desk)
    talk.post(ix.id, "customer", "bot", "c1", "Hello")
    talk.post(ix.id, "agent", "ann", "a1", "Hi, ann here")
    desk.router.set_status("bob", "ready")
    desk.effects()
    desk.router.reassign(ix.id, "sue", "bob")
    effects = desk.effects()
    [offer] = [e.frame for e in desk.sends(effects, Offered, fx.agent("bob"))]
    assert offer.interaction.id == ix.id and offer.interaction.chat_state == "in_progress"
    [push] = [e.frame for e in desk.sends(effects, Reassigned, fx.agent("ann"))]
    assert (push.by, push.to) == ("sue", "bob")
    assert desk.router.agents["ann"].state == "idle"
    desk.accept("bob")
    effects = desk.effects()
    assert (ix.status, ix.agent) == ("assigned", "bob")
    assert next(p.row for p in desk.persists(effects, "handled"))[:2] == (ix.id, "bob")
    # Between the two messages, the transcript says who left and who took it.
    lines = [(m.n, m.text) for m in (p.row for p in desk.persists(effects, "message"))]
    assert lines == [(4, "bob took the chat.")]
    assert talk.live[ix.id].sent[("system", "", "system-left-3")].text == (
        "A supervisor moved the chat away from ann."
    )
    message, _ = talk.post(ix.id, "customer", "bot", "c2", "Still there?")
    assert message.n == 5
    assert talk.writable(ix.id, "agent", "bob") is ix
    assert desk.refused(talk.writable, ix.id, "agent", "ann").code == ErrorCode.FORBIDDEN


def test_reassign_to_agent_that_declines_waits_at_the_head(desk) -> None:
    """Declined by the chosen agent, it waits at the head of its queue for others."""
    ix = with_ann(desk, wrap_up=30)
    older = desk.chat()
    desk.router.set_status("bob", "ready")  # takes the older chat
    assert desk.offered_to(older) == "bob"
    desk.decline("bob")  # bob is now passed over for older
    desk.router.reassign(ix.id, "sue", "bob")
    assert desk.offered_to(ix) == "bob"
    desk.decline("bob")
    assert desk.router.waiting("q") == [ix, older]
    desk.agent("cat")
    assert desk.offered_to(ix) == "cat"


def test_reassign_a_waiting_chat_to_an_agent_outside_the_queue(desk) -> None:
    """A waiting chat can be handed to any free agent with the channel."""
    desk.queue(skills={"french": 5})
    desk.queue("other")
    desk.agent("bob", inboxes=("other",))
    ix = desk.chat()
    assert desk.offered_to(ix) is None
    desk.router.reassign(ix.id, "sue", "bob")
    assert desk.offered_to(ix) == "bob"
    desk.accept("bob")
    assert (ix.status, ix.agent, ix.queue) == ("assigned", "bob", "q")


def test_reassign_an_offered_chat_rescinds_the_offer(desk) -> None:
    """An offer open to ann is rescinded ("reassigned") and made to bob."""
    desk.queue()
    desk.agent("ann")
    desk.agent("bob", status="not_ready")
    ix = desk.chat()
    first = desk.offer("ann")
    assert first is not None
    desk.router.set_status("bob", "ready")
    desk.effects()
    desk.router.reassign(ix.id, "sue", "bob")
    effects = desk.effects()
    [closed] = [e.frame for e in desk.sends(effects, OfferClosed, fx.agent("ann"))]
    assert (closed.offer, closed.outcome, closed.reason) == (first.id, "rescinded", "reassigned")
    assert desk.offered_to(ix) == "bob"
    assert desk.sends(effects, Reassigned) == []  # ann never had it


def test_reassign_a_waiting_call_rings_the_chosen_agent(desk) -> None:
    """A call ringing ann's device moves to bob's: stop ringing there, ring here."""
    calls = call_desk(desk, "ann", "bob")
    ix = calls.incoming("gw", "pbx-2", "+15550002222", "", "q")
    assert desk.offered_to(ix) == "ann"
    desk.router.set_status("bob", "ready")
    desk.effects()
    desk.router.reassign(ix.id, "sue", "bob")
    effects = desk.effects()
    stop = [e.frame for e in desk.sends(effects, StopRinging, fx.key("gw"))]
    ring = [e.frame for e in desk.sends(effects, RingAgent, fx.key("gw"))]
    assert [(s.agent, s.device) for s in stop] == [("ann", "ann-soft")]
    assert [(r.agent, r.device) for r in ring] == [("bob", "bob-soft")]
    calls.event("gw", "pbx-2", "agent_answered")
    assert (ix.status, ix.agent) == ("assigned", "bob")


# ------------------------------------------------------------------- refusals


@pytest.fixture
def busy_desk(desk):
    """ann has a chat; bob, cat, dan, eve, fay in various states; gus takes no chats."""
    ix = with_ann(desk, wrap_up=30)
    desk.agent("bob")  # ready: takes the next chat
    desk.chat()
    desk.accept("bob")  # bob is busy
    desk.agent("cat", status="not_ready", reason="lunch")
    desk.agent("dan", connect=False, status="offline")
    desk.agent("eve")
    other = desk.chat()
    assert desk.offered_to(other) == "eve"  # eve has an open offer
    desk.agent("fay")
    done = desk.chat()
    desk.router.end(desk.accept("fay").id, ("agent", "fay"))  # fay is in wrap-up
    assert done.status == "ended"
    desk.agent("gus", channels=("call",))
    desk.effects()
    return desk, ix


@pytest.mark.parametrize(
    ("to", "code", "agent_state"),
    [
        ("bob", ErrorCode.CONFLICT, "busy"),
        ("cat", ErrorCode.CONFLICT, "not_ready"),
        ("dan", ErrorCode.CONFLICT, "offline"),
        ("eve", ErrorCode.CONFLICT, "offered"),
        ("fay", ErrorCode.CONFLICT, "wrap_up"),
        ("gus", ErrorCode.INVALID, None),
        ("ann", ErrorCode.CONFLICT, None),  # already hers
        ("nobody", ErrorCode.NOT_FOUND, None),
    ],
)
def test_reassign_to_an_agent_that_is_not_free(busy_desk, to, code, agent_state) -> None:
    """Busy, not ready, offline, offered, in wrap-up, no chat channel, the same
    agent, unknown: refused with a stable code, and nothing changes."""
    desk, ix = busy_desk
    err = desk.refused(desk.router.reassign, ix.id, "sue", to)
    assert err.code == code
    assert err.details.get("agent") == agent_state


def test_reassign_refusals_of_the_interaction(desk) -> None:
    """Unknown, ended, waiting (to its queue) or offered to the same agent: refused."""
    ix = with_ann(desk)
    waiting = desk.chat()
    r = desk.router
    assert desk.refused(r.reassign, "nope", "sue").code == ErrorCode.NOT_FOUND
    assert desk.refused(r.reassign, waiting.id, "sue").code == ErrorCode.CONFLICT
    r.end(ix.id, ("agent", "ann"))
    assert desk.refused(r.reassign, ix.id, "sue").code == ErrorCode.NOT_FOUND
    assert desk.refused(r.reassign, ix.id, "sue", "bob").code == ErrorCode.NOT_FOUND
    assert desk.offered_to(waiting) == "ann"  # ann was free again
    assert desk.refused(r.reassign, waiting.id, "sue", "ann").code == ErrorCode.CONFLICT


def test_reassign_of_a_connected_call_is_refused(desk) -> None:
    """A call an agent is on moves by a transfer on the phone: refused, call_connected."""
    calls = call_desk(desk, "ann", "bob")
    desk.router.set_status("bob", "ready")
    ix = calls.incoming("gw", "pbx-3", "+15550003333", "", "q")
    calls.event("gw", "pbx-3", "agent_answered")
    assert ix.agent == "ann"
    for to in (None, "bob"):
        err = desk.refused(desk.router.reassign, ix.id, "sue", to)
        assert (err.code, err.details) == (ErrorCode.REFUSED, {"rule": "call_connected"})
