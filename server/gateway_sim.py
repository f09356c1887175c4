"""A telephony gateway simulator: calls without a PBX.

    switchboard gateway-sim --demo              # calls into the demo's "calls" queue
    switchboard gateway-sim --rate 2 --duration 60 --callbacks 0.2

It connects as the gateway, plays a stream of calls (Poisson arrivals, talk
times drawn from an exponential distribution, a share of callers asking to be
called back instead of waiting) and answers the server's commands the way a
PBX would: ``connect`` bridges the caller (the agent answered), ``ring_agent``
rings until the agent accepts (or, with ``auto_answer``, until its softphone
picks up by itself), ``originate`` rings the agent and then the customer,
``hangup`` ends the call. The demo, the tests and the load tester use it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog

from protocol.calls import (
    AgentAnswered,
    CallbackRequest,
    CallFailed,
    CallRinging,
    Connect,
    CustomerAnswered,
    Hangup,
    Originate,
    RingAgent,
    StopRinging,
)
from protocol.client import Client, ServerError
from protocol.sources import CallHangup, CallIncoming

log = structlog.get_logger(__name__)


@dataclass
class SimStats:
    calls: int = 0
    callbacks_requested: int = 0
    answered: int = 0
    originated: int = 0
    hung_up: int = 0
    failed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


@dataclass
class SimSettings:
    queue: str = "calls"
    rate: float = 0.5  # new calls per second
    max_calls: int = 0  # 0: no limit
    duration: float = 0.0  # 0: until stopped
    talk: float = 20.0  # mean talk time, seconds
    callbacks: float = 0.0  # share of callers asking for a callback
    auto_answer: float | None = None  # seconds until a ringing softphone answers
    customer_fails: float = 0.0  # share of originated calls the customer does not pick up
    numbers: int = 50  # distinct callers (repeats exercise caller identification)
    linger: float = 2.0  # seconds to stay after the last call once nothing is going on
    seed: int | None = None


class GatewaySim:
    def __init__(self, client: Client, settings: SimSettings) -> None:
        self.client = client
        self.s = settings
        self.rng = random.Random(settings.seed)
        self.stats = SimStats()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._seq = 0

    def _spawn(self, call_id: str, coro: Coroutine[Any, Any, None]) -> None:
        """Run what happens next on ``call_id``, replacing what was under way."""
        old = self._tasks.pop(call_id, None)
        if old is not None:
            old.cancel()
        task = asyncio.ensure_future(coro)
        self._tasks[call_id] = task

        def forget(t: asyncio.Task[None]) -> None:
            if self._tasks.get(call_id) is t:
                del self._tasks[call_id]

        task.add_done_callback(forget)

    async def _send(self, frame: object) -> None:
        try:
            await self.client.request(frame)
        except (ServerError, ConnectionError, TimeoutError) as exc:
            log.warning("gateway_request_failed", frame=type(frame).__name__, error=repr(exc))

    def _number(self) -> str:
        return f"+1555{self.rng.randrange(self.s.numbers):07d}"

    async def _talk_then_hang_up(self, call_id: str) -> None:
        await asyncio.sleep(self.rng.expovariate(1.0 / self.s.talk) if self.s.talk else 0)
        self.stats.hung_up += 1
        await self._send(CallHangup(id=0, call_id=call_id, cause="normal_clearing"))

    async def _ring(self, cmd: RingAgent) -> None:
        await self._send(CallRinging(id=0, call_id=cmd.call_id, device=cmd.device))
        if self.s.auto_answer is not None:
            await asyncio.sleep(self.s.auto_answer)
            self.stats.answered += 1
            await self._send(AgentAnswered(id=0, call_id=cmd.call_id, device=cmd.device))
            await self._talk_then_hang_up(cmd.call_id)

    async def _connect(self, cmd: Connect) -> None:
        self.stats.answered += 1
        await self._send(AgentAnswered(id=0, call_id=cmd.call_id, device=cmd.device))
        await self._talk_then_hang_up(cmd.call_id)

    async def _originate(self, cmd: Originate) -> None:
        self.stats.originated += 1
        await asyncio.sleep(0.2)  # the agent's phone rings and is picked up
        await self._send(AgentAnswered(id=0, call_id=cmd.call_id, device=cmd.device))
        await asyncio.sleep(0.5)  # the announcement (a "play" command) plays, the customer rings
        if self.rng.random() < self.s.customer_fails:
            self.stats.failed += 1
            await self._send(CallFailed(id=0, call_id=cmd.call_id, cause="no_answer"))
            return
        await self._send(CustomerAnswered(id=0, call_id=cmd.call_id))
        await self._talk_then_hang_up(cmd.call_id)

    async def commands(self) -> None:
        """Carry out the server's commands as they come."""
        while True:
            cmd = await self.client.next_push(timeout=3600)
            match cmd:
                case RingAgent():
                    self._spawn(cmd.call_id, self._ring(cmd))
                case StopRinging():
                    task = self._tasks.pop(cmd.call_id, None)
                    if task is not None:
                        task.cancel()
                case Connect():
                    self._spawn(cmd.call_id, self._connect(cmd))
                case Originate():
                    self._spawn(cmd.call_id, self._originate(cmd))
                case Hangup():
                    task = self._tasks.pop(cmd.call_id, None)
                    if task is not None:
                        task.cancel()

    async def one_call(self) -> None:
        self._seq += 1
        number = self._number()
        if self.rng.random() < self.s.callbacks:
            self.stats.callbacks_requested += 1
            try:
                queued = await self.client.request(
                    CallbackRequest(id=0, number=number, queue=self.s.queue)
                )
            except ServerError as exc:
                log.warning("callback_refused", error=str(exc))
                return
            outcome = queued.outcome
            self.stats.outcomes[outcome] = self.stats.outcomes.get(outcome, 0) + 1
            return
        self.stats.calls += 1
        call_id = f"sim-{id(self):x}-{self._seq}"
        await self._send(CallIncoming(id=0, call_id=call_id, caller=number, queue=self.s.queue))

    async def run(self) -> SimStats:
        """Place calls until the count or the time is reached; then wait for
        calls in progress to finish (at most a few talk times)."""
        loop = asyncio.get_running_loop()
        worker = asyncio.ensure_future(self.commands())
        stop_at = loop.time() + self.s.duration if self.s.duration else float("inf")
        placed = 0
        try:
            while loop.time() < stop_at and (not self.s.max_calls or placed < self.s.max_calls):
                await self.one_call()
                placed += 1
                delay = self.rng.expovariate(self.s.rate) if self.s.rate else 0.0
                await asyncio.sleep(min(delay, max(0.0, stop_at - loop.time())))
            # Keep answering commands until no call has been in progress for
            # ``linger`` seconds (an agent may still accept a queued call).
            deadline = loop.time() + max(5.0, 3 * self.s.talk) + self.s.linger
            quiet_since = loop.time()
            while loop.time() < deadline and loop.time() - quiet_since < self.s.linger:
                if self._tasks:
                    quiet_since = loop.time()
                await asyncio.sleep(0.05)
        finally:
            worker.cancel()
            for task in list(self._tasks.values()):
                task.cancel()
        return self.stats


async def run(url: str, key: str, settings: SimSettings) -> SimStats:
    client = await Client.connect(url, encoding="msgpack")
    try:
        await client.login_key(key)
        return await GatewaySim(client, settings).run()
    finally:
        await client.close()
