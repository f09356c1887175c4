"""Configuration records: queues, agents and API keys.

The same structs are read from the TOML file, stored in SQLite and edited
live by supervisors through frames, so their constraints are checked in one
place: by msgspec when a frame or the file is decoded.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from protocol.base import Record

Ident = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")]
SkillLevel = Annotated[int, msgspec.Meta(ge=1, le=10)]
Seconds = Annotated[float, msgspec.Meta(ge=0, le=86_400)]
Channel = Literal["chat", "call"]
Strategy = Literal["longest_idle", "round_robin", "skill_level"]
UserRole = Literal["agent", "supervisor"]
KeyRole = Literal["bot", "gateway"]
Source = Literal["webchat", "telegram", "whatsapp", "viber", "messenger", "other"]


class QueueConfig(Record, kw_only=True):
    """An inbox: where interactions of one channel wait for agents."""

    id: Ident
    name: str = ""
    channel: Channel = "chat"
    #: Skill name -> minimum level an agent needs (all are required).
    skills: dict[Ident, SkillLevel] = {}
    strategy: Strategy = "longest_idle"
    #: Seconds an agent has to accept an offer before it moves on.
    offer_timeout: Annotated[float, msgspec.Meta(gt=0, le=600)] = 20.0
    #: Seconds an agent stays out of routing after an interaction ends.
    wrap_up: Seconds = 0.0
    #: Seconds an interaction may wait here; 0 means no limit.
    max_wait: Seconds = 0.0
    #: Queue that takes interactions over ``max_wait``; none means missed.
    overflow: Ident | None = None
    #: Higher is served first, across all queues an agent serves.
    priority: Annotated[int, msgspec.Meta(ge=0, le=100)] = 0


class Device(Record, kw_only=True):
    """A phone an agent can be rung on (softphone, desk phone, mobile)."""

    id: Ident
    label: str = ""
    address: str = ""  # SIP URI or number the gateway dials


class AgentConfig(Record, kw_only=True):
    """An agent's or supervisor's account."""

    username: Ident
    display_name: str = ""
    role: UserRole = "agent"
    skills: dict[Ident, SkillLevel] = {}
    channels: list[Channel] = msgspec.field(default_factory=lambda: ["chat", "call"])
    extension: str | None = None
    devices: list[Device] = []
    #: Queue ids this agent is a member of (serves and may see).
    inboxes: list[Ident] = []


class ApiKeyConfig(Record, kw_only=True):
    """An API key of a bot (chat source) or of the telephony gateway."""

    id: Ident
    role: KeyRole
    name: str = ""
    source: Source = "other"
    #: Queues a bot may open chats in / a gateway may route calls to.
    queues: list[Ident] = []
