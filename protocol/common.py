"""Frames every role uses: acknowledgements, errors and ping."""

from __future__ import annotations

from typing import Any

from protocol.base import Frame, Reply, Request, RequestId


class Ping(Request, tag="ping", kw_only=True):
    """Round trip check; answered by ``pong``."""


class Pong(Reply, tag="pong", kw_only=True):
    server_time: float


class Ok(Reply, tag="ok", kw_only=True):
    """The request named by ``id`` was done (and is durable)."""


class Error(Frame, tag="error", kw_only=True):
    """The request named by ``id`` was refused and changed nothing.

    ``id`` is null when the offending frame could not be read far enough to
    find its id (malformed input).
    """

    id: RequestId | None = None
    #: One of :class:`ErrorCode`; typed as a string so that clients keep
    #: working when a later server adds a code.
    code: str
    message: str
    details: dict[str, Any] = {}
