"""Offers: one at a time, timeouts, declines, re-offer delay, missed offers, wrap-up, max wait."""

from __future__ import annotations

from protocol.config import QueueConfig
from protocol.errors import ErrorCode
from protocol.routing import AgentChanged, InteractionChanged, OfferClosed, Offered

# ----------------------------------------------------------- one at a time


def test_agent_gets_one_offer_at_a_time(desk) -> None:
    """A second interaction is not offered to an agent with a pending offer."""
    desk.queue()
    desk.agent("ann")
    first, second = desk.chat(), desk.chat()
    assert desk.offered_to(first) == "ann"
    assert second.status == "waiting" and second.offer is None
    assert len(desk.router.offers) == 1


def test_accept_assigns_and_tells_agent_and_owner(desk) -> None:
    """Accepting makes the interaction assigned to the agent and the agent busy."""
    desk.queue()
    ann = desk.agent("ann")
    ix = desk.chat(owner="bot7")
    desk.clock.advance(3)
    desk.effects()
    got = desk.accept("ann")
    assert got is ix
    assert (ix.status, ix.agent, ix.accepted_at) == ("assigned", "ann", desk.clock.now)
    assert (ann.state, ann.interaction, ann.offer) == ("busy", ix, None)
    assert desk.router.offers == {}
    effects = desk.effects()
    closed = desk.sends(effects, OfferClosed)
    assert [(s.to, s.frame.outcome) for s in closed] == [(("agent", "ann"), "accepted")]
    changed = desk.sends(effects, InteractionChanged)
    assert {s.to for s in changed} == {("key", "bot7"), ("agent", "ann")}
    assert all(s.frame.interaction.status == "assigned" for s in changed)


def test_accept_of_someone_elses_or_unknown_offer_is_refused(desk) -> None:
    """Accepting an offer that is not yours, or does not exist, is NOT_FOUND and changes nothing."""
    desk.queue()
    desk.agent("ann")
    desk.agent("bob")
    desk.chat()
    offer = desk.offer("ann")
    assert desk.refused(desk.router.accept, "bob", offer.id).code == ErrorCode.NOT_FOUND
    assert desk.refused(desk.router.accept, "ann", "o999").code == ErrorCode.NOT_FOUND
    assert desk.refused(desk.router.decline, "bob", offer.id).code == ErrorCode.NOT_FOUND


def test_offer_times_out_to_another_agent(desk) -> None:
    """An unanswered offer times out exactly at its expiry and goes to the next agent."""
    desk.queue(offer_timeout=20)
    desk.agent("ann")
    desk.clock.advance(1)
    desk.agent("bob")
    ix = desk.chat()
    old = desk.offer("ann")
    assert desk.router.next_deadline() == old.expires_at
    desk.tick(19.9)
    assert desk.offered_to(ix) == "ann"
    desk.effects()
    desk.tick(0.1)
    assert desk.offered_to(ix) == "bob"
    assert desk.offer("ann") is None and old.state == "timed_out"
    closed = desk.sends(desk.effects(), OfferClosed, to=("agent", "ann"))
    assert [c.frame.outcome for c in closed] == ["timed_out"]


def test_accept_after_timeout_is_refused(desk) -> None:
    """An offer that timed out can no longer be accepted."""
    desk.queue(offer_timeout=5)
    desk.agent("ann")
    desk.chat()
    offer = desk.offer("ann")
    desk.tick(5)
    assert desk.refused(desk.router.accept, "ann", offer.id).code == ErrorCode.NOT_FOUND


def test_declined_interaction_keeps_its_place_in_line(desk) -> None:
    """A declined interaction goes back to its original place, ahead of later arrivals."""
    desk.queue()
    desk.agent("ann")
    first, second, third = desk.chat(), desk.chat(), desk.chat()
    desk.decline("ann")
    assert first.status == "waiting"
    assert desk.offered_to(second) == "ann"  # ann may not have first again yet
    assert desk.router.waiting("q") == [first, third]
    desk.clock.advance(1)
    desk.agent("bob")
    assert desk.offered_to(first) == "bob"


def test_decline_goes_to_another_agent_not_the_same(desk) -> None:
    """A declined offer is offered to another eligible agent at once."""
    desk.queue()
    desk.agent("ann")
    desk.clock.advance(1)
    desk.agent("bob")
    ix = desk.chat()
    desk.effects()
    desk.decline("ann")
    assert desk.offered_to(ix) == "bob"
    effects = desk.effects()
    assert [s.frame.outcome for s in desk.sends(effects, OfferClosed)] == ["declined"]
    assert [s.to for s in desk.sends(effects, Offered)] == [("agent", "bob")]


def test_decliner_gets_it_again_only_after_reoffer_delay(desk, settings) -> None:
    """The agent that declined is not offered the same interaction before reoffer_delay."""
    desk.queue(offer_timeout=100)
    ann = desk.agent("ann")
    ix = desk.chat()
    desk.decline("ann")
    assert ix.status == "waiting" and ann.state == "idle"
    assert ix.excludes("ann", desk.clock.now)
    desk.tick(settings.reoffer_delay - 0.5)
    assert ix.status == "waiting"
    desk.tick(0.5)
    assert desk.offered_to(ix) == "ann"


def test_decliner_takes_other_work_meanwhile(desk) -> None:
    """While excluded from one interaction the agent is offered the next one."""
    desk.queue()
    desk.agent("ann")
    first, second = desk.chat(), desk.chat()
    desk.decline("ann")
    assert desk.offered_to(second) == "ann"
    assert first.status == "waiting"


def test_timed_out_agent_is_also_excluded_for_reoffer_delay(desk, settings) -> None:
    """An agent whose offer timed out is skipped for that interaction for reoffer_delay."""
    desk.queue(offer_timeout=5)
    desk.agent("ann")
    ix = desk.chat()
    desk.tick(5)
    assert ix.status == "waiting" and ix.excludes("ann", desk.clock.now)
    desk.tick(settings.reoffer_delay)
    assert desk.offered_to(ix) == "ann"


def test_older_interaction_first_when_exclusions_lapse_together(desk) -> None:
    """When an agent's exclusions from two interactions lapse at once it gets the older one."""
    desk.queue(offer_timeout=100)
    desk.agent("ann")
    desk.clock.advance(1)
    desk.agent("bob")
    older, newer = desk.chat(), desk.chat()
    assert (desk.offered_to(older), desk.offered_to(newer)) == ("ann", "bob")
    desk.decline("bob")  # newer: bob excluded, waits (ann busy)
    desk.decline("ann")  # older: ann excluded -> bob; ann takes newer
    assert (desk.offered_to(older), desk.offered_to(newer)) == ("bob", "ann")
    desk.decline("ann")  # newer: ann excluded too
    desk.decline("bob")  # older: bob excluded too; nobody can take either now
    assert older.status == newer.status == "waiting"
    desk.router.set_status("bob", "not_ready", "break")
    desk.tick(10)  # all exclusions lapse; newer's timer happens to be set first
    assert desk.offered_to(older) == "ann"
    assert newer.status == "waiting"


def test_three_timeouts_make_the_agent_not_ready_missed(desk, settings) -> None:
    """max_missed consecutive timed-out offers put the agent into not ready 'missed'."""
    desk.queue(offer_timeout=5)
    ann = desk.agent("ann")
    for _ in range(settings.max_missed):
        desk.chat()
    for n in range(settings.max_missed):
        assert ann.status == "ready" and ann.missed == n
        desk.effects()
        desk.tick(5)
    effects = desk.effects()
    assert (ann.status, ann.reason, ann.missed) == ("not_ready", "missed", settings.max_missed)
    assert desk.offer("ann") is None
    assert ("ann", "not_ready", "missed") in [p.row for p in desk.persists(effects, "agent_status")]
    # The status change is persisted before the agent is told about it.
    i_persist = next(i for i, e in enumerate(effects) if getattr(e, "kind", "") == "agent_status")
    i_told = max(
        i for i, e in enumerate(effects) if isinstance(getattr(e, "frame", None), AgentChanged)
    )
    assert i_persist < i_told
    desk.router.set_status("ann", "ready")
    assert ann.missed == 0


def test_accept_resets_the_missed_count(desk, settings) -> None:
    """An accepted offer resets the count of consecutive timeouts."""
    desk.queue(offer_timeout=5)
    ann = desk.agent("ann")
    for _ in range(2 * settings.max_missed):
        desk.chat()
    for _ in range(settings.max_missed - 1):
        desk.tick(5)
    assert ann.missed == settings.max_missed - 1
    desk.serve("ann")
    assert ann.missed == 0
    for _ in range(settings.max_missed - 1):
        desk.tick(5)
    assert ann.status == "ready"


def test_decline_is_not_a_missed_offer(desk, settings) -> None:
    """Declining is an answer: it does not count towards max_missed."""
    desk.queue()
    ann = desk.agent("ann")
    for _ in range(settings.max_missed + 1):
        desk.chat()
    for _ in range(settings.max_missed + 1):
        desk.decline("ann")
    assert ann.status == "ready" and ann.missed == 0


# ------------------------------------------------------------------ wrap-up


def test_wrap_up_holds_the_agent_then_releases_it(desk) -> None:
    """After an interaction ends the queue's wrap-up keeps the agent out, then it takes work."""
    desk.queue(wrap_up=30)
    ann = desk.agent("ann")
    desk.chat()
    ix = desk.serve("ann")
    assert ix.status == "ended"
    assert (ann.state, ann.wrap_up_until) == ("wrap_up", desk.clock.now + 30)
    nxt = desk.chat()
    desk.tick(29)
    assert nxt.status == "waiting"
    desk.tick(1)
    assert ann.state == "offered" and desk.offered_to(nxt) == "ann"


def test_finish_wrap_up_early(desk) -> None:
    """finish_wrap_up ends wrap-up at once and the agent takes waiting work."""
    desk.queue(wrap_up=300, offer_timeout=600)
    ann = desk.agent("ann")
    desk.chat()
    desk.serve("ann")
    nxt = desk.chat()
    desk.router.finish_wrap_up("ann")
    assert ann.wrap_up_until is None
    assert desk.offered_to(nxt) == "ann"
    desk.tick(300)  # the old wrap-up timer is harmless
    assert desk.offered_to(nxt) == "ann"


def test_finish_wrap_up_when_not_in_wrap_up_is_refused(desk) -> None:
    """finish_wrap_up outside wrap-up is a CONFLICT and changes nothing."""
    desk.queue()
    desk.agent("ann")
    assert desk.refused(desk.router.finish_wrap_up, "ann").code == ErrorCode.CONFLICT
    assert desk.refused(desk.router.finish_wrap_up, "zed").code == ErrorCode.NOT_FOUND


def test_no_wrap_up_means_next_offer_at_once(desk) -> None:
    """With wrap-up 0 an agent whose interaction ends is offered the next one immediately."""
    desk.queue()
    desk.agent("ann")
    desk.chat()
    nxt = desk.chat()
    desk.serve("ann")
    assert desk.offered_to(nxt) == "ann"


# ---------------------------------------------------------------- max wait


def test_max_wait_moves_to_the_overflow_queue(desk) -> None:
    """An interaction waiting max_wait moves to the overflow queue and is offered there."""
    desk.queue("backup", priority=2)
    desk.queue("front", max_wait=60, overflow="backup")
    desk.agent("ann", inboxes=["backup"], status="not_ready")
    ix = desk.chat("front")
    desk.effects()
    desk.tick(59)
    assert ix.queue == "front"
    desk.tick(1)
    assert (ix.status, ix.queue, ix.priority, ix.enqueued_at) == (
        "waiting",
        "backup",
        2,
        desk.clock.now,
    )
    effects = desk.effects()
    saved = desk.persists(effects, "interaction")
    assert saved and saved[-1].row.queue == "backup"
    told = desk.sends(effects, InteractionChanged, to=("key", "bot"))
    assert told and told[-1].frame.interaction.queue == "backup"
    assert desk.router.waiting("backup") == [ix] and desk.router.waiting("front") == []
    desk.router.set_status("ann", "ready")
    assert desk.offered_to(ix) == "ann"


def test_max_wait_without_overflow_fails(desk) -> None:
    """With no overflow queue an interaction over max_wait fails with reason max_wait."""
    desk.queue(max_wait=30)
    ix = desk.chat(owner="bot2")
    desk.effects()
    desk.tick(30)
    assert (ix.status, ix.end_reason, ix.ended_at) == ("failed", "max_wait", desk.clock.now)
    assert ix.id not in desk.router.interactions
    assert desk.router.waiting("q") == []
    effects = desk.effects()
    assert desk.persists(effects, "interaction")[-1].row.status == "failed"
    told = desk.sends(effects, InteractionChanged, to=("key", "bot2"))
    assert told[-1].frame.interaction.status == "failed"


def test_overflow_chain_ends_in_failure(desk) -> None:
    """Each queue's own max_wait applies after an overflow, until a queue with none fails it."""
    desk.queue("last", max_wait=10)
    desk.queue("mid", max_wait=10, overflow="last")
    desk.queue("first", max_wait=10, overflow="mid")
    ix = desk.chat("first")
    desk.tick(10)
    assert ix.queue == "mid"
    desk.tick(10)
    assert ix.queue == "last"
    desk.tick(10)
    assert (ix.status, ix.end_reason) == ("failed", "max_wait")


def test_max_wait_does_not_cut_a_pending_offer(desk) -> None:
    """An offered interaction is not overflowed; declined after max_wait it overflows at once."""
    desk.queue("backup")
    desk.queue("front", max_wait=10, overflow="backup", offer_timeout=100)
    desk.agent("ann", inboxes=["front"])
    ix = desk.chat("front")
    desk.tick(15)
    assert desk.offered_to(ix) == "ann" and ix.queue == "front"
    desk.decline("ann")
    assert (ix.status, ix.queue) == ("waiting", "backup")


def test_overflow_loops_are_rejected(desk) -> None:
    """A queue may not overflow into itself or into a chain leading back to it."""
    desk.queue("a")
    desk.queue("b", overflow="a")
    err = desk.refused(desk.router.put_queue, QueueConfig(id="a", overflow="a"))
    assert err.code == ErrorCode.INVALID
    err = desk.refused(desk.router.put_queue, QueueConfig(id="a", overflow="b"))
    assert err.code == ErrorCode.INVALID


def test_overflow_into_a_missing_queue_is_rejected(desk) -> None:
    """The overflow queue must exist."""
    desk.queue("a")
    cfg = QueueConfig(id="a", overflow="nowhere")
    assert desk.refused(desk.router.put_queue, cfg).code == ErrorCode.INVALID


def test_new_max_wait_applies_to_interactions_already_waiting(desk) -> None:
    """Setting max_wait on a queue arms it for those already waiting, from their enqueue time."""
    desk.queue()
    ix = desk.chat()
    desk.tick(100)
    desk.queue(max_wait=120)
    desk.tick(19)
    assert ix.status == "waiting"
    desk.tick(1)
    assert (ix.status, ix.end_reason) == ("failed", "max_wait")
