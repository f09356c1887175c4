"""Stable machine codes for error frames and websocket close codes.

The codes are part of the protocol: clients switch on them, so they never
change meaning. Humans read the accompanying ``message``.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    # Input that cannot be understood.
    MALFORMED = "malformed"  # not valid JSON/MessagePack, or not an object
    UNKNOWN_TYPE = "unknown_type"  # a ``type`` this server does not know
    INVALID = "invalid"  # a known frame whose fields are wrong
    TOO_LARGE = "too_large"  # frame above the application size limit
    # Who may do what.
    NOT_AUTHENTICATED = "not_authenticated"  # anything but a login first
    ALREADY_AUTHENTICATED = "already_authenticated"
    AUTH_FAILED = "auth_failed"  # wrong credentials or expired token
    FORBIDDEN = "forbidden"  # frame not allowed for this role
    RATE_LIMITED = "rate_limited"
    # Domain refusals.
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"  # state does not allow it (e.g. offer already gone)
    REFUSED = "refused"  # a rule forbids it (details.rule says which, e.g. do_not_call)
    UNAVAILABLE = "unavailable"  # shutting down, storage failed
    INTERNAL = "internal"


class CloseCode(enum.IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001  # server shutting down
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    POLICY_VIOLATION = 1008  # repeated garbage or flooding
    TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    # Application codes (4000-4999 are ours).
    AUTH_TIMEOUT = 4001  # no login frame within the deadline
    AUTH_FAILED = 4003  # too many failed logins on one connection
    SESSION_REPLACED = 4004  # the same account logged in elsewhere
    SLOW_CONSUMER = 4008  # the peer does not read fast enough
