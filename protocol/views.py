"""Read-only views of server state carried inside frames."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from protocol.base import Record
from protocol.config import Channel

AgentStatus = Literal["offline", "not_ready", "ready"]
AgentActivity = Literal["idle", "offered", "busy", "wrap_up"]
InteractionStatus = Literal["waiting", "assigning", "assigned", "transferring", "ended", "failed"]
ChatState = Literal["new", "in_progress", "completed"]


class Customer(Record, kw_only=True):
    """Who is on the other side, as the source knows them."""

    name: Annotated[str, msgspec.Meta(max_length=256)] = ""
    phone: Annotated[str, msgspec.Meta(max_length=64)] = ""
    email: Annotated[str, msgspec.Meta(max_length=256)] = ""
    #: The source's own id of the user (Telegram user id, web-chat visitor...).
    external_id: Annotated[str, msgspec.Meta(max_length=256)] = ""


class InteractionView(Record, kw_only=True):
    id: str
    channel: Channel
    queue: str
    status: InteractionStatus
    customer: Customer = Customer()
    source: str = ""
    created_at: float
    agent: str | None = None
    accepted_at: float | None = None
    ended_at: float | None = None
    end_reason: str | None = None
    #: Chats only: new / in_progress / completed (none while never accepted).
    chat_state: ChatState | None = None
    #: The identified contact, when there is one.
    contact: str | None = None
    #: The chat this one continues (a customer wrote after it was completed).
    previous: str | None = None


class AgentView(Record, kw_only=True):
    username: str
    display_name: str = ""
    status: AgentStatus
    reason: str = ""
    state: AgentActivity
    connected: bool
    since: float  # when ``state`` (or status) last changed
    interaction: str | None = None
    offer: str | None = None


class QueueStats(Record, kw_only=True):
    queue: str
    waiting: int
    oldest_wait: float  # seconds the oldest waiting interaction has waited
    offered: int
    active: int
    ready_agents: int
