"""Dropped connections, the grace period, and restoring state after a restart."""

from __future__ import annotations

from protocol.config import AgentConfig, QueueConfig
from protocol.routing import AgentChanged, InteractionChanged, OfferClosed, Offered
from server.core import Router
from server.core.model import InteractionRecord

# ---------------------------------------------------------------- disconnect


def test_disconnect_rescinds_pending_offer_and_redistributes_at_once(desk) -> None:
    """A pending offer to an agent whose connection drops goes to another agent immediately."""
    desk.queue()
    desk.agent("ann")
    desk.clock.advance(1)
    desk.agent("bob")
    ix = desk.chat()
    offer = desk.offer("ann")
    desk.effects()
    desk.router.disconnect("ann")
    assert offer.state == "rescinded"
    assert desk.offered_to(ix) == "bob"
    effects = desk.effects()
    closed = desk.sends(effects, OfferClosed)
    assert [(s.to, s.frame.outcome, s.frame.reason) for s in closed] == [
        (("agent", "ann"), "rescinded", "agent_disconnected")
    ]
    assert [s.to for s in desk.sends(effects, Offered)] == [("agent", "bob")]


def test_rescinded_offer_does_not_exclude_the_agent(desk) -> None:
    """A dropped agent that comes back at once may be offered the same interaction again."""
    desk.queue()
    desk.agent("ann")
    ix = desk.chat()
    desk.router.disconnect("ann")
    assert ix.status == "waiting" and not ix.excludes("ann", desk.clock.now)
    desk.router.connect("ann")
    assert desk.offered_to(ix) == "ann"


def test_disconnect_keeps_interaction_through_grace_and_resume(desk, settings) -> None:
    """An agent that reconnects within the grace period still has its interaction and status."""
    desk.queue()
    ann = desk.agent("ann")
    desk.chat()
    ix = desk.accept("ann")
    desk.router.disconnect("ann")
    assert ann.interaction is ix and ix.status == "assigned"
    desk.tick(settings.grace - 1)
    desk.router.connect("ann")
    desk.tick(10)
    assert ann.interaction is ix and ix.agent == "ann"
    assert (ann.status, ann.state, ann.connected) == ("ready", "busy", True)


def test_grace_expiry_requeues_at_head_and_agent_goes_offline(desk, settings) -> None:
    """Without a reconnect the held interaction goes back to the head of its queue."""
    desk.queue()
    ann = desk.agent("ann")
    desk.chat()
    held = desk.accept("ann")
    later = [desk.chat(), desk.chat()]
    desk.router.disconnect("ann")
    desk.effects()
    desk.tick(settings.grace - 0.1)
    assert held.status == "assigned"
    desk.tick(0.1)
    assert (held.status, held.agent, held.band) == ("waiting", None, 0)
    assert desk.router.waiting("q") == [held, *later]
    assert (ann.status, ann.state, ann.interaction) == ("offline", "idle", None)
    effects = desk.effects()
    assert ("ann", "offline", "") in [p.row for p in desk.persists(effects, "agent_status")]
    saved = desk.persists(effects, "interaction")
    assert saved[-1].row.status == "waiting" and saved[-1].row.band == 0
    told = desk.sends(effects, InteractionChanged, to=("key", "bot"))
    assert told[-1].frame.interaction.status == "waiting"
    desk.agent("bob")
    assert desk.offered_to(held) == "bob"


def test_requeued_interaction_goes_to_the_next_agent_at_once(desk, settings) -> None:
    """When grace runs out and another agent is free it is offered the interaction right away."""
    desk.queue()
    desk.agent("ann")
    desk.chat()
    held = desk.accept("ann")
    desk.agent("bob")
    desk.router.disconnect("ann")
    desk.tick(settings.grace)
    assert desk.offered_to(held) == "bob"


def test_reconnect_after_grace_is_offline(desk, settings) -> None:
    """An agent that comes back after the grace period is offline and gets nothing."""
    desk.queue()
    ann = desk.agent("ann")
    desk.router.disconnect("ann")
    desk.tick(settings.grace)
    desk.router.connect("ann")
    assert ann.status == "offline"
    ix = desk.chat()
    assert ix.status == "waiting"


def test_ready_agent_resuming_within_grace_stays_ready(desk, settings) -> None:
    """A short drop does not change a ready agent's status: it gets work when back."""
    desk.queue()
    ann = desk.agent("ann")
    desk.router.disconnect("ann")
    ix = desk.chat()
    assert ix.status == "waiting"
    desk.tick(settings.grace / 2)
    desk.router.connect("ann")
    assert ann.status == "ready" and desk.offered_to(ix) == "ann"


def test_earlier_grace_timer_does_not_cut_a_later_drop(desk, settings) -> None:
    """Grace is counted from the latest drop, not the first one."""
    desk.queue()
    ann = desk.agent("ann")
    desk.chat()
    ix = desk.accept("ann")
    desk.router.disconnect("ann")
    desk.tick(settings.grace / 2)
    desk.router.connect("ann")
    desk.router.disconnect("ann")
    desk.tick(settings.grace / 2 + 1)  # past the first drop's grace, within the second's
    assert ann.interaction is ix and ann.status == "ready"


def test_owner_ends_interaction_of_a_dropped_agent(desk, settings) -> None:
    """The bot may end a chat whose agent is away; the agent is not re-queued anything."""
    desk.queue()
    ann = desk.agent("ann")
    desk.chat()
    ix = desk.accept("ann")
    desk.router.disconnect("ann")
    desk.router.end(ix.id, ("key", "bot"))
    assert ix.status == "ended" and ann.interaction is None
    desk.tick(settings.grace)
    assert ann.status == "offline" and ix.id not in desk.router.interactions


def test_disconnect_of_unknown_or_offline_session_is_ignored(desk) -> None:
    """Dropping a session that is not connected changes nothing."""
    desk.queue()
    desk.agent("ann", connect=False)
    desk.effects()
    before = desk.snapshot()
    desk.router.disconnect("ann")
    desk.router.disconnect("nobody")
    assert desk.snapshot() == before and desk.effects() == []


def test_connect_twice_is_idempotent(desk) -> None:
    """A second connect of a connected agent changes nothing."""
    desk.queue()
    desk.agent("ann")
    desk.effects()
    before = desk.snapshot()
    desk.router.connect("ann")
    assert desk.snapshot() == before and desk.effects() == []


def test_supervisors_get_agent_changes_only_when_watching(desk) -> None:
    """Agent state pushes go to supervisors only while someone watches."""
    desk.queue()
    desk.agent("ann")
    effects = desk.effects()
    assert desk.sends(effects, to=("supervisors", "")) == []
    desk.router.watching = True
    desk.router.set_status("ann", "not_ready", "break")
    effects = desk.effects()
    to_sups = desk.sends(effects, to=("supervisors", ""))
    assert to_sups and all(isinstance(s.frame, AgentChanged) for s in to_sups)
    assert to_sups[-1].frame.agent.reason == "break"


# ------------------------------------------------------------------- restore


def fresh(kit, clock):
    """A new router on the same clock, configured like the desk's: queue q, agents."""
    router = Router(clock, kit.SequentialIds())
    router.put_queue(QueueConfig(id="q"))
    router.put_queue(QueueConfig(id="hi", priority=5))
    for name in ("ann", "bob"):
        router.put_agent(AgentConfig(username=name, inboxes=["q", "hi"]))
    router.take_effects()
    return router


def record(n, status="waiting", queue="q", agent=None, band=1, priority=0, **kw):
    return InteractionRecord(
        id=f"i{n}",
        channel="chat",
        queue=queue,
        owner="bot",
        status=status,
        created_at=float(n),
        enqueued_at=float(n),
        priority=priority,
        band=band,
        order=n,
        agent=agent,
        **kw,
    )


def test_restore_brings_waiting_interactions_back_in_order(kit, clock) -> None:
    """Waiting interactions come back in priority, band, arrival order; new ones go after."""
    router = fresh(kit, clock)
    records = [
        record(3),
        record(1),
        record(7, band=0),
        record(2, queue="hi", priority=5),
        record(4, status="assigning"),
    ]
    router.restore(records, {})
    assert [ix.id for ix in router.waiting("q")] == ["i7", "i1", "i3", "i4"]
    assert [ix.id for ix in router.waiting("hi")] == ["i2"]
    new = router.create("chat", "q", "bot")
    assert new.order == 5 and router.waiting("q")[-1] is new


def test_restore_skips_final_records_and_unknown_queues(kit, clock) -> None:
    """Ended, failed and orphaned records are not brought back."""
    router = fresh(kit, clock)
    router.restore(
        [record(1, status="ended"), record(2, status="failed"), record(3, queue="gone"), record(4)],
        {},
    )
    assert list(router.interactions) == ["i4"]


def test_restore_gives_assigned_interaction_back_to_returning_agent(kit, clock) -> None:
    """An agent that comes back within grace after a restart finds its interaction."""
    router = fresh(kit, clock)
    router.restore(
        [record(1, status="assigned", agent="ann", accepted_at=5.0)], {"ann": ("ready", "")}
    )
    ann = router.agents["ann"]
    ix = router.interactions["i1"]
    assert (ann.state, ann.interaction, ann.connected) == ("busy", ix, False)
    assert (ix.status, ix.agent, ix.accepted_at) == ("assigned", "ann", 5.0)
    clock.advance(30)
    router.connect("ann")
    clock.advance(60)
    router.advance()
    assert ann.interaction is ix and ann.status == "ready"
    router.end(ix.id, ("agent", "ann"))
    assert ix.status == "ended"


def test_restore_requeues_assigned_at_head_if_agent_does_not_return(kit, clock) -> None:
    """If the agent is not back within grace its restored interaction goes to the queue head."""
    router = fresh(kit, clock)
    router.restore([record(1), record(2, status="assigned", agent="ann")], {"ann": ("ready", "")})
    clock.advance(router.settings.grace)
    router.advance()
    ann = router.agents["ann"]
    assert (ann.status, ann.state, ann.interaction) == ("offline", "idle", None)
    assert [ix.id for ix in router.waiting("q")] == ["i2", "i1"]
    assert router.interactions["i2"].band == 0


def test_restore_assigned_to_unknown_agent_waits_at_head(kit, clock) -> None:
    """An assigned record whose agent no longer exists is re-queued at the head at once."""
    router = fresh(kit, clock)
    router.restore([record(1), record(2, status="assigned", agent="ghost")], {})
    assert [ix.id for ix in router.waiting("q")] == ["i2", "i1"]


def test_restore_statuses_then_connect_routes(kit, clock) -> None:
    """A restored ready agent gets work as soon as it reconnects, without setting status."""
    router = fresh(kit, clock)
    router.restore([record(1)], {"ann": ("ready", ""), "bob": ("not_ready", "lunch")})
    assert (router.agents["bob"].status, router.agents["bob"].reason) == ("not_ready", "lunch")
    router.connect("bob")
    assert router.interactions["i1"].status == "waiting"
    router.connect("ann")
    assert router.interactions["i1"].offer.agent.username == "ann"


def test_restored_overdue_interaction_overflows_on_first_advance(kit, clock) -> None:
    """max_wait keeps counting across a restart: an overdue one fails at the first advance."""
    router = fresh(kit, clock)
    router.put_queue(QueueConfig(id="q", max_wait=10))
    router.restore([record(1)], {})
    assert router.next_deadline() <= clock.now
    router.advance()
    assert "i1" not in router.interactions
    saved = [e.row for e in router.take_effects() if getattr(e, "kind", "") == "interaction"]
    assert (saved[-1].status, saved[-1].end_reason) == ("failed", "max_wait")
