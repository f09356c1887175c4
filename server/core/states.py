"""Every state machine of routing, one transition table each, as data.

A pair missing from a table is an illegal event: :func:`step` raises and the
caller, which validates before it mutates, changes nothing.
"""

from __future__ import annotations

from typing import TypeVar

from protocol.views import AgentActivity, ChatState, InteractionStatus
from server.core.errors import IllegalTransition

S = TypeVar("S", bound=str)

#: Agent state (set by the system). Status (ready / not ready / offline) is
#: chosen by people and is independent: only ready + idle is routable.
AGENT_STATE: dict[tuple[AgentActivity, str], AgentActivity] = {
    ("idle", "offer"): "offered",
    ("offered", "accept"): "busy",
    ("offered", "decline"): "idle",
    ("offered", "time_out"): "idle",
    ("offered", "rescind"): "idle",
    ("busy", "end"): "wrap_up",
    ("busy", "take_away"): "idle",  # grace expired: the interaction is re-queued
    ("wrap_up", "finish"): "idle",
    ("wrap_up", "take_away"): "idle",
}

OFFER: dict[tuple[str, str], str] = {
    ("pending", "accept"): "accepted",
    ("pending", "decline"): "declined",
    ("pending", "time_out"): "timed_out",
    ("pending", "rescind"): "rescinded",
}

#: The customer-journey status of an interaction.
INTERACTION: dict[tuple[InteractionStatus, str], InteractionStatus] = {
    ("waiting", "offer"): "assigning",
    ("assigning", "decline"): "waiting",
    ("assigning", "time_out"): "waiting",
    ("assigning", "rescind"): "waiting",
    ("assigning", "accept"): "assigned",
    ("assigned", "requeue"): "waiting",
    ("assigned", "transfer"): "transferring",
    ("transferring", "accept"): "assigned",
    ("waiting", "overflow"): "waiting",
    ("assigned", "end"): "ended",
    ("transferring", "end"): "ended",
    # Ended before any agent had it: abandoned, or no agent within max wait.
    ("waiting", "abandon"): "failed",
    ("assigning", "abandon"): "failed",
    ("waiting", "miss"): "failed",
}

FINAL_INTERACTION = frozenset({"ended", "failed"})

#: The agent's view of a chat (seed 003): accepted, written to, ended.
CHAT: dict[tuple[ChatState, str], ChatState] = {
    ("new", "agent_message"): "in_progress",
    ("new", "set_in_progress"): "in_progress",
    ("in_progress", "agent_message"): "in_progress",
    ("in_progress", "set_in_progress"): "in_progress",
    ("new", "end"): "completed",
    ("in_progress", "end"): "completed",
}


def step(table: dict[tuple[S, str], S], machine: str, state: S, event: str) -> S:
    """The state after ``event`` in ``state``, or :class:`IllegalTransition`."""
    try:
        return table[(state, event)]
    except KeyError:
        raise IllegalTransition(machine, state, event) from None
