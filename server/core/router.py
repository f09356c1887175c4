"""The router: agents, queues, offers and interactions, as one state machine.

Every public method is a command. It validates first and raises
:class:`RoutingError` without changing anything, or it changes state and
appends effects (:class:`Persist`, then :class:`Send`) for the runtime to
carry out. Time comes from the injected ``clock`` and ids from ``new_id``;
there is no other source of nondeterminism, so the same commands at the same
times always give the same decisions.

Routing is event driven and work conserving: whenever an interaction starts
waiting it is matched against the best available agent of its queue, and
whenever an agent becomes available it takes the best waiting interaction of
its queues. So no eligible agent idles while a matching interaction waits
(except the one that has just declined or missed it, for ``reoffer_delay``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from protocol.base import Push
from protocol.config import AgentConfig, Channel, QueueConfig
from protocol.errors import ErrorCode
from protocol.routing import AgentChanged, InteractionChanged, OfferClosed, Offered, OfferEnd
from protocol.supervision import Reassigned
from protocol.views import AgentStatus, Customer, QueueStats
from server.core import effects as fx
from server.core.effects import Effect, Persist, Send, Target
from server.core.errors import RoutingError
from server.core.indexes import AgentKey, AgentPool, WaitingLine
from server.core.model import (
    Agent,
    Interaction,
    InteractionRecord,
    Offer,
    eligible,
    skill_score,
)
from server.core.states import AGENT_STATE, FINAL_INTERACTION, INTERACTION, OFFER, step
from server.core.timers import Timers

#: Who asks for a command: ("agent", username), ("supervisor", username) or
#: ("key", api key id) for bots and the gateway.
Actor = tuple[str, str]


#: What the agent is told when an offer closes on each event of ``OFFER``.
_OUTCOME: dict[str, OfferEnd] = {
    "decline": "declined",
    "time_out": "timed_out",
    "rescind": "rescinded",
}


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    #: Seconds a dropped agent keeps its interaction (and status) for a resume.
    grace: float = 60.0
    #: Consecutive timed-out offers after which an agent goes not ready "missed".
    max_missed: int = 3
    #: Seconds an agent that declined or missed an interaction is not offered
    #: that same interaction again (others get it first).
    reoffer_delay: float = 10.0


class Router:
    def __init__(
        self,
        clock: Callable[[], float],
        new_id: Callable[[str], str],
        settings: RoutingSettings | None = None,
    ) -> None:
        self.clock = clock
        self.new_id = new_id
        self.settings = settings or RoutingSettings()
        self.queues: dict[str, QueueConfig] = {}
        self.agents: dict[str, Agent] = {}
        #: Interactions not yet ended or failed, by id.
        self.interactions: dict[str, Interaction] = {}
        self.offers: dict[str, Offer] = {}
        self.calls: dict[str, Interaction] = {}  # live calls by gateway call id
        self.by_owner: dict[str, dict[str, Interaction]] = {}
        #: Supervisors watching: only then are agent changes pushed to them.
        self.watching = False
        #: Extensions (chats, calls...): timers of their own kinds, and what
        #: to do when an interaction ends. Called inside the same command.
        self.timer_handlers: dict[str, Callable[[str, float], None]] = {}
        #: Told ``(event, interaction, agent)`` for: created, offered,
        #: offer_closed, accepted, requeued, ended (also failed).
        self.listeners: list[Callable[[str, Interaction, str | None], None]] = []
        self._lines: dict[str, WaitingLine] = {}
        self._pools: dict[str, AgentPool] = {}
        self._members: dict[str, dict[str, Agent]] = {}
        #: Deadlines to be woken for (the runtime watches ``timers.changes``).
        self.timers = Timers()
        self._effects: list[Effect] = []
        self._next_order = 1  # arrival order (band 1)
        self._next_head = 1  # order among interactions put back at the head (band 0)
        self._agent_seq = itertools.count()
        self._rr = itertools.count(1)

    # ------------------------------------------------------------------ effects

    def take_effects(self) -> list[Effect]:
        """Hand over the effects collected since the last call."""
        out, self._effects = self._effects, []
        return out

    def _send(self, to: Target, frame: Push) -> None:
        self._effects.append(Send(to, frame))

    def _persist(self, kind: str, row: object) -> None:
        self._effects.append(Persist(kind, row))

    def _save(self, ix: Interaction) -> None:
        self._persist("interaction", ix.record())

    # ------------------------------------------------------------ configuration

    def put_queue(self, cfg: QueueConfig) -> None:
        """Create or replace a queue; routing uses it at once."""
        if cfg.overflow is not None:
            seen = {cfg.id}
            hop: str | None = cfg.overflow
            while hop is not None:
                if hop in seen:
                    raise RoutingError(ErrorCode.INVALID, f"overflow of {cfg.id!r} loops back")
                if hop not in self.queues:
                    raise RoutingError(ErrorCode.INVALID, f"overflow queue {hop!r} does not exist")
                seen.add(hop)
                hop = self.queues[hop].overflow
        old = self.queues.get(cfg.id)
        if old is not None and old.channel != cfg.channel and self._live_in(cfg.id):
            raise RoutingError(ErrorCode.CONFLICT, "cannot change the channel of a busy queue")
        self.queues[cfg.id] = cfg
        self._persist("queue", cfg)
        if old is None:
            self._lines[cfg.id] = WaitingLine(cfg.id)
        self._pools[cfg.id] = AgentPool(cfg.id, self._strategy_key(cfg))
        for agent in self.agents.values():
            self._place(agent)
        self._pools[cfg.id].rebuild(list(self._members.get(cfg.id, {}).values()))
        if old is not None and old.max_wait != cfg.max_wait and cfg.max_wait:
            for ix in self._lines[cfg.id].members():
                self.timers.set(ix.enqueued_at + cfg.max_wait, "max_wait", ix.id)
        self._rebalance()

    def delete_queue(self, queue_id: str) -> None:
        if queue_id not in self.queues:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no queue {queue_id!r}")
        if self._live_in(queue_id):
            raise RoutingError(ErrorCode.CONFLICT, f"queue {queue_id!r} still has interactions")
        users = [q.id for q in self.queues.values() if q.overflow == queue_id]
        if users:
            raise RoutingError(ErrorCode.CONFLICT, f"queue {queue_id!r} is the overflow of {users}")
        del self.queues[queue_id], self._lines[queue_id], self._pools[queue_id]
        self._members.pop(queue_id, None)
        for agent in self.agents.values():
            agent.queues = tuple(q for q in agent.queues if q != queue_id)
        self._persist("queue_deleted", queue_id)

    def put_agent(self, cfg: AgentConfig) -> None:
        """Create or replace an agent's account (skills, inboxes, devices...)."""
        now = self.clock()
        agent = self.agents.get(cfg.username)
        if agent is None:
            agent = Agent(cfg=cfg, order=next(self._agent_seq), since=now, idle_since=now)
            self.agents[cfg.username] = agent
        else:
            agent.cfg = cfg
            agent.version += 1  # its pool entries were keyed on the old config
        self._persist("agent", cfg)
        self._place(agent)
        if agent.available:
            self._route_agent(agent)

    def delete_agent(self, username: str) -> None:
        agent = self._agent(username)
        if agent.connected or agent.offer or agent.interaction:
            raise RoutingError(ErrorCode.CONFLICT, f"{username!r} is logged in or has work")
        agent.version += 1
        for q in agent.queues:
            self._members[q].pop(username, None)
        del self.agents[username]
        self._persist("agent_deleted", username)

    def _place(self, agent: Agent) -> None:
        """Recompute which queues ``agent`` serves and index it there."""
        queues = tuple(
            q for q in agent.cfg.inboxes if q in self.queues and eligible(agent.cfg, self.queues[q])
        )
        for q in set(agent.queues) - set(queues):
            self._members[q].pop(agent.username, None)
        agent.queues = queues
        for q in queues:
            members = self._members.setdefault(q, {})
            members[agent.username] = agent
            self._pools[q].note_members(len(members))

    def _strategy_key(self, cfg: QueueConfig) -> Callable[[Agent], AgentKey]:
        if cfg.strategy == "round_robin":
            return lambda a: (a.rr_tick.get(cfg.id, 0),)
        if cfg.strategy == "skill_level":
            return lambda a: (-skill_score(a.cfg, cfg), a.idle_since)
        return lambda a: (a.idle_since,)

    def _live_in(self, queue_id: str) -> bool:
        return any(ix.queue == queue_id for ix in self.interactions.values())

    def _rebalance(self) -> None:
        """Match everything that can be matched (after a configuration change)."""
        for agent in sorted(self.agents.values(), key=lambda a: a.order):
            if agent.available:
                agent.version += 1
                self._route_agent(agent)

    # ----------------------------------------------------------------- restore

    def restore(
        self,
        records: Iterable[InteractionRecord],
        statuses: dict[str, tuple[AgentStatus, str]],
    ) -> None:
        """Rebuild live state after a restart, before anyone connects.

        Every agent is disconnected; those that were not offline, or held an
        interaction, get the grace period to come back as they were.
        """
        now = self.clock()
        for username, (status, reason) in statuses.items():
            agent = self.agents.get(username)
            if agent is not None:
                agent.status, agent.reason = status, reason
        for rec in sorted(records, key=lambda r: (-r.priority, r.band, r.order)):
            if rec.status in FINAL_INTERACTION or rec.queue not in self.queues:
                continue
            ix = Interaction(
                id=rec.id,
                channel=rec.channel,
                queue=rec.queue,
                owner=rec.owner,
                created_at=rec.created_at,
                enqueued_at=rec.enqueued_at,
                priority=rec.priority,
                band=rec.band,
                order=rec.order,
                customer=rec.customer,
                source=rec.source,
                call_id=rec.call_id,
                accepted_at=rec.accepted_at,
                chat_state=rec.chat_state,
                contact=rec.contact,
                previous=rec.previous,
            )
            if rec.band == 1:
                self._next_order = max(self._next_order, rec.order + 1)
            elif rec.band == 0:  # band 2 (callbacks) is ordered by request time
                self._next_head = max(self._next_head, rec.order + 1)
            self._track(ix)
            agent = self.agents.get(rec.agent or "")
            if rec.status in ("assigned", "transferring") and agent and agent.interaction is None:
                ix.status, ix.agent = "assigned", agent.username
                agent.interaction, agent.state = ix, "busy"
            else:
                ix.status = "waiting"
                if rec.agent is not None:  # its agent is gone: back at the head
                    self._to_head(ix, now)
                self._arm_max_wait(ix)
                self._lines[ix.queue].add(ix)
        for agent in self.agents.values():
            if agent.status != "offline" or agent.interaction is not None:
                agent.grace_until = now + self.settings.grace
                self.timers.set(agent.grace_until, "grace", agent.username)

    # ---------------------------------------------------------------- sessions

    def connect(self, username: str) -> Agent:
        """An agent's session is up (login or resume): it gets its state back."""
        agent = self._agent(username)
        if agent.connected:
            return agent
        agent.connected = True
        agent.grace_until = None
        self._agent_changed(agent)
        if agent.available:
            self._route_agent(agent)
        return agent

    def disconnect(self, username: str) -> None:
        """An agent's connection dropped: redistribute its offer at once, hold
        its interaction for the grace period."""
        agent = self.agents.get(username)
        if agent is None or not agent.connected:
            return
        agent.connected = False
        agent.version += 1
        agent.grace_until = self.clock() + self.settings.grace
        self.timers.set(agent.grace_until, "grace", username)
        if agent.offer is not None:
            self._close_offer(agent.offer, "rescind", reason="agent_disconnected")
        self._agent_changed(agent)

    # ------------------------------------------------------------ agent status

    def set_status(self, username: str, status: AgentStatus, reason: str = "") -> None:
        agent = self._agent(username)
        reason = reason if status == "not_ready" else ""
        if (agent.status, agent.reason) == (status, reason):
            return
        was = agent.status
        agent.status, agent.reason = status, reason
        if status == "ready":
            agent.missed = 0
            if was != "ready" and agent.state == "idle":
                agent.idle_since = self.clock()
        else:
            agent.version += 1
        self._persist("agent_status", (username, status, reason))
        if agent.offer is not None and status != "ready":
            self._close_offer(agent.offer, "rescind", reason="agent_not_ready")
        self._agent_changed(agent)
        if agent.available:
            self._route_agent(agent)

    def finish_wrap_up(self, username: str) -> None:
        agent = self._agent(username)
        if agent.state != "wrap_up":
            raise RoutingError(ErrorCode.CONFLICT, "not in wrap-up")
        self._finish_wrap_up(agent)

    # ------------------------------------------------------------------ offers

    def accept(self, username: str, offer_id: str) -> Interaction:
        offer = self._offer_of(username, offer_id)
        ix, agent = offer.interaction, offer.agent
        now = self.clock()
        offer.state = step(OFFER, "offer", offer.state, "accept")
        del self.offers[offer.id]
        self._drop_max_wait(ix)
        ix.offer = agent.offer = None
        ix.status = step(INTERACTION, "interaction", ix.status, "accept")
        ix.agent, ix.accepted_at = username, now
        if ix.channel == "chat" and ix.chat_state is None:
            ix.chat_state = "new"
        agent.state = step(AGENT_STATE, "agent", agent.state, "accept")
        agent.interaction = ix
        agent.missed = 0
        self._save(ix)
        self._persist("handled", (ix.id, username, now))
        self._send(
            fx.agent(username), OfferClosed(offer=offer.id, interaction=ix.id, outcome="accepted")
        )
        self._interaction_changed(ix)
        self._agent_changed(agent)
        self._notify("accepted", ix, username)
        return ix

    def decline(self, username: str, offer_id: str) -> None:
        self._close_offer(self._offer_of(username, offer_id), "decline")

    def _offer_of(self, username: str, offer_id: str) -> Offer:
        offer = self.offers.get(offer_id)
        if offer is None or offer.agent.username != username:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no open offer {offer_id!r}")
        return offer

    def _make_offer(self, ix: Interaction, agent: Agent) -> None:
        now = self.clock()
        queue = self.queues[ix.queue]
        self._lines[ix.queue].discard(ix)
        offer = Offer(
            id=self.new_id("o"),
            interaction=ix,
            agent=agent,
            created_at=now,
            expires_at=now + queue.offer_timeout,
        )
        ix.status = step(INTERACTION, "interaction", ix.status, "offer")
        agent.state = step(AGENT_STATE, "agent", agent.state, "offer")
        agent.version += 1
        agent.rr_tick[ix.queue] = next(self._rr)
        ix.offer = agent.offer = offer
        self.offers[offer.id] = offer
        self.timers.set(offer.expires_at, "offer", offer.id)
        self._send(
            fx.agent(agent.username),
            Offered(
                offer=offer.id,
                interaction=ix.view(),
                expires_at=offer.expires_at,
                timeout=queue.offer_timeout,
            ),
        )
        self._interaction_changed(ix, to_agent=False)
        self._agent_changed(agent)
        self._notify("offered", ix, agent.username)

    def _close_offer(
        self, offer: Offer, event: str, reason: str = "", requeue: bool = True
    ) -> None:
        """End a pending offer; the interaction goes back to its place in line."""
        ix, agent = offer.interaction, offer.agent
        now = self.clock()
        offer.state = step(OFFER, "offer", offer.state, event)
        del self.offers[offer.id]
        ix.offer = agent.offer = None
        agent.state = step(AGENT_STATE, "agent", agent.state, event)
        agent.version += 1
        self._send(
            fx.agent(agent.username),
            OfferClosed(offer=offer.id, interaction=ix.id, outcome=_OUTCOME[event], reason=reason),
        )
        self._notify("offer_closed", ix, agent.username)
        if event in ("decline", "time_out"):
            until = now + self.settings.reoffer_delay
            ix.excluded[agent.username] = until
            self.timers.set(until, "reoffer", ix.id)
        if event == "time_out":
            agent.missed += 1
            if agent.missed >= self.settings.max_missed and agent.status == "ready":
                agent.status, agent.reason = "not_ready", "missed"
                self._persist("agent_status", (agent.username, "not_ready", "missed"))
        if requeue:
            ix.status = step(INTERACTION, "interaction", ix.status, event)
            self._interaction_changed(ix, to_agent=False)
            self._wait(ix)
        self._agent_changed(agent)
        if agent.available:
            self._route_agent(agent)

    # ------------------------------------------------------------ interactions

    def create(
        self,
        channel: Channel,
        queue_id: str,
        owner: str,
        customer: Customer | None = None,
        source: str = "",
        call_id: str | None = None,
        contact: str | None = None,
        previous: str | None = None,
        order_key: tuple[int, int] | None = None,
    ) -> Interaction:
        """A bot's chat or a gateway's call arrives in ``queue_id``.

        ``order_key`` (band, order) places it in line otherwise than by
        arrival: callbacks wait in band 2, by the time they were asked for.
        """
        queue = self.queues.get(queue_id)
        if queue is None:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no queue {queue_id!r}")
        if queue.channel != channel:
            raise RoutingError(ErrorCode.INVALID, f"queue {queue_id!r} takes {queue.channel}s")
        if call_id is not None and call_id in self.calls:
            return self.calls[call_id]  # the gateway repeated itself
        now = self.clock()
        ix = self._new(channel, queue, owner, customer, source, call_id, now)
        ix.contact, ix.previous = contact, previous
        if order_key is not None:
            ix.band, ix.order = order_key
        self._track(ix)
        self._save(ix)
        self._notify("created", ix)
        self._arm_max_wait(ix)
        self._wait(ix)
        return ix

    def _new(
        self,
        channel: Channel,
        queue: QueueConfig,
        owner: str,
        customer: Customer | None,
        source: str,
        call_id: str | None,
        now: float,
    ) -> Interaction:
        """A new interaction, waiting in ``queue`` in arrival order."""
        ix = Interaction(
            id=self.new_id("i"),
            channel=channel,
            queue=queue.id,
            owner=owner,
            created_at=now,
            enqueued_at=now,
            priority=queue.priority,
            band=1,
            order=self._next_order,
            customer=customer or Customer(),
            source=source,
            call_id=call_id,
        )
        self._next_order += 1
        return ix

    def create_failed(
        self,
        channel: Channel,
        queue_id: str,
        owner: str,
        customer: Customer,
        source: str,
        call_id: str | None,
        reason: str,
    ) -> Interaction:
        """Record an interaction that failed on arrival (a callback over the
        cap goes to the missed-call flow): in the journey, never routed."""
        if queue_id not in self.queues:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no queue {queue_id!r}")
        now = self.clock()
        ix = self._new(channel, self.queues[queue_id], owner, customer, source, call_id, now)
        ix.status, ix.ended_at, ix.end_reason = "failed", now, reason
        self._save(ix)
        self._notify("created", ix)
        self._interaction_changed(ix, to_agent=False)
        return ix

    def create_assigned(
        self,
        channel: Channel,
        queue_id: str,
        owner: str,
        username: str,
        customer: Customer | None = None,
        source: str = "",
        call_id: str | None = None,
        contact: str | None = None,
    ) -> Interaction:
        """Work an agent starts itself (a callback it places): assigned to it at
        once, without routing, if it is free — one active interaction still."""
        agent = self._agent(username)
        queue = self.queues.get(queue_id)
        if queue is None:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no queue {queue_id!r}")
        if channel not in agent.cfg.channels or queue.channel != channel:
            raise RoutingError(ErrorCode.INVALID, f"{username!r} does not take {channel}s here")
        if not agent.connected or agent.state != "idle" or agent.offer or agent.interaction:
            raise RoutingError(ErrorCode.CONFLICT, "finish the current interaction first")
        if call_id is not None and call_id in self.calls:
            raise RoutingError(ErrorCode.CONFLICT, f"call {call_id!r} exists")
        now = self.clock()
        ix = self._new(channel, queue, owner, customer, source, call_id, now)
        ix.status, ix.agent, ix.accepted_at, ix.contact = "assigned", username, now, contact
        agent.state = step(AGENT_STATE, "agent", agent.state, "offer")
        agent.state = step(AGENT_STATE, "agent", agent.state, "accept")
        agent.version += 1
        agent.interaction = ix
        self._track(ix)
        self._save(ix)
        self._persist("handled", (ix.id, username, now))
        self._notify("created", ix)
        self._interaction_changed(ix)
        self._agent_changed(agent)
        self._notify("accepted", ix, username)
        return ix

    def end(self, interaction_id: str, actor: Actor, reason: str = "") -> Interaction:
        """End an interaction: by its agent, its owner (bot/gateway) or a supervisor."""
        ix = self.interactions.get(interaction_id)
        if ix is None:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no live interaction {interaction_id!r}")
        kind, who = actor
        allowed = kind in ("supervisor", "system") or (kind == "key" and ix.owner == who)
        allowed = allowed or (kind == "agent" and ix.agent == who and ix.status == "assigned")
        if not allowed:
            raise RoutingError(ErrorCode.FORBIDDEN, f"interaction {interaction_id!r} is not yours")
        now = self.clock()
        agent = self.agents.get(ix.agent or "")
        if ix.status in ("waiting", "assigning"):
            if ix.offer is not None:
                self._close_offer(ix.offer, "rescind", reason="interaction_ended", requeue=False)
            self._lines[ix.queue].discard(ix)
            ix.status = step(INTERACTION, "interaction", ix.status, "abandon")
            ix.end_reason = reason or "abandoned"
        else:
            ix.status = step(INTERACTION, "interaction", ix.status, "end")
            ix.end_reason = reason or f"ended_by_{kind}"
        ix.ended_at = now
        if ix.channel == "chat":
            ix.chat_state = "completed"
        self._drop_max_wait(ix)
        self._untrack(ix)
        self._save(ix)
        self._interaction_changed(ix)
        self._notify("ended", ix)
        if agent is not None and agent.interaction is ix:
            agent.interaction = None
            self._release(agent, ix.queue, now)
        return ix

    def _release(self, agent: Agent, queue_id: str, now: float) -> None:
        """``agent``'s interaction is over for it: wrap-up as its queue says, or idle."""
        agent.state = step(AGENT_STATE, "agent", agent.state, "end")
        wrap_up = self.queues[queue_id].wrap_up if queue_id in self.queues else 0.0
        if wrap_up > 0:
            agent.wrap_up_until = now + wrap_up
            self.timers.set(agent.wrap_up_until, "wrap_up", agent.username)
            self._agent_changed(agent)
        else:
            self._finish_wrap_up(agent)

    # ------------------------------------------------------------- supervisors

    def end_by_supervisor(
        self, interaction_id: str, supervisor: str, reason: str = ""
    ) -> Interaction:
        """A supervisor ends a live interaction; its end reason names them.

        The rest is :meth:`end`: a chat is completed, a call hung up (the call
        extension commands the gateway), the agent on it goes to wrap-up.
        """
        recorded = f"ended_by_supervisor:{supervisor}" + (f":{reason}" if reason else "")
        return self.end(interaction_id, ("supervisor", supervisor), recorded)

    def reassign(self, interaction_id: str, supervisor: str, to: str | None = None) -> Interaction:
        """A supervisor takes a live interaction from its agent: back to the
        head of its queue (``to`` None), or offered to agent ``to`` at once.

        The agent that had it is told (:class:`Reassigned`), passed over for
        the re-offer delay, and goes to wrap-up as the queue says; an open
        offer is rescinded instead. If ``to`` declines or misses the offer,
        the interaction waits at its place in the queue like any other.
        """
        ix = self.interactions.get(interaction_id)
        if ix is None:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no live interaction {interaction_id!r}")
        if ix.channel == "call" and ix.status in ("assigned", "transferring"):
            raise RoutingError(
                ErrorCode.REFUSED,
                "a call an agent is on is moved by a transfer on the telephony side",
                {"rule": "call_connected"},
            )
        target: Agent | None = None
        if to is not None:
            target = self._reassign_target(ix, to)
        elif ix.status != "assigned":
            raise RoutingError(
                ErrorCode.CONFLICT, f"interaction {interaction_id!r} is not with an agent"
            )
        now = self.clock()
        holder: Agent | None = None
        if ix.offer is not None:
            self._close_offer(ix.offer, "rescind", reason="reassigned", requeue=False)
            ix.status = step(INTERACTION, "interaction", ix.status, "rescind")
        elif ix.status == "assigned":
            holder = self._agent(ix.agent or "")
            ix.status = step(INTERACTION, "interaction", ix.status, "requeue")
            ix.agent = holder.interaction = None
            self._to_head(ix, now)
            until = now + self.settings.reoffer_delay
            ix.excluded[holder.username] = until
            self.timers.set(until, "reoffer", ix.id)
            self._save(ix)
            self._interaction_changed(ix, to_agent=False)
            self._notify("requeued", ix, holder.username)
            self._arm_max_wait(ix)
        if target is not None:
            self._make_offer(ix, target)
        else:
            self._wait(ix)
        if holder is not None:
            self._send(
                fx.agent(holder.username), Reassigned(interaction=ix.view(), by=supervisor, to=to)
            )
            self._release(holder, ix.queue, now)
        return ix

    def _reassign_target(self, ix: Interaction, username: str) -> Agent:
        """The agent ``ix`` may be given to now, or the reason it may not."""
        agent = self._agent(username)
        if ix.agent == username or (ix.offer is not None and ix.offer.agent is agent):
            raise RoutingError(ErrorCode.CONFLICT, f"{username!r} already has this interaction")
        if ix.channel not in agent.cfg.channels:
            raise RoutingError(ErrorCode.INVALID, f"{username!r} does not take {ix.channel}s")
        why: str | None = None
        if not agent.connected:
            why = "offline"
        elif agent.status != "ready":
            why = "not_ready"
        elif agent.state != "idle" or agent.offer is not None or agent.interaction is not None:
            why = agent.state  # offered, busy or wrap_up: one active interaction at a time
        if why is not None:
            raise RoutingError(
                ErrorCode.CONFLICT,
                f"{username!r} is not free for it ({why.replace('_', ' ')})",
                {"agent": why},
            )
        return agent

    def _notify(self, event: str, ix: Interaction, agent: str | None = None) -> None:
        for listener in self.listeners:
            listener(event, ix, agent)

    def set_timer(self, when: float, kind: str, ref: str) -> None:
        """Ask to be called back (``timer_handlers[kind](ref, now)``) at ``when``."""
        self.timers.set(when, kind, ref)

    def cancel_timer(self, kind: str, ref: str) -> None:
        """The timers set for ``(kind, ref)`` are moot: drop them."""
        self.timers.cancel(kind, ref)

    def set_contact(self, interaction_id: str, contact: str | None) -> Interaction:
        """Link a live interaction to the contact identified for it."""
        ix = self.interactions.get(interaction_id)
        if ix is None:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no live interaction {interaction_id!r}")
        if ix.contact != contact:
            ix.contact = contact
            self.touch(ix)
        return ix

    def touch(self, ix: Interaction) -> None:
        """Persist and announce a change an extension made to ``ix``."""
        self._save(ix)
        self._interaction_changed(ix)

    def _track(self, ix: Interaction) -> None:
        self.interactions[ix.id] = ix
        self.by_owner.setdefault(ix.owner, {})[ix.id] = ix
        if ix.call_id is not None:
            self.calls[ix.call_id] = ix

    def _untrack(self, ix: Interaction) -> None:
        del self.interactions[ix.id]
        owned = self.by_owner.get(ix.owner)
        if owned is not None:
            owned.pop(ix.id, None)
            if not owned:
                del self.by_owner[ix.owner]
        if ix.call_id is not None:
            self.calls.pop(ix.call_id, None)

    def _arm_max_wait(self, ix: Interaction) -> None:
        max_wait = self.queues[ix.queue].max_wait
        if max_wait:
            self.timers.set(ix.enqueued_at + max_wait, "max_wait", ix.id)

    def _drop_max_wait(self, ix: Interaction) -> None:
        """``ix`` waits no more: its queue's max_wait timer is moot. (An
        offer's own timer is not cancelled: it is due within offer_timeout
        anyway, and skipped then if the offer was settled.)"""
        if self.queues[ix.queue].max_wait:
            self.timers.cancel("max_wait", ix.id)

    def _to_head(self, ix: Interaction, now: float) -> None:
        ix.band, ix.order = 0, self._next_head
        ix.enqueued_at = now
        self._next_head += 1

    def _wait(self, ix: Interaction) -> None:
        """Put ``ix`` (status waiting) in its line and try to offer it."""
        queue = self.queues[ix.queue]
        if queue.max_wait and ix.enqueued_at + queue.max_wait <= self.clock():
            self._overflow(ix)
            return
        self._lines[ix.queue].add(ix)
        self._route_interaction(ix)

    def _overflow(self, ix: Interaction) -> None:
        """``ix`` waited ``max_wait``: on to the overflow queue, or missed."""
        now = self.clock()
        queue = self.queues[ix.queue]
        self._lines[ix.queue].discard(ix)
        target = self.queues.get(queue.overflow) if queue.overflow else None
        if target is not None and target.channel == ix.channel:
            ix.status = step(INTERACTION, "interaction", ix.status, "overflow")
            ix.queue, ix.priority, ix.enqueued_at = target.id, target.priority, now
            self._save(ix)
            self._interaction_changed(ix, to_agent=False)
            self._arm_max_wait(ix)
            self._wait(ix)
            return
        ix.status = step(INTERACTION, "interaction", ix.status, "miss")
        ix.ended_at, ix.end_reason = now, "max_wait"
        self._untrack(ix)
        self._save(ix)
        self._interaction_changed(ix, to_agent=False)
        self._notify("ended", ix)  # extensions drop their live state, as on end()

    # ----------------------------------------------------------------- routing

    def _route_interaction(self, ix: Interaction) -> None:
        """Offer a waiting ``ix`` to the best available agent of its queue.

        That agent takes its own best waiting work, which is ``ix`` unless an
        older or higher-priority interaction became its to take at the same
        instant (exclusions that lapse together fire their timers one by one);
        then the next agent is tried for ``ix``.
        """
        now = self.clock()
        pool = self._pools[ix.queue]
        skip = (lambda a: ix.excludes(a.username, now)) if ix.excluded else None
        while ix.status == "waiting" and (agent := pool.take(skip)) is not None:
            self._route_agent(agent)
            if agent.offer is None:  # nothing for it after all: it is back in the pools
                return

    def _route_agent(self, agent: Agent) -> None:
        """Give an agent that just became available the best waiting work."""
        now = self.clock()
        name = agent.username
        best: Interaction | None = None
        for q in agent.queues:
            ix = self._lines[q].best(lambda i: i.excludes(name, now))
            if ix is not None and (best is None or ix.key < best.key):
                best = ix
        if best is not None:
            self._make_offer(best, agent)
            return
        for q in agent.queues:
            self._pools[q].add(agent, lambda q=q: list(self._members[q].values()))

    # ------------------------------------------------------------------ timers

    def next_deadline(self) -> float | None:
        """When :meth:`advance` next has something to do (maybe earlier)."""
        return self.timers.next_deadline()

    def advance(self) -> None:
        """Fire every timer that is due at the clock's current time."""
        now = self.clock()
        while (due := self.timers.pop_due(now)) is not None:
            kind, ref = due
            if kind == "offer":
                offer = self.offers.get(ref)
                if offer is not None and offer.expires_at <= now:
                    self._close_offer(offer, "time_out", reason="timed_out")
            elif kind == "wrap_up":
                agent = self.agents.get(ref)
                if agent and agent.state == "wrap_up" and (agent.wrap_up_until or 0) <= now:
                    self._finish_wrap_up(agent)
            elif kind == "grace":
                agent = self.agents.get(ref)
                if agent and not agent.connected and agent.grace_until and agent.grace_until <= now:
                    self._grace_over(agent)
            elif kind == "max_wait":
                ix = self.interactions.get(ref)
                if ix is not None and ix.status == "waiting":
                    limit = self.queues[ix.queue].max_wait
                    if limit and ix.enqueued_at + limit <= now:
                        self._overflow(ix)
            elif kind in self.timer_handlers:
                self.timer_handlers[kind](ref, now)
            elif kind == "reoffer":
                ix = self.interactions.get(ref)
                if ix is not None:
                    ix.excluded = {a: t for a, t in ix.excluded.items() if t > now}
                    if ix.status == "waiting":
                        self._route_interaction(ix)

    def _finish_wrap_up(self, agent: Agent) -> None:
        agent.state = step(AGENT_STATE, "agent", agent.state, "finish")
        agent.wrap_up_until = None
        agent.idle_since = self.clock()
        self._agent_changed(agent)
        if agent.available:
            self._route_agent(agent)

    def _grace_over(self, agent: Agent) -> None:
        """The agent did not come back: its work goes back to the head of its queue."""
        now = self.clock()
        agent.grace_until = None
        ix = agent.interaction
        if ix is not None:
            agent.interaction = None
            ix.status = step(INTERACTION, "interaction", ix.status, "requeue")
            ix.agent = None
            self._to_head(ix, now)
            self._save(ix)
            self._interaction_changed(ix, to_agent=False)
            self._notify("requeued", ix, agent.username)
            self._arm_max_wait(ix)
        if agent.state in ("busy", "wrap_up"):
            agent.state = step(AGENT_STATE, "agent", agent.state, "take_away")
            agent.wrap_up_until = None
        if agent.status != "offline":
            agent.status, agent.reason = "offline", ""
            self._persist("agent_status", (agent.username, "offline", ""))
        self._agent_changed(agent)
        if ix is not None:
            self._wait(ix)

    # ------------------------------------------------------------------- views

    def _agent(self, username: str) -> Agent:
        agent = self.agents.get(username)
        if agent is None:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no agent {username!r}")
        return agent

    def _agent_changed(self, agent: Agent) -> None:
        agent.since = self.clock()
        frame = AgentChanged(agent=agent.view())
        self._send(fx.agent(agent.username), frame)
        if self.watching:
            self._send(fx.SUPERVISORS, frame)

    def _interaction_changed(self, ix: Interaction, to_agent: bool = True) -> None:
        frame = InteractionChanged(interaction=ix.view())
        self._send(fx.key(ix.owner), frame)
        if to_agent and ix.agent is not None:
            self._send(fx.agent(ix.agent), frame)

    def queue_stats(self, queue_id: str) -> QueueStats:
        now = self.clock()
        line = self._lines[queue_id]
        waiting = line.members()
        offered = active = 0
        for ix in self.interactions.values():
            if ix.queue == queue_id:
                offered += ix.status == "assigning"
                active += ix.status in ("assigned", "transferring")
        ready = sum(1 for a in self._members.get(queue_id, {}).values() if a.available)
        return QueueStats(
            queue=queue_id,
            waiting=len(waiting),
            oldest_wait=max((now - ix.enqueued_at for ix in waiting), default=0.0),
            offered=offered,
            active=active,
            ready_agents=ready,
        )

    def waiting(self, queue_id: str) -> list[Interaction]:
        """The queue's waiting interactions in the order they will be served."""
        return sorted(self._lines[queue_id].members(), key=lambda ix: ix.key)
