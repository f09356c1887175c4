"""Calls: the telephony gateway's events and commands, callbacks, scheduled
calls, call and customer journeys.

Switchboard carries no audio. The gateway (a PBX or SIP bridge) reports what
happens to calls and carries out the server's commands. Gateway events are
idempotent: one that repeats, or arrives after a later one, changes nothing
and is still answered ``ok``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from protocol.base import Push, Record, Reply, Request
from protocol.chats import ContactView
from protocol.config import Ident
from protocol.views import InteractionStatus, InteractionView

CallId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Number = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Cause = Annotated[str, msgspec.Meta(max_length=64)]
CallState = Literal[
    "ringing_queue",
    "ringing_agent",
    "answered",
    "requested",
    "queued",
    "dialing_agent",
    "dialing_customer",
    "connected",
    "transferring",
    "ended",
    "failed",
    "missed_flow",
]
CallKind = Literal["inbound", "callback", "outbound", "scheduled"]

CALLBACK_ANNOUNCEMENT = (
    "This is the callback call. Please wait while we are connecting to the caller."
)

# ----------------------------------------------------------- gateway events


class CallRinging(Request, tag="call_ringing", kw_only=True):
    """Gateway: the agent's device is ringing."""

    call_id: CallId
    device: Annotated[str, msgspec.Meta(max_length=128)] = ""


class AgentAnswered(Request, tag="agent_answered", kw_only=True):
    """Gateway: the agent picked up on ``device`` (for an offered call, this
    accepts the offer just as the agent's ``accept`` would)."""

    call_id: CallId
    device: Annotated[str, msgspec.Meta(max_length=128)] = ""


class CustomerAnswered(Request, tag="customer_answered", kw_only=True):
    """Gateway: the customer is on the line (inbound: bridged; outbound: picked up)."""

    call_id: CallId


class CallTransferred(Request, tag="call_transferred", kw_only=True):
    """Gateway: the call was transferred (to an extension or a number)."""

    call_id: CallId
    target: Annotated[str, msgspec.Meta(max_length=128)]


class CallFailed(Request, tag="call_failed", kw_only=True):
    """Gateway: the call could not be set up (busy, no answer, rejected...)."""

    call_id: CallId
    cause: Cause = "failure"


class CallbackRequest(Request, tag="callback_request", kw_only=True):
    """Gateway or bot: a customer asked to be called back ("press 1").

    ``requested_at`` is when the customer asked; callbacks queue by it.
    """

    number: Number
    queue: Ident
    requested_at: float | None = None
    call_id: CallId | None = None  # the call during which it was asked for
    name: Annotated[str, msgspec.Meta(max_length=256)] = ""


class CallbackQueued(Reply, tag="callback_queued", kw_only=True):
    """``queued``: it waits for an agent; ``duplicate``: this caller already
    has one waiting (kept, this one dropped); ``missed_flow``: the queue holds
    its maximum, play the missed-call flow instead."""

    outcome: Literal["queued", "duplicate", "missed_flow"]
    interaction: InteractionView


# --------------------------------------------------------- gateway commands


class GatewayCommand(Push, kw_only=True):
    """A command for the gateway; it answers with events about ``call_id``."""

    call_id: str


class RingAgent(GatewayCommand, tag="ring_agent", kw_only=True):
    """Ring the agent's device for an offered call (answering it accepts)."""

    agent: str
    device: str
    address: str
    timeout: float


class StopRinging(GatewayCommand, tag="stop_ringing", kw_only=True):
    """The offer is gone (declined, timed out, taken back): stop ringing ``device``."""

    agent: str
    device: str


class Connect(GatewayCommand, tag="connect", kw_only=True):
    """Bridge the waiting caller to the agent's device."""

    agent: str
    device: str
    address: str


class Play(GatewayCommand, tag="play", kw_only=True):
    """Play ``text`` (text to speech or a matching prompt) to ``to``."""

    to: Literal["agent", "customer"]
    text: str


class Originate(GatewayCommand, tag="originate", kw_only=True):
    """Place an outbound call: ring the agent's device first, then dial the
    customer once the agent answered (for a callback, after the ``play``
    command the server sends when the agent's leg answers)."""

    agent: str
    device: str
    address: str
    number: str
    caller_id: str = ""


class Hangup(GatewayCommand, tag="hangup", kw_only=True):
    """End the call on the telephony side."""

    cause: str = "normal_clearing"


# ------------------------------------------------------------------- agents


class PlaceCallback(Request, tag="place_callback", kw_only=True):
    """Agent: call the customer of a transaction back on one of your devices.

    The number is checked against the compliance rules first; a refusal is
    error ``refused`` with ``details.rule``.
    """

    interaction: str  # the transaction (chat or call) this follows up
    number: Number
    device: Ident
    verified: bool = False


class ScheduleCall(Request, tag="schedule_call", kw_only=True):
    """Agent: call ``number`` at ``at`` on ``device`` (to this agent if it is
    available then, else through ``queue``)."""

    number: Number
    at: float
    device: Ident
    queue: Ident | None = None
    interaction: str | None = None  # the transaction it follows up


class CancelScheduledCall(Request, tag="cancel_scheduled_call", kw_only=True):
    scheduled: str


class ScheduledCallView(Record, kw_only=True):
    id: str
    agent: str
    number: str
    at: float
    device: str
    queue: str | None = None
    related: str | None = None
    status: Literal["pending", "placed", "canceled"]
    interaction: str | None = None


class Scheduled(Reply, tag="scheduled", kw_only=True):
    call: ScheduledCallView


class StartScheduledCall(Request, tag="start_scheduled_call", kw_only=True):
    """Agent: place one of your pending scheduled calls now, on its device.

    You must be free (idle, no offer); the call is assigned to you at once,
    like ``place_callback``. The reply is ``scheduled`` with status ``placed``
    and the call's ``interaction``.
    """

    scheduled: str


class SetCallResult(Request, tag="set_call_result", kw_only=True):
    """Agent on the call (or who had it): the result, and why a call failed."""

    interaction: str
    result: Ident | None = None
    reason: Annotated[str, msgspec.Meta(max_length=1000)] | None = None


class GetCall(Request, tag="get_call", kw_only=True):
    interaction: str


class JourneyStep(Record, kw_only=True):
    at: float
    step: str  # initiated, routed, ringing, answered_by_agent, answered_by_customer...
    detail: str = ""


class CallRecord(Record, kw_only=True):
    """The call journey and its sidebar: caller id, number, answered, talking
    duration (end minus answered), result."""

    interaction: InteractionView
    kind: CallKind
    state: CallState
    call_id: str
    number: str
    caller_id: str = ""
    device: str = ""
    answered_at: float | None = None
    talking: float | None = None
    result: str | None = None
    reason: str = ""
    related: str | None = None
    verified: bool = False
    contact: ContactView | None = None
    candidates: list[ContactView] = []
    case: str | None = None  # the case this call raised or discussed (the latest)
    steps: list[JourneyStep] = []


class ListCalls(Request, tag="list_calls", kw_only=True):
    """An agent's "My calls": its pending scheduled calls, soonest first, and
    the last ``limit`` calls it handled, newest first.

    Agents see only their own (``agent``, when given, must be themselves); a
    supervisor names the agent.
    """

    agent: Ident | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10


class CallSummary(Record, kw_only=True):
    """One of an agent's recent calls. ``direction`` is ``outbound`` for the
    calls the center places (callbacks, outbound and scheduled calls);
    ``started_at`` is when the call was created, ``ended_at`` when it ended
    or failed; ``case`` the case it raised or discussed, if any."""

    interaction: str
    kind: CallKind
    direction: Literal["inbound", "outbound"]
    state: CallState
    number: str
    queue: str
    contact: ContactView | None = None
    started_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    talking: float | None = None
    result: str | None = None
    reason: str = ""
    case: str | None = None


class CallList(Reply, tag="call_list", kw_only=True):
    agent: str
    scheduled: list[ScheduledCallView]
    recent: list[CallSummary]


class CallDetail(Reply, tag="call", kw_only=True):
    record: CallRecord


class GetJourney(Request, tag="get_journey", kw_only=True):
    """Every call and chat of a contact, oldest first."""

    contact: str


class JourneyEntry(Record, kw_only=True):
    interaction: str
    channel: str
    kind: str = ""
    status: InteractionStatus
    agent: str | None = None
    queue: str
    created_at: float
    ended_at: float | None = None


class Journey(Reply, tag="journey", kw_only=True):
    contact: ContactView
    entries: list[JourneyEntry]


class CallPush(Push, tag="call_state", kw_only=True):
    """A call's state moved (to the agent on it and to supervisors)."""

    interaction: str
    call_id: str
    state: CallState
