"""Calls: the state of each call, the gateway's commands, callbacks, schedules.

Pure like the router it extends. It listens to the router (an offered call
rings the agent's device, an accepted one is connected or originated, a
closed offer stops the ringing) and applies the gateway's events through one
transition table, so a repeated or late event never moves a call backwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import msgspec

from protocol.base import Push
from protocol.calls import (
    CALLBACK_ANNOUNCEMENT,
    CallKind,
    CallPush,
    CallState,
    Connect,
    Hangup,
    Originate,
    Play,
    RingAgent,
    ScheduledCallView,
    StopRinging,
)
from protocol.errors import ErrorCode
from protocol.views import Customer
from server.core import effects as fx
from server.core.compliance import ComplianceLists, refusal
from server.core.errors import RoutingError
from server.core.model import Agent, Interaction
from server.core.router import Router

#: (state, event) -> state. Anything else is a repeat or a late event: ignored.
CALL: dict[tuple[CallState, str], CallState] = {
    # Inbound: the caller waits in the queue, an agent's device rings.
    ("ringing_queue", "offered"): "ringing_agent",
    ("ringing_agent", "offer_closed"): "ringing_queue",
    ("ringing_agent", "agent_answered"): "answered",
    ("answered", "transferred"): "transferring",
    ("transferring", "agent_answered"): "answered",
    ("answered", "hangup"): "ended",
    ("transferring", "hangup"): "ended",
    ("ringing_queue", "hangup"): "failed",  # the caller gave up
    ("ringing_agent", "hangup"): "failed",
    ("ringing_queue", "failed"): "failed",
    ("ringing_agent", "failed"): "failed",
    ("answered", "requeued"): "ringing_queue",  # its agent vanished
    # Callbacks and outbound calls: agent's device first, then the customer.
    ("queued", "offered"): "queued",
    ("queued", "accepted"): "dialing_agent",
    ("dialing_agent", "agent_answered"): "dialing_customer",
    ("dialing_customer", "customer_answered"): "connected",
    ("connected", "transferred"): "transferring",
    ("connected", "hangup"): "ended",
    ("dialing_agent", "failed"): "failed",
    ("dialing_customer", "failed"): "failed",
    ("dialing_agent", "hangup"): "failed",
    ("dialing_customer", "hangup"): "failed",
    ("queued", "hangup"): "failed",
    ("queued", "failed"): "failed",
    ("dialing_agent", "requeued"): "queued",
    ("dialing_customer", "requeued"): "queued",
    ("connected", "requeued"): "queued",
}
FINAL: frozenset[CallState] = frozenset({"ended", "failed", "missed_flow"})


@dataclass(frozen=True, slots=True)
class CallSettings:
    #: Callbacks waiting at once per queue (extension); more go to the missed flow.
    callback_cap: int = 2
    #: The gateway that places outbound calls (API key id).
    gateway: str = ""
    caller_id: str = ""
    compliance: ComplianceLists = field(default_factory=ComplianceLists)


class CallRow(msgspec.Struct, kw_only=True):
    """A call's row: what the journey sidebar shows and a restart needs."""

    interaction: str
    call_id: str
    kind: CallKind
    state: CallState
    number: str
    dialed: str = ""
    device: str = ""
    address: str = ""
    answered_at: float | None = None
    ended_at: float | None = None
    cause: str = ""
    related: str | None = None
    verified: bool = False
    requested_at: float | None = None


class ScheduledRow(msgspec.Struct, kw_only=True):
    id: str
    agent: str
    number: str
    at: float
    device: str
    queue: str | None = None
    related: str | None = None
    status: str = "pending"
    interaction: str | None = None

    def view(self) -> ScheduledCallView:
        return msgspec.convert(msgspec.to_builtins(self), ScheduledCallView)


class Calls:
    def __init__(self, router: Router, settings: CallSettings | None = None) -> None:
        self.router = router
        self.settings = settings or CallSettings()
        self.live: dict[str, CallRow] = {}  # by interaction id
        self.scheduled: dict[str, ScheduledRow] = {}
        #: The row of the call being created, for the router's "created" event.
        self._pending: CallRow | None = None
        router.listeners.append(self._on_event)
        router.timer_handlers["scheduled"] = self._scheduled_due

    # ----------------------------------------------------------------- helpers

    def _step(self, row: CallRow, step: str, detail: str = "") -> None:
        self.router._persist("call_step", (row.interaction, self.router.clock(), step, detail))

    def _save(self, row: CallRow) -> None:
        self.router._persist("call", msgspec.structs.replace(row))

    def _move(self, row: CallRow, event: str) -> bool:
        """Apply ``event`` if the table allows it from the current state."""
        nxt = CALL.get((row.state, event))
        if nxt is None:
            return False
        row.state = nxt
        if nxt in FINAL:
            row.ended_at = self.router.clock()
        self._save(row)
        ix = self.router.interactions.get(row.interaction)
        push = CallPush(interaction=row.interaction, call_id=row.call_id, state=nxt)
        if ix is not None and ix.agent is not None:
            self.router._send(fx.agent(ix.agent), push)
        if self.router.watching:
            self.router._send(fx.SUPERVISORS, push)
        return True

    def _command(self, ix: Interaction, frame: Push) -> None:
        self.router._send(fx.key(ix.owner), frame)

    def _device(self, agent: Agent, device_id: str | None = None) -> tuple[str, str]:
        devices = agent.cfg.devices
        if not devices:
            raise RoutingError(
                ErrorCode.CONFLICT, "no device: activate a device to make and take calls"
            )
        for d in devices:
            if device_id is None or d.id == device_id:
                return d.id, d.address or d.id
        raise RoutingError(ErrorCode.NOT_FOUND, f"no device {device_id!r} of yours")

    def restore(self, rows: list[CallRow], scheduled: list[ScheduledRow]) -> None:
        for row in rows:
            if row.interaction in self.router.interactions and row.state not in FINAL:
                self.live[row.interaction] = row
        now = self.router.clock()
        for s in scheduled:
            if s.status == "pending":
                self.scheduled[s.id] = s
                self.router.set_timer(max(s.at, now), "scheduled", s.id)

    # ------------------------------------------------------------ the gateway

    def incoming(
        self, gateway: str, call_id: str, caller: str, dialed: str, queue: str
    ) -> Interaction:
        """A call arrives: it waits in ``queue`` while agents' devices ring."""
        existing = self.router.calls.get(call_id)
        if existing is not None:
            return existing
        row = CallRow(
            interaction="", call_id=call_id, kind="inbound", state="ringing_queue",
            number=caller, dialed=dialed,
        )  # fmt: skip
        self._pending = row
        return self.router.create(
            "call", queue, gateway, Customer(phone=caller), "phone", call_id=call_id
        )

    def event(self, gateway: str, call_id: str, event: str, detail: str = "") -> bool:
        """A gateway event about ``call_id``; False when it changed nothing."""
        ix = self.router.calls.get(call_id)
        if ix is None or ix.owner != gateway:
            return False
        row = self.live.get(ix.id)
        if row is None:
            return False
        before = row.state
        if event == "agent_answered" and row.state == "ringing_agent" and ix.offer is not None:
            # Picking up the ringing phone is accepting the offer.
            offer = ix.offer
            self.router.accept(offer.agent.username, offer.id)  # moves the row via "accepted"
        if not self._move(row, event):
            return row.state != before
        now = self.router.clock()
        if event == "agent_answered":
            self._step(row, "answered_by_agent", f"{ix.agent} {row.device}".strip())
            if row.kind == "callback":
                # The agent must know this is a callback before the customer answers.
                self._command(ix, Play(call_id=row.call_id, to="agent", text=CALLBACK_ANNOUNCEMENT))
            if row.kind == "inbound":
                row.answered_at = now
                self._save(row)
        elif event == "customer_answered":
            row.answered_at = now
            self._save(row)
            self._step(row, "answered_by_customer", row.number)
        elif event == "transferred":
            self._step(row, "transferred", detail)
        elif event in ("hangup", "failed"):
            row.cause = detail
            self._save(row)
            self._step(row, "ended" if row.state == "ended" else "failed", detail)
            actor = ("key", gateway)
            if row.state == "failed" or ix.status != "assigned":
                self.router.end(ix.id, actor, detail or "abandoned")
            else:
                self.router.end(ix.id, actor, detail or "normal_clearing")
        return True

    def callback_request(
        self, owner: str, number: str, queue: str, requested_at: float, name: str = ""
    ) -> tuple[Literal["queued", "duplicate", "missed_flow"], Interaction]:
        """A customer asks to be called back: queued by when they asked, at most
        ``callback_cap`` per queue, one per caller."""
        for ix in self.router.by_owner.get(owner, {}).values():
            row = self.live.get(ix.id)
            if (
                row is not None and row.kind == "callback" and ix.queue == queue
                and row.number == number and row.state == "queued"
            ):  # fmt: skip
                return "duplicate", ix
        waiting = sum(
            1
            for r in self.live.values()
            if r.kind == "callback" and r.state in ("queued", "dialing_agent", "dialing_customer")
            and self.router.interactions[r.interaction].queue == queue
        )  # fmt: skip
        call_id = self.router.new_id("cb")
        row = CallRow(
            interaction="", call_id=call_id, kind="callback", state="queued", number=number,
            requested_at=requested_at,
        )  # fmt: skip
        customer = Customer(name=name, phone=number)
        if waiting >= self.settings.callback_cap:
            row.state = "missed_flow"
            row.ended_at = requested_at
            self._pending = row
            ix = self.router.create_failed(
                "call", queue, owner, customer, "callback", call_id, "missed_flow"
            )
            return "missed_flow", ix
        self._pending = row
        order = (2, int(requested_at * 1000))  # after live callers, by request time
        ix = self.router.create(
            "call", queue, owner, customer, "callback", call_id=call_id, order_key=order
        )
        return "queued", ix

    # ------------------------------------------------------------------ agents

    def place_callback(
        self, agent_name: str, related: str | None, number: str, device: str, verified: bool,
        queue: str,
    ) -> Interaction:  # fmt: skip
        """The agent calls a customer back from a transaction: compliance first,
        then its device rings, then the customer's number is dialed."""
        agent = self.router._agent(agent_name)
        device_id, address = self._device(agent, device)
        rule = refusal(number, agent_name, self.settings.compliance)
        if rule is not None:
            raise RoutingError(
                ErrorCode.REFUSED, f"refused by compliance rule {rule}", {"rule": rule}
            )
        if not self.settings.gateway:
            raise RoutingError(ErrorCode.UNAVAILABLE, "no telephony gateway is configured")
        call_id = self.router.new_id("out")
        self._pending = CallRow(
            interaction="", call_id=call_id, kind="outbound", state="queued", number=number,
            device=device_id, address=address, related=related, verified=verified,
        )  # fmt: skip
        return self.router.create_assigned(
            "call", queue, self.settings.gateway, agent_name, Customer(phone=number),
            "callback", call_id=call_id,
        )  # fmt: skip

    def schedule(
        self, agent_name: str, number: str, at: float, device: str, queue: str | None,
        related: str | None,
    ) -> ScheduledRow:  # fmt: skip
        agent = self.router._agent(agent_name)
        self._device(agent, device)
        rule = refusal(number, agent_name, self.settings.compliance)
        if rule is not None:
            raise RoutingError(
                ErrorCode.REFUSED, f"refused by compliance rule {rule}", {"rule": rule}
            )
        if queue is not None and queue not in self.router.queues:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no queue {queue!r}")
        row = ScheduledRow(
            id=self.router.new_id("s"), agent=agent_name, number=number, at=at, device=device,
            queue=queue, related=related,
        )  # fmt: skip
        self.scheduled[row.id] = row
        self.router._persist("scheduled", msgspec.structs.replace(row))
        self.router.set_timer(at, "scheduled", row.id)
        return row

    def cancel(self, agent_name: str, scheduled_id: str) -> ScheduledRow:
        row = self.scheduled.get(scheduled_id)
        if row is None or row.agent != agent_name:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no scheduled call {scheduled_id!r}")
        row.status = "canceled"
        del self.scheduled[scheduled_id]
        self.router._persist("scheduled", msgspec.structs.replace(row))
        return row

    def start(self, agent_name: str, scheduled_id: str) -> ScheduledRow:
        """The agent places its pending scheduled call now, on its own device:
        assigned to it at once (it must be free). Raises before any change."""
        row = self.scheduled.get(scheduled_id)
        if row is None or row.agent != agent_name:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no scheduled call {scheduled_id!r}")
        if not self.settings.gateway:
            raise RoutingError(ErrorCode.UNAVAILABLE, "no telephony gateway is configured")
        agent = self.router._agent(agent_name)
        queue = row.queue or self._call_queue(agent)
        if queue is None:
            raise RoutingError(ErrorCode.CONFLICT, "you are in no call queue")
        _, address = self._device(agent, row.device)
        call = CallRow(
            interaction="", call_id=self.router.new_id("sch"), kind="scheduled", state="queued",
            number=row.number, device=row.device, address=address, related=row.related,
        )  # fmt: skip
        self._pending = call
        try:
            ix = self.router.create_assigned(
                "call", queue, self.settings.gateway, agent_name, Customer(phone=row.number),
                "scheduled", call_id=call.call_id,
            )  # fmt: skip
        finally:
            self._pending = None
        del self.scheduled[scheduled_id]  # its timer finds nothing to do
        row.status, row.interaction = "placed", ix.id
        self.router._persist("scheduled", msgspec.structs.replace(row))
        return row

    def _scheduled_due(self, scheduled_id: str, now: float) -> None:
        """Place a scheduled call: to its agent if free, else through its queue."""
        row = self.scheduled.get(scheduled_id)
        if row is None or row.at > now or not self.settings.gateway:
            return
        del self.scheduled[scheduled_id]
        agent = self.router.agents.get(row.agent)
        queue = row.queue or self._call_queue(agent)
        row.status = "placed"
        call_id = self.router.new_id("sch")
        call = CallRow(
            interaction="", call_id=call_id, kind="scheduled", state="queued", number=row.number,
            device=row.device, related=row.related,
        )  # fmt: skip
        customer = Customer(phone=row.number)
        free = agent is not None and agent.connected and agent.state == "idle" and not agent.offer
        if free and queue is not None and agent is not None:
            _, call.address = self._device(agent, row.device)
            self._pending = call
            ix = self.router.create_assigned(
                "call", queue, self.settings.gateway, agent.username, customer, "scheduled",
                call_id=call_id,
            )  # fmt: skip
        elif queue is not None:
            self._pending = call
            ix = self.router.create(
                "call", queue, self.settings.gateway, customer, "scheduled", call_id=call_id
            )
        else:
            return
        row.interaction = ix.id
        self.router._persist("scheduled", msgspec.structs.replace(row))

    def _call_queue(self, agent: Agent | None) -> str | None:
        if agent is None:
            return None
        for q in agent.cfg.inboxes:
            cfg = self.router.queues.get(q)
            if cfg is not None and cfg.channel == "call":
                return q
        return None

    # ------------------------------------------------------- router's events

    def _on_event(self, event: str, ix: Interaction, agent_name: str | None) -> None:
        if ix.channel != "call":
            return
        if event == "created":
            row = self._pending or CallRow(
                interaction="", call_id=ix.call_id or ix.id, kind="inbound",
                state="ringing_queue", number=ix.customer.phone,
            )  # fmt: skip
            self._pending = None
            row.interaction = ix.id
            self.live[ix.id] = row
            self._save(row)
            if row.kind == "inbound":
                self._step(row, "initiated", row.number)
            elif row.kind == "callback":
                self._step(row, "callback_requested", row.number)
                if row.state == "missed_flow":
                    self._step(row, "missed_flow", "callback cap reached")
                    self.live.pop(ix.id, None)
                    return
            else:
                self._step(row, "initiated", f"{agent_name or ix.agent or ''}".strip())
            self._step(row, "routed", ix.queue)
            return
        row = self.live.get(ix.id)
        if row is None:
            return
        agent = self.router.agents.get(agent_name or "")
        if event == "offered" and agent is not None:
            self._move(row, "offered")
            if row.kind == "inbound" and agent.cfg.devices:
                device_id, address = self._device(agent)
                row.device, row.address = device_id, address
                self._save(row)
                timeout = ix.offer.expires_at - self.router.clock() if ix.offer else 0.0
                self._command(ix, RingAgent(
                    call_id=row.call_id, agent=agent.username, device=device_id,
                    address=address, timeout=timeout,
                ))  # fmt: skip
                self._step(row, "ringing", f"{agent.username} {device_id}")
        elif event == "offer_closed" and agent is not None:
            if self._move(row, "offer_closed") and row.device:
                self._command(
                    ix, StopRinging(call_id=row.call_id, agent=agent.username, device=row.device)
                )
        elif event == "accepted" and agent is not None:
            if row.kind == "inbound":
                device_id, address = (
                    (row.device, row.address) if row.device else self._device(agent)
                )
                row.device, row.address = device_id, address
                self._save(row)
                self._command(ix, Connect(
                    call_id=row.call_id, agent=agent.username, device=device_id, address=address
                ))  # fmt: skip
            else:
                if not row.device or row.kind != "outbound":
                    row.device, row.address = self._device(agent, row.device or None)
                self._move(row, "accepted")
                self._command(ix, Originate(
                    call_id=row.call_id, agent=agent.username, device=row.device,
                    address=row.address, number=row.number, caller_id=self.settings.caller_id,
                ))  # fmt: skip
        elif event == "requeued":
            self._move(row, "requeued")
        elif event == "ended":
            if row.state not in FINAL:
                # Ended on our side (agent, supervisor, idle...): hang up there too.
                outcome = "hangup"
                self._move(row, outcome)
                self._command(ix, Hangup(call_id=row.call_id, cause=ix.end_reason or "normal"))
                self._step(row, "ended", ix.end_reason or "")
            self.live.pop(ix.id, None)
