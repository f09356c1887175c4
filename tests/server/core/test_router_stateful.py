"""Hypothesis drives the router with random command sequences and checks invariants.

The machine plays agents, bots, the gateway, supervisors, the clock and the
storage the runtime would keep (every ``Persist`` is applied to a small model
of the database, and a ``restart`` rebuilds a router from it). After every
step it checks what must always hold:

* an agent has at most one active interaction or open offer, never both;
* every pending offer is to a connected, ready agent and expires in the future;
* work conservation: no interaction waits while an available, eligible agent
  that is not excluded from it exists;
* queue order: whenever an offer is made, no waiting interaction with a
  smaller (-priority, band, order) key in any of that agent's queues could
  have been given to it instead;
* a refused command raises :class:`RoutingError` and changes nothing;
* storage: what was persisted matches the live state, and a row is persisted
  before any push that reports it.
"""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import msgspec
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from protocol.config import AgentConfig, QueueConfig
from protocol.routing import AgentChanged, InteractionChanged, OfferClosed, Offered
from protocol.supervision import Reassigned
from server.core import Persist, Router, RoutingError, RoutingSettings, Send
from server.core.effects import SUPERVISORS
from server.core.model import Agent, Interaction, InteractionRecord, eligible
from server.core.states import FINAL_INTERACTION

QUEUE_IDS = ("chat_a", "chat_b", "call_a", "call_b")
HOME_CHANNEL = {"chat_a": "chat", "chat_b": "chat", "call_a": "call", "call_b": "call"}
SKILLS = ("s1", "s2", "s3")
AGENTS = ("ann", "bob", "cat", "dan", "eve")
OWNERS = ("bot1", "bot2", "gw")
CALL_IDS = ("c1", "c2", "c3")
STRATEGIES = ("longest_idle", "round_robin", "skill_level")
SETTINGS = RoutingSettings(grace=30.0, max_missed=2, reoffer_delay=15.0)

agent_names = st.sampled_from(AGENTS)
queue_ids = st.sampled_from(QUEUE_IDS)


# Strategies are built once: building them per draw costs more than routing.
QUEUE_FIELDS = st.fixed_dictionaries(
    {
        "skills": st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 3), max_size=1)
        | st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 2), max_size=2),
        "strategy": st.sampled_from(STRATEGIES),
        "offer_timeout": st.sampled_from([2.0, 7.0, 15.0]),
        "wrap_up": st.sampled_from([0.0, 0.0, 4.0, 12.0]),
        "max_wait": st.sampled_from([0.0, 0.0, 20.0, 45.0]),
        "priority": st.integers(0, 2),
    }
)
AGENT_FIELDS = st.fixed_dictionaries(
    {
        "skills": st.dictionaries(
            st.sampled_from(SKILLS), st.integers(1, 5), min_size=1, max_size=3
        ),
        "channels": st.sampled_from([["chat", "call"], ["chat", "call"], ["chat"], ["call"]]),
        "inboxes": st.lists(queue_ids, unique=True, min_size=3, max_size=4),
    }
)
FIRST_OVERFLOW = {q: st.sampled_from([f"{q[:-2]}_b", None]) for q in ("chat_a", "call_a")}
EDIT_OVERFLOW = st.sampled_from([None, None, None, *QUEUE_IDS])
EDIT_CHANNEL = {q: st.sampled_from([c] * 6 + ["chat", "call"]) for q, c in HOME_CHANNEL.items()}


def queue_config(data: st.DataObject, qid: str, overflow: Any = None, channel: Any = None) -> Any:
    return QueueConfig(
        id=qid,
        channel=HOME_CHANNEL[qid] if channel is None else data.draw(channel),
        overflow=None if overflow is None else data.draw(overflow),
        **data.draw(QUEUE_FIELDS),
    )


def agent_config(data: st.DataObject, name: str) -> AgentConfig:
    return AgentConfig(username=name, **data.draw(AGENT_FIELDS))


class Store:
    """What the runtime's database would hold after applying every Persist."""

    def __init__(self) -> None:
        self.queues: dict[str, QueueConfig] = {}
        self.agents: dict[str, AgentConfig] = {}
        self.statuses: dict[str, tuple[str, str]] = {}
        self.interactions: dict[str, InteractionRecord] = {}

    def apply(self, p: Persist) -> None:
        if p.kind == "interaction":
            self.interactions[p.row.id] = p.row
        elif p.kind == "agent_status":
            username, status, reason = p.row
            self.statuses[username] = (status, reason)
        elif p.kind == "queue":
            self.queues[p.row.id] = p.row
        elif p.kind == "queue_deleted":
            del self.queues[p.row]
        elif p.kind == "agent":
            self.agents[p.row.username] = p.row
        elif p.kind == "agent_deleted":
            del self.agents[p.row]
            self.statuses.pop(p.row, None)
        # Other kinds (e.g. who handled what) are history, not routing state.

    def queues_in_dependency_order(self) -> list[QueueConfig]:
        """Overflow targets before the queues that use them."""
        done: dict[str, QueueConfig] = {}
        pending = list(self.queues.values())
        while pending:
            ready = [q for q in pending if q.overflow is None or q.overflow in done]
            assert ready, "stored queues overflow in a loop"
            for q in ready:
                done[q.id] = q
            pending = [q for q in pending if q.id not in done]
        return list(done.values())


def overflow_loops(queues: dict[str, QueueConfig], cfg: QueueConfig) -> bool | None:
    """True if ``cfg`` would loop, None if a hop is missing, False if fine."""
    seen = {cfg.id}
    hop = cfg.overflow
    while hop is not None:
        if hop in seen:
            return True
        if hop not in queues:
            return None
        seen.add(hop)
        hop = queues[hop].overflow
    return False


class RouterMachine(RuleBasedStateMachine):
    def __init__(self, kit: Any) -> None:
        super().__init__()
        self.kit = kit
        self.clock = kit.FakeClock(0.0)
        self.ids = kit.SequentialIds()
        self.store = Store()
        self.problems: list[str] = []
        self.owner_of: dict[str, str] = {}
        self.offer_target: dict[str, tuple[str, str]] = {}
        self.closed_offers: set[str] = set()
        self.offer_of: dict[str, tuple[Interaction, str]] = {}  # offer id -> (ix, agent)
        #: Model of consecutive timed-out offers per agent.
        self.missed: dict[str, int] = {}
        #: When each dropped agent's grace period ends (cleared when it is back).
        self.grace_ends: dict[str, float] = {}
        #: What each dropped agent held when its connection dropped.
        self.held: dict[str, Interaction] = {}
        #: (band, order) each interaction arrived with: its place in line.
        self.place_of: dict[str, tuple[int, int]] = {}
        #: (interaction, agent) a supervisor is giving away right now: that
        #: offer skips queue membership and queue order.
        self.directed: tuple[str, str] | None = None
        self.router = self._new_router()

    # ------------------------------------------------------------- plumbing

    def _new_router(self) -> Router:
        router = Router(self.clock, self.ids, SETTINGS)
        make_offer = router._make_offer

        def checked_make_offer(ix: Interaction, agent: Agent) -> None:
            self._check_offer_choice(router, ix, agent)
            make_offer(ix, agent)
            if agent.offer is not None:
                self.offer_target[agent.offer.id] = ("agent", agent.username)
                self.offer_of[agent.offer.id] = (ix, agent.username)

        router._make_offer = checked_make_offer  # type: ignore[method-assign]
        return router

    def _eligible_queues(self, router: Router, cfg: AgentConfig) -> list[str]:
        return [q for q in cfg.inboxes if q in router.queues and eligible(cfg, router.queues[q])]

    def _check_offer_choice(self, router: Router, ix: Interaction, agent: Agent) -> None:
        """At the moment of an offer: the agent may take it, and nothing better waits for it."""
        now = self.clock()
        name = agent.username
        if not agent.available:
            self.problems.append(f"offer of {ix.id} to unavailable {name}")
        if ix.status != "waiting":
            self.problems.append(f"offer of {ix.id} in status {ix.status}")
        if self.directed == (ix.id, name):
            return
        if ix.excludes(name, now):
            self.problems.append(f"offer of {ix.id} to {name}, who is excluded from it")
        queues = self._eligible_queues(router, agent.cfg)
        if ix.queue not in queues:
            self.problems.append(f"offer of {ix.id} in {ix.queue} to ineligible {name}")
        for q in queues:
            for other in router._lines[q].members():
                if other is not ix and other.key < ix.key and not other.excludes(name, now):
                    self.problems.append(
                        f"{name} offered {ix.id} {ix.key} while {other.id} {other.key} waits in {q}"
                    )

    def attempt(self, command: Any, *args: Any, expect_ok: bool | None = None, **kw: Any) -> Any:
        """Run a command; a refusal must change nothing. Returns the error or the result."""
        router = self.router
        before = self.kit.snapshot(router)
        effects_before = list(router._effects)
        try:
            result = command(*args, **kw)
        except RoutingError as err:
            assert self.kit.snapshot(router) == before, f"{command.__name__} refused but mutated"
            assert router._effects == effects_before, f"{command.__name__} refused but emitted"
            assert expect_ok is not True, f"{command.__name__}{args} refused: {err.message}"
            return err
        assert expect_ok is not False, f"{command.__name__}{args} should have been refused"
        return result

    def tick(self, dt: float) -> None:
        self.clock.advance(dt)
        self.router.advance()

    def _set_status(self, name: str, status: str, reason: str) -> None:
        agent = self.router.agents.get(name)
        was = agent.status if agent is not None else None
        self.attempt(self.router.set_status, name, status, reason, expect_ok=agent is not None)
        if agent is not None:
            assert (agent.status, agent.reason) == (status, reason if status == "not_ready" else "")
            if status == "ready" and was != "ready":
                self.missed[name] = 0

    # ------------------------------------------------------------------ setup

    @initialize(data=st.data())
    def setup(self, data: st.DataObject) -> None:
        r = self.router
        r.put_queue(queue_config(data, "chat_b"))
        r.put_queue(queue_config(data, "call_b"))
        r.put_queue(queue_config(data, "chat_a", overflow=FIRST_OVERFLOW["chat_a"]))
        r.put_queue(queue_config(data, "call_a", overflow=FIRST_OVERFLOW["call_a"]))
        for name in AGENTS:
            r.put_agent(agent_config(data, name))
            r.connect(name)
            self._set_status(name, "ready", "")

    # ----------------------------------------------------------------- agents

    @rule(name=agent_names, ready=st.sampled_from([True, True, True, False]))
    def connect(self, name: str, ready: bool) -> None:
        known = name in self.router.agents
        self.attempt(self.router.connect, name, expect_ok=known)
        self.grace_ends.pop(name, None)
        self.held.pop(name, None)
        if known and ready:
            self._set_status(name, "ready", "")

    @rule(name=agent_names, blip=st.booleans())
    def disconnect(self, name: str, blip: bool) -> None:
        """The connection drops; on a blip the agent resumes at once."""
        agent = self.router.agents.get(name)
        if agent is not None and agent.connected:
            self.grace_ends[name] = self.clock() + SETTINGS.grace
            if agent.interaction is not None:
                self.held[name] = agent.interaction
        self.attempt(self.router.disconnect, name)
        if blip and agent is not None:
            self.router.connect(name)
            self.grace_ends.pop(name, None)
            self.held.pop(name, None)

    @rule(
        name=agent_names,
        status=st.sampled_from(
            [("ready", "")] * 4 + [("not_ready", "break"), ("not_ready", "lunch"), ("offline", "")]
        ),
    )
    def set_status(self, name: str, status: tuple[str, str]) -> None:
        self._set_status(name, *status)

    @rule(name=agent_names)
    def finish_wrap_up(self, name: str) -> None:
        agent = self.router.agents.get(name)
        ok = agent is not None and agent.state == "wrap_up"
        self.attempt(self.router.finish_wrap_up, name, expect_ok=ok)

    # ------------------------------------------------------------ interactions

    @rule(
        qid=queue_ids,
        owner=st.sampled_from(OWNERS),
        call_id=st.none() | st.sampled_from(CALL_IDS),
        more=st.integers(0, 2),
    )
    def create(self, qid: str, owner: str, call_id: str | None, more: int) -> None:
        for _ in range(1 + more):
            self._create(qid, owner, call_id)

    def _create(self, qid: str, owner: str, call_id: str | None) -> None:
        r = self.router
        cfg = r.queues.get(qid)
        if cfg is None:
            self.attempt(r.create, "chat", qid, owner, expect_ok=False)
            return
        if cfg.channel == "chat":
            call_id = None
        repeat = r.calls.get(call_id) if call_id is not None else None
        pending = len(r._effects)
        ix = self.attempt(r.create, cfg.channel, qid, owner, call_id=call_id, expect_ok=True)
        if repeat is not None:
            assert ix is repeat, "a repeated gateway call id must give the same interaction"
            assert len(r._effects) == pending, "a repeated call id must change nothing"
        else:
            self.owner_of[ix.id] = owner
            self.place_of[ix.id] = (ix.band, ix.order)
            assert ix.status in ("waiting", "assigning", "failed")

    @rule(qid=queue_ids, name=agent_names, ref=st.sampled_from(["o1", "o2", "i1", "i2", "nope"]))
    def stray_commands(self, qid: str, name: str, ref: str) -> None:
        """Commands with wrong channels, unknown or stale ids: refused, or done if valid."""
        r = self.router
        cfg = r.queues.get(qid)
        channel = "chat" if cfg is None or cfg.channel == "call" else "call"
        self.attempt(r.create, channel, qid, "bot1", expect_ok=False)
        live = r.offers.get(ref)
        ok = live is not None and live.agent.username == name
        self.attempt(r.accept, name, ref, expect_ok=ok)
        if ref not in r.interactions:
            self.attempt(r.end, ref, ("supervisor", "sue"), expect_ok=False)

    def _pick(self, data: st.DataObject, items: list[Any]) -> Any:
        return data.draw(st.sampled_from(items))

    @precondition(lambda self: self.router.offers)
    @rule(data=st.data())
    def accept(self, data: st.DataObject) -> None:
        offer = self._pick(data, sorted(self.router.offers.values(), key=lambda o: o.id))
        name = offer.agent.username
        ix = self.attempt(self.router.accept, name, offer.id, expect_ok=True)
        assert ix.status == "assigned" and self.router.agents[name].interaction is ix

    @precondition(lambda self: self.router.offers)
    @rule(data=st.data(), wait=st.sampled_from([0.0, 0.0, SETTINGS.reoffer_delay]))
    def decline(self, data: st.DataObject, wait: float) -> None:
        """Decline an offer, and maybe wait until the decliner may have it again."""
        offer = self._pick(data, sorted(self.router.offers.values(), key=lambda o: o.id))
        ix, name = offer.interaction, offer.agent.username
        self.attempt(self.router.decline, name, offer.id, expect_ok=True)
        assert ix.offer is None or ix.offer.agent.username != name
        if ix.status == "waiting":
            assert ix.excludes(name, self.clock())
        if wait:
            self.check()
            self.tick(wait)

    @precondition(lambda self: self.router.offers)
    @rule(rounds=st.integers(1, 3))
    def everyone_declines(self, rounds: int) -> None:
        """Every open offer is declined, a few rounds: work bounces between agents."""
        for _ in range(rounds):
            for offer in sorted(self.router.offers.values(), key=lambda o: o.id):
                if offer.id in self.router.offers:
                    self.router.decline(offer.agent.username, offer.id)
            self.check()

    @precondition(lambda self: self.router.offers)
    @rule(data=st.data())
    def serve(self, data: st.DataObject) -> None:
        """An agent accepts an offer and, at once, ends the interaction."""
        offer = self._pick(data, sorted(self.router.offers.values(), key=lambda o: o.id))
        name = offer.agent.username
        ix = self.attempt(self.router.accept, name, offer.id, expect_ok=True)
        self.check()
        self._end(ix, ("agent", name), ok=True)

    def _end(self, ix: Interaction, actor: tuple[str, str], ok: bool) -> None:
        was = ix.status
        agent = self.router.agents.get(ix.agent or "")
        wrap_up = self.router.queues[ix.queue].wrap_up
        got = self.attempt(self.router.end, ix.id, actor, expect_ok=ok)
        if ok:
            assert got is ix and ix.id not in self.router.interactions
            if was == "assigned":
                assert ix.status == "ended" and ix.end_reason == f"ended_by_{actor[0]}"
                assert agent is not None and agent.interaction is None
                if wrap_up:
                    assert agent.state == "wrap_up", "no wrap-up after the interaction"
                    assert agent.wrap_up_until == self.clock() + wrap_up
                else:
                    assert agent.state in ("idle", "offered"), agent.state
            else:
                assert (ix.status, ix.end_reason) == ("failed", "abandoned")
                assert ix.offer is None

    @precondition(lambda self: any(a.interaction for a in self.router.agents.values()))
    @rule(data=st.data())
    def end_by_agent(self, data: st.DataObject) -> None:
        busy = [a for a in self.router.agents.values() if a.interaction is not None]
        agent = self._pick(data, sorted(busy, key=lambda a: a.username))
        self._end(agent.interaction, ("agent", agent.username), ok=True)

    def _live(self) -> list[Interaction]:
        return sorted(self.router.interactions.values(), key=lambda ix: ix.id)

    @precondition(lambda self: self.router.interactions)
    @rule(
        data=st.data(),
        actor=st.sampled_from(["owner", "supervisor"])
        | st.tuples(st.just("key"), st.sampled_from(OWNERS))
        | st.tuples(st.just("agent"), agent_names),
    )
    def end_by_someone(self, data: st.DataObject, actor: Any) -> None:
        """The owner, a supervisor, or anyone at all (refused unless allowed) ends one."""
        ix = self._pick(data, self._live())
        if actor == "owner":
            actor = ("key", ix.owner)
        elif actor == "supervisor":
            actor = ("supervisor", "sue")
        kind, who = actor
        ok = (
            kind == "supervisor"
            or (kind == "key" and ix.owner == who)
            or (kind == "agent" and ix.agent == who and ix.status == "assigned")
        )
        self._end(ix, actor, ok=ok)

    @precondition(lambda self: self.router.interactions)
    @rule(data=st.data(), to=st.none() | agent_names)
    def reassign(self, data: st.DataObject, to: str | None) -> None:
        """A supervisor sends one back to its queue or gives it to an agent
        (refused unless it is with an agent, or that agent is free for it)."""
        r = self.router
        ix = self._pick(data, self._live())
        holder = r.agents.get(ix.agent or "") if ix.status == "assigned" else None
        target = r.agents.get(to or "")
        if ix.channel == "call" and ix.status == "assigned":
            ok = False
        elif to is None:
            ok = holder is not None
        else:
            ok = (
                target is not None
                and target.available
                and ix.channel in target.cfg.channels
                and ix.agent != to
            )
        self.directed = (ix.id, to) if to is not None else None
        self.attempt(r.reassign, ix.id, "sue", to, expect_ok=ok)
        self.directed = None
        if not ok:
            return
        assert ix.agent is None and ix.id in r.interactions
        if target is not None:
            assert ix.status == "assigning" and ix.offer is not None and ix.offer.agent is target
        if holder is not None:
            assert holder.interaction is None and holder.state != "busy"
            assert ix.band == 0 and ix.excludes(holder.username, self.clock())

    # ------------------------------------------------------------------- time

    @rule(dt=st.sampled_from([0.5, 1.0, 2.0, 5.0, 7.0, 15.0, 31.0, 50.0]))
    def advance(self, dt: float) -> None:
        self.tick(dt)

    @precondition(lambda self: self.router.next_deadline() is not None)
    @rule()
    def advance_to_next_deadline(self) -> None:
        deadline = self.router.next_deadline()
        assert deadline is not None
        self.tick(max(0.0, deadline - self.clock()))

    # ---------------------------------------------------------- configuration

    @rule(data=st.data(), qid=queue_ids)
    def edit_queue(self, data: st.DataObject, qid: str) -> None:
        r = self.router
        cfg = queue_config(data, qid, overflow=EDIT_OVERFLOW, channel=EDIT_CHANNEL[qid])
        old = r.queues.get(qid)
        loops = overflow_loops(r.queues, cfg)
        busy = any(ix.queue == qid for ix in r.interactions.values())
        ok = loops is False and not (old is not None and old.channel != cfg.channel and busy)
        self.attempt(r.put_queue, cfg, expect_ok=ok)

    @rule(qid=queue_ids)
    def relax_queue(self, qid: str) -> None:
        """Drop a queue's skill requirements: newly eligible agents take its work at once."""
        cfg = self.router.queues.get(qid)
        if cfg is not None:
            self.attempt(
                self.router.put_queue, msgspec.structs.replace(cfg, skills={}), expect_ok=True
            )

    @rule(qid=queue_ids)
    def delete_queue(self, qid: str) -> None:
        r = self.router
        ok = (
            qid in r.queues
            and not any(ix.queue == qid for ix in r.interactions.values())
            and not any(q.overflow == qid for q in r.queues.values())
        )
        self.attempt(r.delete_queue, qid, expect_ok=ok)

    @rule(data=st.data(), name=agent_names)
    def edit_agent(self, data: st.DataObject, name: str) -> None:
        self.attempt(self.router.put_agent, agent_config(data, name), expect_ok=True)

    @rule(name=agent_names)
    def delete_agent(self, name: str) -> None:
        a = self.router.agents.get(name)
        ok = a is not None and not (a.connected or a.offer or a.interaction)
        self.attempt(self.router.delete_agent, name, expect_ok=ok)
        if ok:
            self.missed.pop(name, None)
            self.grace_ends.pop(name, None)

    @rule(on=st.booleans())
    def supervisors_watch(self, on: bool) -> None:
        self.router.watching = on

    # ---------------------------------------------------------------- restart

    @rule()
    def restart(self) -> None:
        """The process dies (losing offers and timers) and comes back from storage."""
        self.router = self._new_router()
        r = self.router
        for cfg in self.store.queues_in_dependency_order():
            r.put_queue(cfg)
        for acfg in list(self.store.agents.values()):
            r.put_agent(acfg)
        records = list(self.store.interactions.values())
        r.restore(records, dict(self.store.statuses))
        now = self.clock()
        self.missed.clear()
        self.grace_ends = {
            name: now + SETTINGS.grace
            for name, a in r.agents.items()
            if a.status != "offline" or a.interaction is not None
        }
        self.held = {name: a.interaction for name, a in r.agents.items() if a.interaction}
        for agent in r.agents.values():
            assert not agent.connected and agent.offer is None
        for rec in records:
            if rec.status in FINAL_INTERACTION:
                assert rec.id not in r.interactions
                continue
            ix = r.interactions[rec.id]
            if rec.status == "assigned":
                assert (ix.status, ix.agent) == ("assigned", rec.agent), "assigned one not restored"
                assert r.agents[rec.agent].interaction is ix
            else:
                assert ix.status == "waiting" and ix.key == (-rec.priority, rec.band, rec.order)

    # ------------------------------------------------------------- invariants

    @invariant()
    def check(self) -> None:
        r = self.router
        self._check_effects(r.take_effects())
        assert not self.problems, self.problems
        self._check_agents(r)
        self._check_interactions(r)
        self._check_work_conservation(r)
        self._check_storage(r)

    def _check_effects(self, effects: list[Any]) -> None:
        persisted: list[tuple[str, str]] = []
        for e in effects:
            if isinstance(e, Persist):
                self.store.apply(e)
                if e.kind == "interaction":
                    persisted.append((e.row.id, e.row.status))
                continue
            assert isinstance(e, Send)
            frame = e.frame
            if e.to == SUPERVISORS:
                assert isinstance(frame, AgentChanged), "supervisors only get agent changes"
                assert self.router.watching, "pushed to supervisors nobody watches"
            elif isinstance(frame, AgentChanged):
                assert e.to == ("agent", frame.agent.username)
            elif isinstance(frame, Offered):
                assert e.to == self.offer_target[frame.offer]
            elif isinstance(frame, OfferClosed):
                assert e.to == self.offer_target[frame.offer]
                assert frame.offer not in self.closed_offers, "an offer closed twice"
                self.closed_offers.add(frame.offer)
                ix, name = self.offer_of[frame.offer]
                if frame.outcome == "timed_out":
                    self.missed[name] = self.missed.get(name, 0) + 1
                elif frame.outcome == "accepted":
                    self.missed[name] = 0
                if frame.outcome in ("declined", "timed_out") and ix.status in (
                    "waiting",
                    "assigning",
                ):
                    assert ix.excludes(name, self.clock()), f"{name} not excluded from {ix.id}"
            elif isinstance(frame, InteractionChanged):
                view = frame.interaction
                owner = self.owner_of[view.id]
                assert e.to in (("key", owner), ("agent", view.agent)), (e.to, view)
                if view.status in ("assigned", "ended", "failed"):
                    assert (view.id, view.status) in persisted, f"{view.id} pushed before persisted"
            elif isinstance(frame, Reassigned):
                assert frame.by == "sue" and e.to[0] == "agent" and e.to[1] != frame.to
            else:
                raise AssertionError(f"unexpected push {frame!r}")
        if self.router.watching:
            to_agents = [
                e.frame
                for e in effects
                if isinstance(e, Send) and isinstance(e.frame, AgentChanged) and e.to != SUPERVISORS
            ]
            to_sups = [e.frame for e in effects if isinstance(e, Send) and e.to == SUPERVISORS]
            assert to_agents == to_sups

    def _check_agents(self, r: Router) -> None:
        now = self.clock()
        for name, a in r.agents.items():
            missed = self.missed.get(name, 0)
            assert a.missed == missed, f"{name} missed {a.missed}, expected {missed}"
            if missed >= SETTINGS.max_missed:
                assert a.status != "ready", f"{name} missed {missed} offers and is still ready"
        for name, ends in list(self.grace_ends.items()):
            if ends <= now:
                a = r.agents[name]
                assert a.status == "offline" and a.interaction is None, f"{name} outlived grace"
                del self.grace_ends[name]
                ix = self.held.pop(name, None)
                if ix is not None and ix.id in r.interactions:
                    assert ix.band == 0 and ix.agent != name, f"{ix.id} not back at the head"
        holders: dict[str, int] = {}
        for ix in r.interactions.values():
            if ix.status == "assigned":
                holders[ix.agent] = holders.get(ix.agent, 0) + 1
        offers: dict[str, int] = {}
        for offer in r.offers.values():
            offers[offer.agent.username] = offers.get(offer.agent.username, 0) + 1
        for name, a in r.agents.items():
            work = holders.get(name, 0) + offers.get(name, 0)
            assert work <= 1, f"{name} has {work} interactions/offers"
            assert (a.offer is not None) == (a.state == "offered") == (name in offers)
            assert (a.interaction is not None) == (a.state == "busy") == (name in holders)
            if a.offer is not None:
                assert a.connected and a.status == "ready", f"offer to unavailable {name}"
                assert r.offers.get(a.offer.id) is a.offer and a.offer.agent is a
            if a.interaction is not None:
                assert a.interaction.agent == name and a.interaction.status == "assigned"
                assert r.interactions.get(a.interaction.id) is a.interaction
            if a.state == "wrap_up":
                assert a.wrap_up_until is not None and a.wrap_up_until > now
            if a.interaction is not None and not a.connected:
                assert a.grace_until is not None, f"{name} holds work with no grace deadline"
        for offer in r.offers.values():
            assert offer.state == "pending"
            assert offer.expires_at > now, "an offer outlived its timeout"
            assert offer.interaction.offer is offer and offer.interaction.status == "assigning"

    def _check_interactions(self, r: Router) -> None:
        for ix in r.interactions.values():
            place = self.place_of.setdefault(ix.id, (ix.band, ix.order))  # restored: as found
            assert (ix.band, ix.order) == place or ix.band == 0, f"{ix.id} lost its place"
            assert ix.status not in FINAL_INTERACTION
            assert ix.queue in r.queues
            waiting = ix.id in {m.id for m in r._lines[ix.queue].members()}
            assert waiting == (ix.status == "waiting"), f"{ix.id} {ix.status} line={waiting}"
            if ix.status == "waiting":
                assert ix.offer is None and ix.agent is None
            elif ix.status == "assigning":
                assert ix.offer is not None and ix.agent is None
            else:
                assert ix.offer is None and r.agents[ix.agent].interaction is ix
        for q, line in r._lines.items():
            for ix in line.members():
                assert ix.queue == q and r.interactions.get(ix.id) is ix
            keys = [ix.key for ix in r.waiting(q)]
            assert len(set(keys)) == len(keys), "two waiting interactions share a place"
        assert set(r.calls) == {ix.call_id for ix in r.interactions.values() if ix.call_id}

    def _check_work_conservation(self, r: Router) -> None:
        now = self.clock()
        free = [
            a
            for a in r.agents.values()
            if a.connected and a.status == "ready" and a.state == "idle"
        ]
        for ix in r.interactions.values():
            if ix.status != "waiting":
                continue
            for a in free:
                if eligible(a.cfg, r.queues[ix.queue]) and not ix.excludes(a.username, now):
                    raise AssertionError(f"{ix.id} in {ix.queue} waits while {a.username} is free")

    def _check_storage(self, r: Router) -> None:
        for name, a in r.agents.items():
            stored = self.store.statuses.get(name, ("offline", ""))
            assert stored == (a.status, a.reason), f"{name} status {a.status} stored {stored}"
        for ix in r.interactions.values():
            rec = self.store.interactions.get(ix.id)
            assert rec is not None, f"{ix.id} live but never persisted"
            assert rec.queue == ix.queue and (-rec.priority, rec.band, rec.order) == ix.key
            if ix.status == "assigned":
                assert (rec.status, rec.agent) == ("assigned", ix.agent)
            else:
                assert rec.status == "waiting", f"{ix.id} is {ix.status}, stored {rec.status}"
        for iid, rec in self.store.interactions.items():
            if iid not in r.interactions:
                assert rec.status in FINAL_INTERACTION, f"{iid} lost: stored {rec.status}"


def test_router_state_machine(kit: Any) -> None:
    """Random command sequences never break the routing invariants."""
    run_state_machine_as_test(
        lambda: RouterMachine(kit),
        settings=settings(
            max_examples=400,
            stateful_step_count=50,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
