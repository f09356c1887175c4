"""One load-test process: a shard of agents and bots on one event loop.

Agents log in, go ready, accept offers (after an accept delay, declining a
share), answer every customer message and record what they got. Bots open
chats as a Poisson process, send their customer's messages once the chat is
assigned, wait for the answers, stay for the handle time and end the chat.
Every text carries its send time, so latencies are measured where the text
arrives (all processes share the machine's clock): when the lean client reads
it from the socket, before this process's own tasks get to it.
"""

from __future__ import annotations

import asyncio
import gc
import random
import resource
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from protocol.chats import NewMessage, SendMessage
from protocol.client import Client, ServerError
from protocol.routing import (
    Accept,
    AgentChanged,
    Decline,
    End,
    InteractionChanged,
    Offered,
    SetStatus,
    WrapUpDone,
)
from protocol.sources import StartChat
from protocol.views import Customer
from server.load.wire import LeanClient

AnyClient = Client | LeanClient


@dataclass
class LoadSettings:
    url: str = "ws://127.0.0.1:8080/ws"
    agents: int = 20
    bots: int = 4
    processes: int = 2
    duration: float = 10.0  # seconds during which chats arrive
    max_chats: int = 0  # stop arrivals after this many chats in all (0: no limit)
    chat_rate: float = 10.0  # new chats per second, all bots together (Poisson)
    messages: int = 3  # customer messages per chat
    message_rate: float = 5.0  # customer messages per second within a chat
    accept_delay: float = 0.0
    handle: float = 1.0  # seconds an agent keeps a chat (mean if exponential)
    handle_dist: str = "fixed"  # or "exponential"
    decline: float = 0.0  # share of offers declined
    calls_rate: float = 0.0  # calls per second from the gateway simulator
    talk: float = 1.0
    encoding: str = "msgpack"
    # Latencies from the kernel's receive time (Linux, ws://), not from when
    # this process reads the socket (see server.load.stamped); both are kept.
    kernel_stamps: bool = True
    drain: float = 15.0  # seconds after the arrivals stop for work to finish
    seed: int = 1
    prefix: str = "load"
    password: str = "load-agent-pw"
    # Filled in by the coordinator's setup.
    queue: str = "load-chat"
    call_queue: str = "load-call"


@dataclass
class Shard:
    index: int
    agents: list[str]
    bots: list[str]  # API key secrets
    gateway: str | None  # this shard runs the gateway simulator


@dataclass
class Recorder:
    offer_latency: list[float] = field(default_factory=list)  # created -> arrived
    offer_read_latency: list[float] = field(default_factory=list)  # created -> read here
    queue_wait: list[float] = field(default_factory=list)
    relay_latency: list[float] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    bot_sent: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))
    agent_got: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    agent_sent: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))
    bot_got: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    created: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    cpu_at_start: float = 0.0  # this process's CPU seconds when the arrivals began

    def error(self, exc: Exception) -> None:
        code = exc.code if isinstance(exc, ServerError) else type(exc).__name__
        self.errors[code] += 1

    def result(self) -> dict[str, Any]:
        cpu = cpu_seconds()
        return {
            "offer_latency": self.offer_latency,
            "offer_read_latency": self.offer_read_latency,
            "queue_wait": self.queue_wait,
            "relay_latency": self.relay_latency,
            "counts": dict(self.counts),
            "errors": dict(self.errors),
            "bot_sent": {k: [t for _, t in sorted(v)] for k, v in self.bot_sent.items()},
            "agent_got": dict(self.agent_got),
            "agent_sent": {k: [t for _, t in sorted(v)] for k, v in self.agent_sent.items()},
            "bot_got": dict(self.bot_got),
            "created": sorted(self.created),
            "finished": sorted(self.finished),
            "cpu": cpu,
            "cpu_run": cpu - self.cpu_at_start,
        }


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _feed(c: AnyClient, on_push: Callable[[Any, float], None]) -> None:
    """Give ``c``'s pushes to ``on_push(push, arrived)`` until cancelled: as
    the lean client reads them (stamped then), or from the full client's queue
    (stamped when taken)."""
    if isinstance(c, LeanClient):
        c.on_push = on_push
        try:
            await asyncio.shield(c.closed)  # shielded: cancelling us must not cancel it
        finally:
            c.on_push = None  # later pushes wait in the queue, unread, as on a full client
        return
    while True:
        push = await c.pushes.get()
        on_push(push, time.time())


def _stamp(text: str) -> float:
    return float(text.rsplit("@", 1)[1])


class Worker:
    def __init__(
        self, settings: LoadSettings, shard: Shard, progress: Any = None, go: Any = None
    ) -> None:
        self.s = settings
        self.shard = shard
        self.rec = Recorder()
        self.rng = random.Random(settings.seed * 1000 + shard.index)
        self.progress = progress
        self.clients: list[AnyClient] = []
        self.go = go  # (event, shared start time) set by the coordinator
        self.stop_arrivals = 0.0
        self.chat_budget = settings.max_chats
        self.ready_agents = 0
        self.logins = asyncio.Semaphore(100)

    async def connect(self, full: bool = False, timeout: float = 30) -> AnyClient:
        """A lean client (:mod:`server.load.wire`) for ws://, else a full one."""
        client: AnyClient
        if full or not self.s.url.startswith("ws://"):
            client = await Client.connect(
                self.s.url, encoding=self.s.encoding, open_timeout=timeout
            )
        else:
            client = await LeanClient.connect(
                self.s.url, encoding=self.s.encoding, open_timeout=timeout,
                stamped=self.s.kernel_stamps,
            )  # fmt: skip
        self.clients.append(client)
        return client

    # ------------------------------------------------------------------ agents

    async def agent(self, username: str) -> None:
        try:
            # A bounded number of logins at once, each tried up to 3 times:
            # thousands of simultaneous handshakes overflow the server's
            # listen backlog, and a dropped SYN is retried by the kernel only
            # after 1, 3, 7... seconds.
            async with self.logins:
                for attempt in range(3):
                    try:
                        c = await self.connect(timeout=10)
                        break
                    except (OSError, TimeoutError):
                        if attempt == 2:
                            raise
                await c.login(username, self.s.password)
                await c.request(SetStatus(id=0, status="ready"))
        except (ServerError, OSError, TimeoutError) as exc:
            self.rec.error(exc)  # counted; the run goes on without this agent
            return
        finally:
            self.ready_agents += 1  # logged in, or given up on
        pending: set[asyncio.Future[Any]] = set()

        def spawn(job: Coroutine[Any, Any, Any]) -> None:
            task = asyncio.ensure_future(job)
            pending.add(task)
            task.add_done_callback(pending.discard)

        def on_push(push: Any, at: float) -> None:
            if isinstance(push, Offered):
                created = push.interaction.created_at
                self.rec.offer_latency.append(at - created)
                self.rec.offer_read_latency.append(time.time() - created)
                self.rec.counts["offered"] += 1
                spawn(self._take(c, push))
            elif isinstance(push, NewMessage) and push.message.author == "customer":
                m = push.message
                self.rec.relay_latency.append(at - _stamp(m.text))
                self.rec.agent_got[m.interaction].append(m.text)
                spawn(self._reply(c, m.interaction, m.text))
            elif isinstance(push, AgentChanged) and push.agent.state == "wrap_up":
                spawn(self._request(c, WrapUpDone(id=0)))

        await _feed(c, on_push)

    async def _take(self, c: AnyClient, offer: Offered) -> None:
        if self.s.accept_delay:
            await asyncio.sleep(self.s.accept_delay)
        if self.rng.random() < self.s.decline:
            self.rec.counts["declined"] += 1
            await self._request(c, Decline(id=0, offer=offer.offer))
            return
        if await self._request(c, Accept(id=0, offer=offer.offer)) is not None:
            self.rec.counts["accepted"] += 1
            self.rec.queue_wait.append(time.time() - offer.interaction.created_at)

    async def _reply(self, c: AnyClient, chat: str, text: str) -> None:
        answer = f"re {text.rsplit('@', 1)[0]}@{time.time()}"
        sent = await self._request(
            c, SendMessage(id=0, interaction=chat, text=answer, client_id=answer[:60])
        )
        if sent is not None:
            self.rec.agent_sent[chat].append((sent.message.n, sent.message.text))
            self.rec.counts["messages"] += 1

    async def _request(self, c: AnyClient, frame: Any) -> Any:
        try:
            return await c.request(frame, timeout=30)
        except (ServerError, ConnectionError, TimeoutError) as exc:
            self.rec.error(exc)
            return None

    # -------------------------------------------------------------------- bots

    async def bot(self, secret: str, share: float) -> None:
        c = await self.connect()
        await c.login_key(secret)
        inbox: dict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        reader = asyncio.ensure_future(self._bot_pushes(c, inbox))
        chats: set[asyncio.Task[None]] = set()
        loop = asyncio.get_running_loop()
        rate = self.s.chat_rate * share
        try:
            # Arrival times are drawn on an absolute schedule: sleeping each gap
            # after the last arrival would add the loop's lag to every gap and
            # fall short of the rate exactly when the machine is busy.
            next_at = time.time()
            while rate > 0:
                next_at += self.rng.expovariate(rate)
                if next_at >= self.stop_arrivals:
                    break
                delay = next_at - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if self.s.max_chats and self.chat_budget <= 0:
                    break
                self.chat_budget -= 1
                task = loop.create_task(self._chat(c, inbox))
                chats.add(task)
                task.add_done_callback(chats.discard)
            if chats:
                await asyncio.wait(chats, timeout=max(0.1, self.s.drain))
        finally:
            reader.cancel()

    async def _bot_pushes(self, c: AnyClient, inbox: dict[str, asyncio.Queue[Any]]) -> None:
        def on_push(push: Any, at: float) -> None:
            if isinstance(push, NewMessage) and push.message.author == "agent":
                m = push.message
                self.rec.relay_latency.append(at - _stamp(m.text))
                self.rec.bot_got[m.interaction].append(m.text)
                inbox[m.interaction].put_nowait(push)
            elif isinstance(push, InteractionChanged):
                ix = push.interaction
                if ix.status in ("ended", "failed"):
                    self.rec.finished.add(ix.id)
                    self.rec.counts["completed"] += 1
                inbox[ix.id].put_nowait(push)

        await _feed(c, on_push)

    async def _chat(self, c: AnyClient, inbox: dict[str, asyncio.Queue[Any]]) -> None:
        who = Customer(name=f"load customer {self.rng.randrange(10**6)}")
        created = await self._request(c, StartChat(id=0, queue=self.s.queue, customer=who))
        if created is None:
            return
        chat = created.interaction.id
        self.rec.created.add(chat)
        self.rec.counts["created"] += 1
        q = inbox[chat]
        status = created.interaction.status
        while status not in ("assigned", "ended", "failed"):
            event = await q.get()
            if isinstance(event, InteractionChanged):
                status = event.interaction.status
        if status != "assigned":
            return
        assigned_at = time.time()
        for k in range(self.s.messages):
            text = f"{chat}:{k}@{time.time()}"
            sent = await self._request(
                c, SendMessage(id=0, interaction=chat, text=text, client_id=f"{chat}:{k}")
            )
            if sent is None:
                return
            self.rec.bot_sent[chat].append((sent.message.n, sent.message.text))
            self.rec.counts["messages"] += 1
            if self.s.message_rate:
                await asyncio.sleep(1.0 / self.s.message_rate)
        answers = 0
        deadline = time.time() + 30
        while answers < self.s.messages and time.time() < deadline:
            try:
                event = await asyncio.wait_for(q.get(), deadline - time.time())
            except TimeoutError:
                break
            if isinstance(event, NewMessage):
                answers += 1
        handle = self.s.handle
        if self.s.handle_dist == "exponential" and handle:
            handle = self.rng.expovariate(1.0 / handle)
        await asyncio.sleep(max(0.0, assigned_at + handle - time.time()))
        await self._request(c, End(id=0, interaction=chat, reason="customer_left"))

    # --------------------------------------------------------------------- run

    async def report(self) -> None:
        while self.progress is not None:
            await asyncio.sleep(0.5)
            self.progress.put(("progress", self.shard.index, dict(self.rec.counts)))

    async def run(self) -> dict[str, Any]:
        # Every agent of every process logs in and goes ready first; then the
        # coordinator gives one start time, so a login storm never overlaps the
        # measured arrivals.
        agents = [asyncio.ensure_future(self.agent(a)) for a in self.shard.agents]
        async with asyncio.timeout(600):
            while self.ready_agents < len(self.shard.agents):
                await asyncio.sleep(0.1)
        start_at = time.time()
        if self.go is not None:
            event, when = self.go
            self.progress.put(("ready", self.shard.index, None))
            await asyncio.to_thread(event.wait, 600)
            start_at = when.value
        self.stop_arrivals = start_at + self.s.duration
        # This process's own garbage collections must not count as the
        # server's latency: full ones took hundreds of ms with thousands of
        # clients, and young ones about a tenth of this process's CPU at 2,000
        # chats/s, in pauses of up to 10 ms in which no arrival is read. What
        # is alive now is frozen and the collector is off for the run, which
        # is bounded in time: what cyclic garbage it makes waits for the end.
        gc.collect()
        gc.freeze()
        gc.disable()
        try:
            return await self._measure(start_at, agents)
        finally:
            gc.enable()
            gc.unfreeze()

    async def _measure(self, start_at: float, agents: list[asyncio.Future[None]]) -> dict[str, Any]:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        self.rec.cpu_at_start = cpu_seconds()
        reporter = asyncio.ensure_future(self.report())
        jobs = [
            asyncio.ensure_future(self.bot(secret, 1.0 / self.s.bots)) for secret in self.shard.bots
        ]
        if self.shard.gateway:
            from server.gateway_sim import GatewaySim, SimSettings

            gw = await self.connect(full=True)  # the simulator reads with next_push
            await gw.login_key(self.shard.gateway)
            sim = SimSettings(
                queue=self.s.call_queue, rate=self.s.calls_rate, duration=self.s.duration,
                talk=self.s.talk, seed=self.s.seed, linger=1.0,
            )  # fmt: skip
            jobs.append(asyncio.ensure_future(GatewaySim(gw, sim).run()))
        if jobs:
            await asyncio.wait(jobs, timeout=self.s.duration + self.s.drain + 30)
        await asyncio.sleep(0.5)  # the last pushes arrive
        for task in (*agents, *jobs, reporter):
            task.cancel()
        # Reads the kernel did not stamp (so taken at the read): Linux turns
        # stamping on a moment after the first socket asks; a few at the
        # start are expected, many would mean no stamps here at all.
        for client in self.clients:
            transport = getattr(client, "_transport", None)
            self.rec.counts["unstamped_reads"] += getattr(transport, "unstamped", 0)
        for client in self.clients:
            await client.close()
        return self.rec.result()


def run_shard(settings: LoadSettings, shard: Shard, progress: Any, go: Any) -> None:
    """Entry point of a worker process."""
    from server.cli import run

    async def main() -> int:
        result = await Worker(settings, shard, progress, go).run()
        progress.put(("result", shard.index, result))
        return 0

    run(main())
