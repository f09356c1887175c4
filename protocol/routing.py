"""Agents' routing frames: status, offers, interactions."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from protocol.base import Push, Request
from protocol.views import AgentStatus, AgentView, InteractionView

Reason = Annotated[str, msgspec.Meta(max_length=64)]
OfferEnd = Literal["accepted", "declined", "timed_out", "rescinded"]


class SetStatus(Request, tag="set_status", kw_only=True):
    """Agent: choose ready, not ready (with a reason) or offline."""

    status: AgentStatus
    reason: Reason = ""


class Accept(Request, tag="accept", kw_only=True):
    """Agent: take the offer; answered by ``ok`` once it is yours."""

    offer: str


class Decline(Request, tag="decline", kw_only=True):
    """Agent: refuse the offer; it goes to another agent."""

    offer: str


class End(Request, tag="end", kw_only=True):
    """End an interaction (the agent on it, its bot, or a supervisor)."""

    interaction: str
    reason: Reason = ""


class WrapUpDone(Request, tag="wrap_up_done", kw_only=True):
    """Agent: leave wrap-up early."""


class Offered(Push, tag="offer", kw_only=True):
    """An interaction is offered to this agent until ``expires_at``."""

    offer: str
    interaction: InteractionView
    expires_at: float
    timeout: float


class OfferClosed(Push, tag="offer_closed", kw_only=True):
    """The offer is no longer open (accepted, declined, timed out, rescinded)."""

    offer: str
    interaction: str
    outcome: OfferEnd
    reason: str = ""


class AgentChanged(Push, tag="agent_state", kw_only=True):
    """An agent's status or state changed (the agent itself, supervisors)."""

    agent: AgentView


class InteractionChanged(Push, tag="interaction", kw_only=True):
    """An interaction you may see changed (assigned, ended, re-queued...)."""

    interaction: InteractionView
