"""Errors the core raises before changing anything."""

from __future__ import annotations

from typing import Any

from protocol.errors import ErrorCode


class RoutingError(Exception):
    """A command the current state refuses; the state is unchanged."""

    def __init__(
        self, code: ErrorCode, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


class IllegalTransition(RoutingError):
    """An event that the state machine's table does not allow."""

    def __init__(self, machine: str, state: str, event: str) -> None:
        super().__init__(ErrorCode.CONFLICT, f"{machine}: cannot {event} when {state}")
        self.machine = machine
        self.state = state
        self.event = event
