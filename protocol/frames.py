"""The one list of frames: what clients send and what the server sends.

Adding a frame means adding it here; the codec, the schema and the server's
dispatch all start from these tuples.
"""

from __future__ import annotations

from typing import get_args

from protocol.auth import Login, LoginKey, Resume, Welcome
from protocol.common import Error, Ok, Ping, Pong
from protocol.routing import (
    Accept,
    AgentChanged,
    Decline,
    End,
    InteractionChanged,
    OfferClosed,
    Offered,
    SetStatus,
    WrapUpDone,
)
from protocol.sources import CallHangup, CallIncoming, Created, StartChat
from protocol.supervision import (
    ApiKeyCreated,
    ConfigSnapshot,
    CreateApiKey,
    Dashboard,
    DeleteAgent,
    DeleteApiKey,
    DeleteQueue,
    GetConfig,
    PutAgent,
    PutQueue,
    QueueFigures,
    SetAgentStatus,
    Unwatch,
    Watch,
)

AUTH_FRAMES = (Login, LoginKey, Resume)

ClientFrame = (
    Login
    | LoginKey
    | Resume
    | Ping
    | SetStatus
    | Accept
    | Decline
    | End
    | WrapUpDone
    | StartChat
    | CallIncoming
    | CallHangup
    | Watch
    | Unwatch
    | SetAgentStatus
    | GetConfig
    | PutQueue
    | DeleteQueue
    | PutAgent
    | DeleteAgent
    | CreateApiKey
    | DeleteApiKey
)

ServerFrame = (
    Welcome
    | Ok
    | Error
    | Pong
    | Created
    | Dashboard
    | ConfigSnapshot
    | ApiKeyCreated
    | Offered
    | OfferClosed
    | AgentChanged
    | InteractionChanged
    | QueueFigures
)

CLIENT_FRAMES: tuple[type, ...] = get_args(ClientFrame)
SERVER_FRAMES: tuple[type, ...] = get_args(ServerFrame)
