"""Supervisors: live dashboard, agent control and live configuration."""

from __future__ import annotations

from typing import Annotated

import msgspec

from protocol.base import Push, Record, Reply, Request
from protocol.config import AgentConfig, ApiKeyConfig, Ident, QueueConfig
from protocol.routing import Reason
from protocol.views import AgentStatus, AgentView, InteractionView, QueueStats


class Watch(Request, tag="watch", kw_only=True):
    """Subscribe to live agent states and queue figures."""


class Unwatch(Request, tag="unwatch", kw_only=True):
    """Stop the live subscription."""


class Dashboard(Reply, tag="dashboard", kw_only=True):
    agents: list[AgentView]
    queues: list[QueueStats]


class QueueFigures(Push, tag="queue_stats", kw_only=True):
    """Queue figures that changed since the last push (sent a few times a second)."""

    queues: list[QueueStats]


class SetAgentStatus(Request, tag="set_agent_status", kw_only=True):
    agent: Ident
    status: AgentStatus
    reason: Reason = ""


class EndInteraction(Request, tag="end_interaction", kw_only=True):
    """End a live chat or call, whoever has it (or while it waits).

    A chat is completed; a call is hung up (the gateway gets ``hangup``). The
    interaction's ``end_reason`` names the supervisor:
    ``ended_by_supervisor:<username>``, then ``:<reason>`` when one is given.
    The agent on it gets the ``interaction`` push and goes to wrap-up as its
    queue says (as when it ends the interaction itself); the bot or gateway
    gets the ``interaction`` push.
    """

    interaction: str
    reason: Reason = ""


class Reassign(Request, tag="reassign", kw_only=True):
    """Take a live interaction from its agent: back to its queue, or to ``agent``.

    Without ``agent`` the interaction must be with an agent; it goes back to
    the head of its queue (where an interaction whose agent vanished goes) and
    is offered to another agent, the one who had it being passed over for the
    re-offer delay. With ``agent`` it is offered to that agent at once, who
    must be connected, ``ready`` and ``idle`` (no interaction, no offer, not in
    wrap-up) and take its channel; queue membership and skills are not
    required. If that agent declines or lets the offer time out, the
    interaction waits at the head of its queue like any other.

    An interaction that is waiting or offered can be given to ``agent`` too.
    A call an agent is talking on cannot be reassigned (``refused``, rule
    ``call_connected``): move it with a transfer on the telephony side.

    The agent losing it gets ``reassigned`` and goes to wrap-up as the queue
    says (as if the interaction had ended for it); an offer that is taken back
    is ``rescinded`` with reason ``reassigned``.
    """

    interaction: str
    agent: Ident | None = None


class Reassigned(Push, tag="reassigned", kw_only=True):
    """To the agent: a supervisor took this interaction from you."""

    interaction: InteractionView
    by: str
    #: The agent it was offered to; none when it went back to its queue.
    to: str | None = None


class ListWaiting(Request, tag="list_waiting", kw_only=True):
    """The interactions waiting in a queue (or in every queue), and those offered.

    To see, :class:`Reassign` or :class:`EndInteraction` what no agent has yet.
    An unknown ``queue`` is ``not_found``.
    """

    queue: Ident | None = None


class WaitingInteraction(Record, kw_only=True):
    interaction: InteractionView
    #: Seconds it has been in its current queue, when the reply was made.
    waited: float


class WaitingList(Reply, tag="waiting", kw_only=True):
    """Queue by queue (by id): first what waits, in the order it will be
    served, then what is being offered to an agent (status ``assigning``), in the
    same order."""

    interactions: list[WaitingInteraction]


class GetConfig(Request, tag="get_config", kw_only=True):
    """Fetch queues, agents and API keys (never secrets)."""


class ConfigSnapshot(Reply, tag="config", kw_only=True):
    queues: list[QueueConfig]
    agents: list[AgentConfig]
    api_keys: list[ApiKeyConfig]


class PutQueue(Request, tag="put_queue", kw_only=True):
    """Create or replace a queue; takes effect at once."""

    queue: QueueConfig


class DeleteQueue(Request, tag="delete_queue", kw_only=True):
    queue: Ident


class PutAgent(Request, tag="put_agent", kw_only=True):
    """Create or replace an account; ``password`` is required for a new one."""

    agent: AgentConfig
    password: Annotated[str, msgspec.Meta(min_length=8, max_length=256)] | None = None


class DeleteAgent(Request, tag="delete_agent", kw_only=True):
    username: Ident


class CreateApiKey(Request, tag="create_api_key", kw_only=True):
    key: ApiKeyConfig


class ApiKeyCreated(Reply, tag="api_key_created", kw_only=True):
    """The only time the secret is shown; the server keeps a hash."""

    key_id: str
    api_key: str


class DeleteApiKey(Request, tag="delete_api_key", kw_only=True):
    key_id: Ident
