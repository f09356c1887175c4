"""Ending, refusals that change nothing, effect order, live configuration, gateway repeats."""

from __future__ import annotations

import pytest

from protocol.config import AgentConfig, QueueConfig
from protocol.errors import ErrorCode
from protocol.routing import AgentChanged, InteractionChanged, OfferClosed, Offered
from server.core import Persist, Send

# ----------------------------------------------------------------------- end


def assigned(desk, owner="bot"):
    desk.queue()
    desk.agent("ann")
    desk.agent("bob")
    desk.chat(owner=owner)
    return desk.accept("ann")


def test_agent_on_it_ends_it(desk) -> None:
    """The agent handling an interaction may end it: ended, by agent, at now."""
    ix = assigned(desk)
    desk.clock.advance(42)
    got = desk.router.end(ix.id, ("agent", "ann"))
    assert got is ix
    assert (ix.status, ix.end_reason, ix.ended_at) == ("ended", "ended_by_agent", desk.clock.now)
    assert ix.id not in desk.router.interactions and "bot" not in desk.router.by_owner


def test_owner_key_ends_it(desk) -> None:
    """The bot or gateway that brought the interaction may end it."""
    ix = assigned(desk, owner="bot9")
    desk.router.end(ix.id, ("key", "bot9"), reason="customer_left")
    assert (ix.status, ix.end_reason) == ("ended", "customer_left")


def test_supervisor_ends_it(desk) -> None:
    """A supervisor may end any interaction."""
    ix = assigned(desk)
    desk.router.end(ix.id, ("supervisor", "sue"))
    assert (ix.status, ix.end_reason) == ("ended", "ended_by_supervisor")


@pytest.mark.parametrize(
    "actor", [("agent", "bob"), ("key", "other_bot"), ("agent", "bot"), ("key", "ann")]
)
def test_others_may_not_end_it(desk, actor) -> None:
    """Another agent, another key, or a name in the wrong role is FORBIDDEN and changes nothing."""
    ix = assigned(desk)
    assert desk.refused(desk.router.end, ix.id, actor).code == ErrorCode.FORBIDDEN
    assert ix.status == "assigned"


def test_offered_agent_may_not_end_it(desk) -> None:
    """An agent with only an offer must decline, not end: FORBIDDEN."""
    desk.queue()
    desk.agent("ann")
    ix = desk.chat()
    assert desk.refused(desk.router.end, ix.id, ("agent", "ann")).code == ErrorCode.FORBIDDEN


def test_end_of_unknown_interaction_is_not_found(desk) -> None:
    """Ending an interaction that is not live is NOT_FOUND."""
    ix = assigned(desk)
    desk.router.end(ix.id, ("agent", "ann"))
    assert desk.refused(desk.router.end, ix.id, ("supervisor", "s")).code == ErrorCode.NOT_FOUND
    assert desk.refused(desk.router.end, "i404", ("supervisor", "s")).code == ErrorCode.NOT_FOUND


def test_ending_a_waiting_interaction_fails_it_abandoned(desk) -> None:
    """A waiting interaction ended by its owner is failed, 'abandoned', and leaves the line."""
    desk.queue()
    first, second = desk.chat(), desk.chat()
    desk.router.end(first.id, ("key", "bot"))
    assert (first.status, first.end_reason) == ("failed", "abandoned")
    assert desk.router.waiting("q") == [second]
    desk.agent("ann")
    assert desk.offered_to(second) == "ann"


def test_ending_an_offered_interaction_rescinds_and_frees_the_agent(desk) -> None:
    """Ending one being offered rescinds the offer; the agent takes the next at once."""
    desk.queue()
    desk.agent("ann")
    first, second = desk.chat(), desk.chat()
    offer = desk.offer("ann")
    desk.effects()
    desk.router.end(first.id, ("key", "bot"))
    assert (first.status, first.end_reason, first.offer) == ("failed", "abandoned", None)
    assert offer.state == "rescinded" and offer.id not in desk.router.offers
    closed = desk.sends(desk.effects(), OfferClosed)
    assert [(c.frame.outcome, c.frame.reason) for c in closed] == [
        ("rescinded", "interaction_ended")
    ]
    assert desk.offered_to(second) == "ann"


def test_end_with_wrap_up_then_agent_is_free(desk) -> None:
    """Ending an interaction of a queue with wrap-up puts its agent into wrap-up."""
    desk.queue(wrap_up=15)
    ann = desk.agent("ann")
    desk.chat()
    ix = desk.accept("ann")
    desk.router.end(ix.id, ("key", "bot"))
    assert ann.state == "wrap_up"
    desk.tick(15)
    assert ann.state == "idle"


# ----------------------------------------------------- validate, then mutate


def test_create_in_unknown_queue_or_wrong_channel_is_refused(desk) -> None:
    """create() checks the queue exists and takes that channel before changing anything."""
    desk.queue(channel="chat")
    assert desk.refused(desk.router.create, "chat", "nope", "bot").code == ErrorCode.NOT_FOUND
    assert desk.refused(desk.router.create, "call", "q", "gw").code == ErrorCode.INVALID


def test_refused_queue_edits_change_nothing(desk) -> None:
    """Changing the channel of a busy queue is a CONFLICT; deleting it too."""
    desk.queue("q", channel="chat")
    desk.queue("spill", overflow="q")
    desk.agent("ann")
    desk.chat()
    err = desk.refused(desk.router.put_queue, QueueConfig(id="q", channel="call"))
    assert err.code == ErrorCode.CONFLICT
    assert desk.refused(desk.router.delete_queue, "q").code == ErrorCode.CONFLICT
    assert desk.refused(desk.router.delete_queue, "nope").code == ErrorCode.NOT_FOUND


def test_queue_used_as_overflow_cannot_be_deleted(desk) -> None:
    """A queue another queue overflows into cannot be deleted."""
    desk.queue("backup")
    desk.queue("front", overflow="backup")
    assert desk.refused(desk.router.delete_queue, "backup").code == ErrorCode.CONFLICT


def test_logged_in_or_busy_agent_cannot_be_deleted(desk) -> None:
    """delete_agent refuses an agent that is connected or holds work."""
    desk.queue()
    desk.agent("ann")
    assert desk.refused(desk.router.delete_agent, "ann").code == ErrorCode.CONFLICT
    desk.chat()
    desk.accept("ann")
    desk.router.disconnect("ann")
    assert desk.refused(desk.router.delete_agent, "ann").code == ErrorCode.CONFLICT
    assert desk.refused(desk.router.delete_agent, "zed").code == ErrorCode.NOT_FOUND


def test_refused_connect_of_unknown_agent(desk) -> None:
    """Connecting an unknown agent is NOT_FOUND and changes nothing."""
    assert desk.refused(desk.router.connect, "nobody").code == ErrorCode.NOT_FOUND


# -------------------------------------------------------------------- effects


def index_of(effects, pred):
    return next(i for i, e in enumerate(effects) if pred(e))


def is_saved(ix_id, status):
    return lambda e: (
        isinstance(e, Persist)
        and e.kind == "interaction"
        and e.row.id == ix_id
        and e.row.status == status
    )


def is_told(ix_id, status):
    return lambda e: (
        isinstance(e, Send)
        and isinstance(e.frame, InteractionChanged)
        and e.frame.interaction.id == ix_id
        and e.frame.interaction.status == status
    )


def test_create_persists_before_offering(desk) -> None:
    """A new interaction is persisted before anyone is told about it."""
    desk.queue()
    desk.agent("ann")
    desk.effects()
    ix = desk.chat()
    effects = desk.effects()
    assert index_of(effects, is_saved(ix.id, "waiting")) == 0
    assert index_of(effects, lambda e: isinstance(e, Send)) > 0


def test_accept_persists_before_telling(desk) -> None:
    """Accepting persists the assigned interaction before the pushes about it."""
    desk.queue()
    desk.agent("ann")
    ix = desk.chat()
    desk.effects()
    desk.accept("ann")
    effects = desk.effects()
    saved = index_of(effects, is_saved(ix.id, "assigned"))
    assert all(i > saved for i, e in enumerate(effects) if isinstance(e, Send))


def test_end_persists_before_telling_owner_and_agent(desk) -> None:
    """Ending persists the ended interaction before telling its owner and agent."""
    ix = assigned(desk)
    desk.effects()
    desk.router.end(ix.id, ("agent", "ann"))
    effects = desk.effects()
    saved = index_of(effects, is_saved(ix.id, "ended"))
    told = [i for i, e in enumerate(effects) if is_told(ix.id, "ended")(e)]
    assert {effects[i].to for i in told} == {("key", "bot"), ("agent", "ann")}
    assert min(told) > saved


def test_set_status_persists_before_telling(desk) -> None:
    """A status change is persisted before the agent (and supervisors) hear of it."""
    desk.queue()
    desk.agent("ann")
    desk.router.watching = True
    desk.effects()
    desk.router.set_status("ann", "not_ready", "lunch")
    effects = desk.effects()
    assert isinstance(effects[0], Persist) and effects[0].row == ("ann", "not_ready", "lunch")
    assert {e.to for e in effects[1:]} == {("agent", "ann"), ("supervisors", "")}


def test_pushes_go_to_the_right_targets(desk) -> None:
    """Offers and agent changes go to the agent; interaction changes to the owner key."""
    desk.queue()
    desk.agent("ann")
    desk.effects()
    ix = desk.chat(owner="bot3")
    effects = desk.effects()
    assert [s.to for s in desk.sends(effects, Offered)] == [("agent", "ann")]
    assert [s.to for s in desk.sends(effects, AgentChanged)] == [("agent", "ann")]
    changed = desk.sends(effects, InteractionChanged)
    assert [(s.to, s.frame.interaction.status) for s in changed] == [(("key", "bot3"), "assigning")]
    assert ix.status == "assigning"


def test_take_effects_hands_over_once(desk) -> None:
    """take_effects() returns the effects collected so far and then starts afresh."""
    desk.queue()
    desk.effects()
    desk.chat()
    assert desk.effects()
    assert desk.effects() == []


# ------------------------------------------------------------ live config


def test_lowering_queue_skill_routes_waiting_work_at_once(desk) -> None:
    """Relaxing a queue's skill requirement offers its waiting interactions immediately."""
    desk.queue(skills={"en": 8})
    desk.agent("ann", skills={"en": 3})
    ix = desk.chat()
    assert ix.status == "waiting"
    desk.queue(skills={"en": 3})
    assert desk.offered_to(ix) == "ann"


def test_adding_inbox_to_agent_routes_at_once(desk) -> None:
    """Adding a queue to a ready agent's inboxes gives it that queue's waiting work."""
    desk.queue("q")
    desk.queue("other")
    desk.agent("ann", inboxes=["other"])
    ix = desk.chat("q")
    desk.router.put_agent(AgentConfig(username="ann", inboxes=["other", "q"]))
    assert desk.offered_to(ix) == "ann"


def test_removing_a_skill_stops_routing_to_the_agent(desk) -> None:
    """An agent that loses a required skill is no longer offered that queue's work."""
    desk.queue(skills={"en": 1})
    desk.agent("ann", skills={"en": 5})
    desk.router.put_agent(AgentConfig(username="ann", inboxes=["q"], skills={}))
    ix = desk.chat()
    assert ix.status == "waiting"


def test_new_queue_is_routable_at_once(desk) -> None:
    """A queue created after its agents is served at once."""
    desk.agent("ann", inboxes=["late"])
    desk.queue("late")
    ix = desk.chat("late")
    assert desk.offered_to(ix) == "ann"


def test_strategy_change_applies_at_once(desk) -> None:
    """Switching a queue to skill_level re-orders its available agents at once."""
    desk.queue(skills={"en": 1})
    desk.agent("ann", skills={"en": 2})
    desk.clock.advance(1)
    desk.agent("bob", skills={"en": 9})
    desk.queue(skills={"en": 1}, strategy="skill_level")
    ix = desk.chat()
    assert desk.offered_to(ix) == "bob"


def test_delete_queue_and_agent(desk) -> None:
    """An idle queue and a logged-out agent can be deleted; their ids are then unknown."""
    desk.queue("q")
    desk.agent("ann", connect=False, status="offline")
    desk.effects()
    desk.router.delete_queue("q")
    desk.router.delete_agent("ann")
    effects = desk.effects()
    assert [(p.kind, p.row) for p in desk.persists(effects)] == [
        ("queue_deleted", "q"),
        ("agent_deleted", "ann"),
    ]
    assert desk.refused(desk.router.create, "chat", "q", "bot").code == ErrorCode.NOT_FOUND
    assert desk.refused(desk.router.connect, "ann").code == ErrorCode.NOT_FOUND


def test_recreated_queue_gets_its_members_back(desk) -> None:
    """A queue deleted and created again is served by the agents that list it."""
    desk.queue("q")
    desk.agent("ann")
    desk.router.delete_queue("q")
    desk.queue("q")
    ix = desk.chat()
    assert desk.offered_to(ix) == "ann"


# ------------------------------------------------------------------ gateway


def test_repeated_call_id_gives_the_same_interaction(desk) -> None:
    """A gateway repeating a call id gets the same interaction back and nothing changes."""
    desk.queue(channel="call")
    ix = desk.call(call_id="sip-1")
    desk.effects()
    before = desk.snapshot()
    again = desk.call(call_id="sip-1")
    assert again is ix
    assert desk.snapshot() == before and desk.effects() == []
    other = desk.call(call_id="sip-2")
    assert other is not ix


def test_call_id_reusable_after_the_call_ended(desk) -> None:
    """Once a call ended its gateway id may start a new interaction."""
    desk.queue(channel="call")
    ix = desk.call(call_id="sip-1")
    desk.router.end(ix.id, ("key", "gw"))
    again = desk.call(call_id="sip-1")
    assert again is not ix and again.status == "waiting"


# -------------------------------------------------------------------- views


def test_queue_stats_and_deadlines(desk) -> None:
    """queue_stats counts waiting, offered, active and ready agents; next_deadline is the offer."""
    desk.queue(offer_timeout=20)
    desk.agent("ann")
    desk.agent("bob")
    desk.chat()
    desk.accept("ann")
    desk.chat()  # offered to bob
    desk.chat()
    desk.tick(5)
    stats = desk.router.queue_stats("q")
    assert (stats.waiting, stats.offered, stats.active, stats.ready_agents) == (1, 1, 1, 0)
    assert stats.oldest_wait == 5
    assert desk.router.next_deadline() == desk.offer("bob").expires_at
