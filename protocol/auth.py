"""Authentication: the first frame of every connection."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from protocol.base import Record, Reply, Request
from protocol.config import AgentConfig, QueueConfig
from protocol.views import AgentView, InteractionView

Role = Literal["agent", "supervisor", "bot", "gateway"]


class Login(Request, tag="login", kw_only=True):
    """Agents and supervisors: username and password."""

    username: Annotated[str, msgspec.Meta(max_length=64)]
    password: Annotated[str, msgspec.Meta(max_length=256)]


class LoginKey(Request, tag="login_key", kw_only=True):
    """Bots and the telephony gateway: an API key.

    A reconnecting bot or gateway sends the ``last_seq`` it saw to continue
    its session: pushes after it that the server still holds are replayed.
    """

    api_key: Annotated[str, msgspec.Meta(max_length=256)]
    last_seq: int | None = None


class Resume(Request, tag="resume", kw_only=True):
    """Reconnect with the ``session_token`` of an earlier ``welcome``.

    ``last_seq`` is the last push the client saw; later pushes still held by
    the server are replayed right after the ``welcome``.
    """

    token: Annotated[str, msgspec.Meta(max_length=256)]
    last_seq: int = 0


class OfferView(Record, kw_only=True):
    offer: str
    interaction: InteractionView
    expires_at: float


class Welcome(Reply, tag="welcome", kw_only=True):
    """Successful authentication, with everything the client needs to start."""

    protocol: str
    server: str
    role: Role
    principal: str  # username or API key id
    display_name: str = ""
    session_token: str = ""  # agents and supervisors: use with ``resume``
    token_expires_at: float | None = None
    resumed: bool = False
    #: Pushes replayed after this frame; ``replay_gap`` means some were lost
    #: (e.g. server restart) and this snapshot is the truth.
    replayed: int = 0
    replay_gap: bool = False
    agent: AgentView | None = None
    #: Agents and supervisors: their own account (skills, devices, inboxes).
    account: AgentConfig | None = None
    #: Agents: the queues they are a member of (names for the client to show).
    queues: list[QueueConfig] = []
    offer: OfferView | None = None
    interactions: list[InteractionView] = []
