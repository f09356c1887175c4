"""Fixtures for the routing core: a fake clock, sequential ids and a desk.

Everything here is synchronous. Time moves only when a test says so
(``desk.tick``), and ``tick`` always calls ``router.advance()`` afterwards,
as the runtime does when it wakes up for a deadline.
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from typing import Any

import pytest

from protocol.base import Push
from protocol.config import AgentConfig, Channel, QueueConfig
from protocol.views import AgentStatus, Customer
from server.core import Effect, Persist, Router, RoutingError, RoutingSettings, Send
from server.core.model import Agent, Interaction, Offer


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, dt: float) -> None:
        self.now += dt


class SequentialIds:
    """``new_id(prefix)`` -> ``prefix1``, ``prefix2``... per prefix."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, prefix: str) -> str:
        n = self.counts.get(prefix, 0) + 1
        self.counts[prefix] = n
        return f"{prefix}{n}"


def snapshot(router: Router) -> Any:
    """Everything observable about a router's state, as comparable values.

    Used to show that a refused command changed nothing at all.
    """
    agents = {
        name: (
            a.cfg,
            a.order,
            a.since,
            a.idle_since,
            a.status,
            a.reason,
            a.state,
            a.connected,
            a.offer.id if a.offer else None,
            a.interaction.id if a.interaction else None,
            a.missed,
            a.version,
            a.wrap_up_until,
            a.grace_until,
            a.queues,
            dict(a.rr_tick),
        )
        for name, a in router.agents.items()
    }
    interactions = {
        ix.id: (ix.record(), ix.offer.id if ix.offer else None, dict(ix.excluded), ix.version)
        for ix in router.interactions.values()
    }
    offers = {
        o.id: (o.state, o.interaction.id, o.agent.username, o.expires_at)
        for o in router.offers.values()
    }
    lines = {q: sorted(ix.id for ix in line.members()) for q, line in router._lines.items()}
    pools = {q: len(pool) for q, pool in router._pools.items()}
    members = {q: sorted(m) for q, m in router._members.items()}
    return (
        agents,
        interactions,
        offers,
        dict(router.queues),
        lines,
        pools,
        members,
        sorted(router.calls),
        {k: sorted(v) for k, v in router.by_owner.items()},
        router.watching,
        router.timers.pending(),
        router.next_deadline(),
        router._next_order,
        router._next_head,
    )


def sends(
    effects: Iterable[Effect], kind: type[Push] | None = None, to: tuple[str, str] | None = None
) -> list[Send]:
    """The :class:`Send` effects, optionally of one frame type and/or target."""
    return [
        e
        for e in effects
        if isinstance(e, Send)
        and (kind is None or isinstance(e.frame, kind))
        and (to is None or e.to == to)
    ]


def persists(effects: Iterable[Effect], kind: str | None = None) -> list[Persist]:
    """The :class:`Persist` effects, optionally of one ``kind``."""
    return [e for e in effects if isinstance(e, Persist) and (kind is None or e.kind == kind)]


class Desk:
    """A router on a fake clock, with shorthands for the common moves."""

    def __init__(self, router: Router, clock: FakeClock) -> None:
        self.router = router
        self.clock = clock

    # configuration -------------------------------------------------------
    def queue(self, qid: str = "q", **kw: Any) -> QueueConfig:
        cfg = QueueConfig(id=qid, **kw)
        self.router.put_queue(cfg)
        return cfg

    def agent(
        self,
        name: str,
        *,
        inboxes: Iterable[str] = ("q",),
        skills: dict[str, int] | None = None,
        channels: Iterable[Channel] = ("chat", "call"),
        status: AgentStatus = "ready",
        reason: str = "",
        connect: bool = True,
    ) -> Agent:
        """Create an agent; by default it is connected and ready."""
        self.router.put_agent(
            AgentConfig(
                username=name,
                skills=dict(skills or {}),
                channels=list(channels),
                inboxes=list(inboxes),
            )
        )
        if connect:
            self.router.connect(name)
        if status != "offline":
            self.router.set_status(name, status, reason)
        return self.router.agents[name]

    # interactions --------------------------------------------------------
    def chat(self, queue: str = "q", owner: str = "bot", **kw: Any) -> Interaction:
        return self.router.create("chat", queue, owner, customer=Customer(name="c"), **kw)

    def call(self, queue: str = "q", owner: str = "gw", **kw: Any) -> Interaction:
        return self.router.create("call", queue, owner, **kw)

    # offers --------------------------------------------------------------
    def offer(self, name: str) -> Offer | None:
        return self.router.agents[name].offer

    def offered_to(self, ix: Interaction) -> str | None:
        return ix.offer.agent.username if ix.offer is not None else None

    def accept(self, name: str) -> Interaction:
        offer = self.offer(name)
        assert offer is not None, f"{name} has no offer"
        return self.router.accept(name, offer.id)

    def decline(self, name: str) -> None:
        offer = self.offer(name)
        assert offer is not None, f"{name} has no offer"
        self.router.decline(name, offer.id)

    def serve(self, name: str) -> Interaction:
        """Accept the agent's offer and end it at once (as the agent)."""
        ix = self.accept(name)
        self.router.end(ix.id, ("agent", name))
        return ix

    # time ----------------------------------------------------------------
    def tick(self, dt: float) -> None:
        self.clock.advance(dt)
        self.router.advance()

    # effects and state ------------------------------------------------------
    def effects(self) -> list[Effect]:
        return self.router.take_effects()

    sends = staticmethod(sends)
    persists = staticmethod(persists)

    def snapshot(self) -> Any:
        return snapshot(self.router)

    def refused(self, command: Any, *args: Any, **kw: Any) -> Any:
        """Run a command that must be refused; show it changed nothing.

        Returns the :class:`RoutingError` so the test can check its code.
        """
        self.effects()
        before = snapshot(self.router)
        with pytest.raises(RoutingError) as caught:
            command(*args, **kw)
        assert snapshot(self.router) == before
        assert self.effects() == []
        return caught.value


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ids() -> SequentialIds:
    return SequentialIds()


@pytest.fixture
def settings() -> RoutingSettings:
    return RoutingSettings(grace=60.0, max_missed=3, reoffer_delay=10.0)


@pytest.fixture
def router(clock: FakeClock, ids: SequentialIds, settings: RoutingSettings) -> Router:
    return Router(clock, ids, settings)


@pytest.fixture
def desk(router: Router, clock: FakeClock) -> Desk:
    return Desk(router, clock)


@pytest.fixture
def kit() -> types.SimpleNamespace:
    """The helper classes, for tests that build routers of their own."""
    return types.SimpleNamespace(
        FakeClock=FakeClock, SequentialIds=SequentialIds, snapshot=snapshot, Desk=Desk
    )
