"""Routing rules: presence, one interaction at a time, skills, strategies, order."""

from __future__ import annotations

from protocol.errors import ErrorCode
from protocol.routing import OfferClosed, Offered

# ---------------------------------------------------------------- presence


def test_offline_agent_gets_nothing_until_connected_and_ready(desk) -> None:
    """An agent that exists but is offline and not connected gets no offer."""
    desk.queue()
    desk.agent("ann", connect=False, status="offline")
    ix = desk.chat()
    assert ix.status == "waiting" and desk.offer("ann") is None
    desk.router.connect("ann")
    assert desk.offer("ann") is None  # connected, but still offline
    desk.router.set_status("ann", "ready")
    assert desk.offered_to(ix) == "ann"


def test_connected_offline_status_is_not_routable(desk) -> None:
    """A connected agent whose status is offline gets no offer."""
    desk.queue()
    desk.agent("ann", status="offline")
    desk.chat()
    assert desk.offer("ann") is None


def test_not_ready_keeps_its_reason_and_gets_no_offer(desk) -> None:
    """Not ready carries a reason and holds the agent out of routing until ready."""
    desk.queue()
    ann = desk.agent("ann", status="not_ready", reason="lunch")
    assert (ann.status, ann.reason) == ("not_ready", "lunch")
    assert ann.view().reason == "lunch"
    ix = desk.chat()
    assert desk.offer("ann") is None
    desk.router.set_status("ann", "ready", "ignored")
    assert ann.reason == ""
    assert desk.offered_to(ix) == "ann"


def test_ready_but_disconnected_is_not_routable(desk) -> None:
    """A ready status alone is not enough: the agent must be connected."""
    desk.queue()
    desk.agent("ann", connect=False)
    ix = desk.chat()
    assert desk.offer("ann") is None
    desk.router.connect("ann")
    assert desk.offered_to(ix) == "ann"


def test_only_ready_idle_agent_of_several_gets_the_offer(desk) -> None:
    """Of offline, not-ready, disconnected and ready agents only the ready one is offered."""
    desk.queue()
    desk.agent("off", status="offline")
    desk.agent("brk", status="not_ready", reason="break")
    desk.agent("gone", connect=False)
    desk.agent("ann")
    ix = desk.chat()
    assert desk.offered_to(ix) == "ann"


def test_set_status_of_unknown_agent_is_not_found(desk) -> None:
    """Setting the status of an agent that does not exist is refused with NOT_FOUND."""
    err = desk.refused(desk.router.set_status, "nobody", "ready")
    assert err.code == ErrorCode.NOT_FOUND


def test_going_not_ready_rescinds_pending_offer_to_another_agent(desk) -> None:
    """An agent going not ready loses its pending offer, which goes to the next agent."""
    desk.queue()
    desk.agent("ann")
    desk.clock.advance(1)
    desk.agent("bob")
    ix = desk.chat()
    assert desk.offered_to(ix) == "ann"
    desk.effects()
    desk.router.set_status("ann", "not_ready", "break")
    assert desk.offer("ann") is None
    assert desk.offered_to(ix) == "bob"
    closed = [s.frame for s in desk.sends(desk.effects(), OfferClosed)]
    assert [(c.outcome, c.reason) for c in closed] == [("rescinded", "agent_not_ready")]


def test_not_ready_while_busy_takes_effect_when_work_ends(desk) -> None:
    """Going not ready while busy keeps the interaction; afterwards no new work comes."""
    desk.queue()
    desk.agent("ann")
    first = desk.chat()
    desk.accept("ann")
    second = desk.chat()
    desk.router.set_status("ann", "not_ready", "training")
    assert desk.router.agents["ann"].interaction is first
    desk.router.end(first.id, ("agent", "ann"))
    assert second.status == "waiting" and desk.offer("ann") is None
    desk.router.set_status("ann", "ready")
    assert desk.offered_to(second) == "ann"


# ------------------------------------------------------ one active interaction


def test_agent_with_active_chat_is_not_offered_a_call(desk) -> None:
    """A call waits while the only agent is on a chat, and is offered once the chat ends."""
    desk.queue("chats", channel="chat")
    desk.queue("calls", channel="call")
    desk.agent("ann", inboxes=["chats", "calls"])
    chat = desk.chat("chats")
    desk.accept("ann")
    call = desk.call("calls")
    assert call.status == "waiting" and desk.offer("ann") is None
    desk.router.end(chat.id, ("agent", "ann"))
    assert desk.offered_to(call) == "ann"


def test_agent_with_active_call_is_not_offered_a_chat(desk) -> None:
    """A chat waits while the only agent is on a call."""
    desk.queue("chats", channel="chat")
    desk.queue("calls", channel="call")
    desk.agent("ann", inboxes=["chats", "calls"])
    call = desk.call("calls")
    desk.accept("ann")
    chat = desk.chat("chats")
    assert chat.status == "waiting" and desk.offer("ann") is None
    desk.router.end(call.id, ("key", "gw"))
    assert desk.offered_to(chat) == "ann"


def test_agent_with_open_chat_offer_is_not_offered_a_call(desk) -> None:
    """While an offer is pending the agent gets no second offer, on any channel."""
    desk.queue("chats", channel="chat")
    desk.queue("calls", channel="call")
    desk.agent("ann", inboxes=["chats", "calls"])
    desk.clock.advance(1)
    desk.agent("bob", inboxes=["calls"])
    chat = desk.chat("chats")
    call = desk.call("calls")
    assert desk.offered_to(chat) == "ann"
    assert desk.offered_to(call) == "bob"
    another = desk.call("calls")
    assert another.status == "waiting"


def test_agent_in_wrap_up_is_not_offered_either_channel(desk) -> None:
    """Wrap-up after a chat holds the agent out of call routing too."""
    desk.queue("chats", channel="chat", wrap_up=30)
    desk.queue("calls", channel="call")
    ann = desk.agent("ann", inboxes=["chats", "calls"])
    desk.chat("chats")
    desk.serve("ann")
    assert ann.state == "wrap_up"
    call = desk.call("calls")
    assert call.status == "waiting"
    desk.tick(29.9)
    assert call.status == "waiting"
    desk.tick(0.1)
    assert desk.offered_to(call) == "ann"


# ----------------------------------------------------------- skill matching


def test_skill_below_minimum_level_is_not_offered(desk) -> None:
    """An agent whose skill level is under the queue's minimum is skipped."""
    desk.queue(skills={"en": 5})
    desk.agent("low", skills={"en": 4})
    ix = desk.chat()
    assert ix.status == "waiting"
    desk.agent("high", skills={"en": 5})
    assert desk.offered_to(ix) == "high"


def test_every_required_skill_is_needed(desk) -> None:
    """An agent missing one of several required skills is not eligible."""
    desk.queue(skills={"en": 1, "billing": 2})
    desk.agent("en_only", skills={"en": 9})
    desk.agent("billing_only", skills={"billing": 9})
    ix = desk.chat()
    assert ix.status == "waiting"
    desk.agent("both", skills={"en": 1, "billing": 2})
    assert desk.offered_to(ix) == "both"


def test_channel_must_be_enabled(desk) -> None:
    """An agent without the call channel is never offered a call, even as a member."""
    desk.queue(channel="call")
    desk.agent("chatter", channels=["chat"])
    ix = desk.call()
    assert ix.status == "waiting"
    desk.agent("caller", channels=["call"])
    assert desk.offered_to(ix) == "caller"


def test_inbox_membership_is_required(desk) -> None:
    """Skills are not enough: the agent must be a member of the queue."""
    desk.queue("q")
    desk.queue("other")
    desk.agent("outsider", inboxes=["other"])
    ix = desk.chat("q")
    assert ix.status == "waiting"
    desk.agent("member", inboxes=["q"])
    assert desk.offered_to(ix) == "member"


# ---------------------------------------------------------------- strategies


def test_longest_idle_is_the_default(desk) -> None:
    """By default the agent idle the longest gets the next offer."""
    desk.queue()
    desk.agent("ann")
    desk.clock.advance(1)
    desk.agent("bob")
    desk.clock.advance(1)
    desk.agent("cat")
    assert desk.offered_to(desk.chat()) == "ann"
    assert desk.offered_to(desk.chat()) == "bob"
    assert desk.offered_to(desk.chat()) == "cat"


def test_longest_idle_counts_from_when_work_ended(desk) -> None:
    """An agent that just finished work goes behind agents idle since earlier."""
    desk.queue()
    desk.agent("ann")
    desk.clock.advance(1)
    desk.agent("bob")
    desk.chat()
    desk.clock.advance(5)
    desk.serve("ann")  # ann idle again at t+6, bob idle since t+1
    assert desk.offered_to(desk.chat()) == "bob"
    assert desk.offered_to(desk.chat()) == "ann"


def test_round_robin_takes_turns(desk) -> None:
    """Round robin offers to each agent in turn, whoever has been idle longest."""
    desk.queue(strategy="round_robin")
    for name in ("ann", "bob", "cat"):
        desk.agent(name)
    got = []
    for _ in range(6):
        ix = desk.chat()
        name = desk.offered_to(ix)
        got.append(name)
        desk.serve(name)
    assert got[:3] == sorted(got[:3]) and len(set(got[:3])) == 3
    assert got[3:] == got[:3]


def test_skill_level_prefers_the_highest_skill(desk) -> None:
    """The skill_level strategy offers to the highest summed skill first, ties by idle time."""
    desk.queue(strategy="skill_level", skills={"en": 1, "sales": 1})
    desk.agent("mid", skills={"en": 5, "sales": 5})
    desk.clock.advance(1)
    desk.agent("top", skills={"en": 9, "sales": 6})
    desk.clock.advance(1)
    desk.agent("mid2", skills={"en": 6, "sales": 4})
    assert desk.offered_to(desk.chat()) == "top"
    assert desk.offered_to(desk.chat()) == "mid"  # same score as mid2, idle longer
    assert desk.offered_to(desk.chat()) == "mid2"


# --------------------------------------------------------------- queue order


def test_one_queue_is_first_come_first_served(desk) -> None:
    """Within a queue interactions are offered in arrival order."""
    desk.queue()
    first, second, third = desk.chat(), desk.chat(), desk.chat()
    assert desk.router.waiting("q") == [first, second, third]
    desk.agent("ann")
    assert desk.offered_to(first) == "ann"
    desk.serve("ann")
    assert desk.offered_to(second) == "ann"


def test_higher_priority_queue_first_across_the_agents_queues(desk) -> None:
    """An agent serving several queues takes the higher-priority queue's work first."""
    desk.queue("low", priority=0)
    desk.queue("high", priority=5)
    old = desk.chat("low")
    new = desk.chat("high")
    desk.agent("ann", inboxes=["low", "high"])
    assert desk.offered_to(new) == "ann"
    desk.serve("ann")
    assert desk.offered_to(old) == "ann"


def test_equal_priority_queues_serve_the_earliest_arrival(desk) -> None:
    """With equal priorities the earliest arrival across the agent's queues comes first."""
    desk.queue("a")
    desk.queue("b")
    first = desk.chat("b")
    second = desk.chat("a")
    desk.agent("ann", inboxes=["a", "b"])
    assert desk.offered_to(first) == "ann"
    desk.serve("ann")
    assert desk.offered_to(second) == "ann"


def test_priority_orders_within_a_queue_after_a_priority_edit(desk) -> None:
    """Interactions keep the priority they arrived with; later higher-priority ones go first."""
    desk.queue(priority=0)
    old = desk.chat()
    desk.queue(priority=3)
    new = desk.chat()
    assert desk.router.waiting("q") == [new, old]


def test_offered_push_goes_to_the_agent_with_expiry(desk) -> None:
    """The offer push goes to the agent only and says when it expires."""
    desk.queue(offer_timeout=15)
    desk.agent("ann")
    desk.effects()
    ix = desk.chat()
    offers = desk.sends(desk.effects(), Offered)
    assert [s.to for s in offers] == [("agent", "ann")]
    frame = offers[0].frame
    assert frame.interaction.id == ix.id and frame.interaction.status == "assigning"
    assert frame.expires_at == desk.clock.now + 15 and frame.timeout == 15
