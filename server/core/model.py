"""The mutable objects the router owns: agents, interactions, offers."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from protocol.auth import OfferView
from protocol.config import AgentConfig, Channel, QueueConfig
from protocol.views import (
    AgentActivity,
    AgentStatus,
    AgentView,
    ChatState,
    Customer,
    InteractionStatus,
    InteractionView,
)


@dataclass(slots=True, eq=False)
class Offer:
    id: str
    interaction: Interaction
    agent: Agent
    created_at: float
    expires_at: float
    state: str = "pending"

    def view(self) -> OfferView:
        return OfferView(
            offer=self.id, interaction=self.interaction.view(), expires_at=self.expires_at
        )


@dataclass(slots=True, eq=False)
class Agent:
    cfg: AgentConfig
    order: int  # stable tie-break: creation order
    since: float  # when status or state last changed
    idle_since: float  # for longest-idle: last time work ended or it went ready
    status: AgentStatus = "offline"
    reason: str = ""
    state: AgentActivity = "idle"
    connected: bool = False
    offer: Offer | None = None
    interaction: Interaction | None = None
    missed: int = 0  # consecutive offers that timed out
    #: Bumped whenever the agent stops being available, so that its entries
    #: in queue pools go stale without searching for them.
    version: int = 0
    wrap_up_until: float | None = None
    grace_until: float | None = None
    queues: tuple[str, ...] = ()  # queues it is eligible for, config order
    rr_tick: dict[str, int] = field(default_factory=dict)  # round robin, per queue

    @property
    def username(self) -> str:
        return self.cfg.username

    @property
    def available(self) -> bool:
        return self.connected and self.status == "ready" and self.state == "idle"

    def view(self) -> AgentView:
        return AgentView(
            username=self.cfg.username,
            display_name=self.cfg.display_name,
            status=self.status,
            reason=self.reason,
            state=self.state,
            connected=self.connected,
            since=self.since,
            interaction=self.interaction.id if self.interaction else None,
            offer=self.offer.id if self.offer else None,
        )


@dataclass(slots=True, eq=False)
class Interaction:
    id: str
    channel: Channel
    queue: str
    owner: str  # API key id of the bot or gateway that brought it
    created_at: float
    enqueued_at: float  # entered its current queue
    priority: int
    #: Queue order is (-priority, band, order): band 0 is "back at the head"
    #: (re-queued after its agent vanished), band 1 is normal arrival order.
    band: int
    order: int
    status: InteractionStatus = "waiting"
    customer: Customer = field(default_factory=Customer)
    source: str = ""
    call_id: str | None = None
    agent: str | None = None
    accepted_at: float | None = None
    ended_at: float | None = None
    end_reason: str | None = None
    chat_state: ChatState | None = None
    contact: str | None = None
    previous: str | None = None
    offer: Offer | None = None
    #: Agents that declined or missed it, and until when they are skipped.
    excluded: dict[str, float] = field(default_factory=dict)
    version: int = 0  # bumped on leaving a waiting heap

    @property
    def key(self) -> tuple[int, int, int]:
        return (-self.priority, self.band, self.order)

    def excludes(self, username: str, now: float) -> bool:
        until = self.excluded.get(username)
        return until is not None and until > now

    def view(self) -> InteractionView:
        return InteractionView(
            id=self.id,
            channel=self.channel,
            queue=self.queue,
            status=self.status,
            customer=self.customer,
            source=self.source,
            created_at=self.created_at,
            agent=self.agent,
            accepted_at=self.accepted_at,
            ended_at=self.ended_at,
            end_reason=self.end_reason,
            chat_state=self.chat_state,
            contact=self.contact,
            previous=self.previous,
        )

    def record(self) -> InteractionRecord:
        return InteractionRecord(
            id=self.id,
            channel=self.channel,
            queue=self.queue,
            owner=self.owner,
            status=self.status,
            created_at=self.created_at,
            enqueued_at=self.enqueued_at,
            priority=self.priority,
            band=self.band,
            order=self.order,
            customer=self.customer,
            source=self.source,
            call_id=self.call_id,
            agent=self.agent,
            accepted_at=self.accepted_at,
            ended_at=self.ended_at,
            end_reason=self.end_reason,
            chat_state=self.chat_state,
            contact=self.contact,
            previous=self.previous,
        )


class InteractionRecord(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """What survives a restart of an interaction (a row of ``interactions``)."""

    id: str
    channel: Channel
    queue: str
    owner: str
    status: InteractionStatus
    created_at: float
    enqueued_at: float
    priority: int
    band: int
    order: int
    customer: Customer = Customer()
    source: str = ""
    call_id: str | None = None
    agent: str | None = None
    accepted_at: float | None = None
    ended_at: float | None = None
    end_reason: str | None = None
    chat_state: ChatState | None = None
    contact: str | None = None
    previous: str | None = None


def eligible(agent: AgentConfig, queue: QueueConfig) -> bool:
    """Whether ``agent`` may serve ``queue``: member, channel and every skill."""
    if queue.id not in agent.inboxes or queue.channel not in agent.channels:
        return False
    return all(agent.skills.get(s, 0) >= level for s, level in queue.skills.items())


def skill_score(agent: AgentConfig, queue: QueueConfig) -> int:
    """Sum of the agent's levels in the queue's skills (highest first wins)."""
    return sum(agent.skills.get(s, 0) for s in queue.skills)
