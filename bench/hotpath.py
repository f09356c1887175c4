"""The hot path of the relay (or of routing) without sockets: loop-thread CPU
and Python calls per message (or chat), to compare two versions of the code.

    .venv/bin/python bench/hotpath.py                       # this tree
    .venv/bin/python bench/hotpath.py --root /tmp/other     # another checkout
    .venv/bin/python bench/hotpath.py --profile             # + cProfile's top entries
    .venv/bin/python bench/hotpath.py --scenario routing    # per routed chat instead

A demo server runs in this process (real SQLite, the writer process). One
bot and one agent log in over real websockets and take a chat; then their
sockets are swapped for counters and pre-built ``send_message`` frames are fed
to the bot connection's ``data_received``, two per read, as the relay
benchmark's generator sends them. What is measured is the server's own work
per message: parsing, the command, the commit's bookkeeping, encoding the
acknowledgement and the push, without the system calls.

CPU time on this VM varies by ±20 % between runs; the count of Python calls
(``--profile``) does not, and neither does the count of instructions that
``bench/instructions.py`` takes of this script under callgrind: those are the
figures to compare small changes by.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


class CountingTransport:
    """Stands in for a socket: counts what would have been written."""

    def __init__(self) -> None:
        self.bytes = 0
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.bytes += len(data)
        self.writes += 1

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, *args: Any, **kwargs: Any) -> None:
        return None

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def measure(messages: int, per_read: int, profile: bool) -> dict[str, float]:
    from protocol.chats import SendMessage
    from protocol.client import Client
    from protocol.codec import MSGPACK
    from protocol.routing import Accept, SetStatus
    from protocol.sources import StartChat
    from server.app import App
    from server.demo import with_demo
    from server.load.wire import client_frame
    from server.settings import Settings

    settings = with_demo(Settings())
    settings.server.port = 0
    settings.server.db = os.path.join(tempfile.mkdtemp(prefix="sb-hot-"), "hot.db")
    settings.limits.rate["bot"] = settings.limits.rate["agent"] = 1e9
    app = App(settings)
    await app.start()
    try:
        url = f"ws://127.0.0.1:{app.port}/ws"
        bot = await Client.connect(url, encoding="msgpack")
        await bot.login_key("sbk_demo_webchat")
        agent = await Client.connect(url, encoding="msgpack")
        await agent.login("alice", "alice-demo")
        await agent.request(SetStatus(id=0, status="ready"))
        chat = (await bot.request(StartChat(id=0, queue="sales"))).interaction.id
        while (offer := await agent.next_push("offer")).interaction.id != chat:
            pass
        await agent.request(Accept(id=0, offer=offer.offer))
        await asyncio.sleep(0.2)
        rt = app.runtime
        # The sessions' websocket connections, their transports swapped for counters.
        conns: dict[str, Any] = {s.role: s.conn for s in rt.sessions.values()}
        counters = {}
        for role in ("bot", "agent"):
            counters[role] = conns[role].transport = CountingTransport()
        frames = [
            client_frame(
                2,
                MSGPACK.encode(
                    SendMessage(id=i, interaction=chat, text="x" * 100, client_id=str(i))
                ),
            )
            for i in range(messages)
        ]
        reads = [b"".join(frames[i : i + per_read]) for i in range(0, messages, per_read)]
        feed = conns["bot"].data_received
        warm, reads = reads[:200], reads[200:]
        for data in warm:
            feed(data)
            await asyncio.sleep(0)
        await asyncio.sleep(0.3)
        writer = rt.store.writer
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        start = time.thread_time()
        for k, data in enumerate(reads, 1):
            feed(data)
            if k % 100 == 0:
                await asyncio.sleep(0)  # a round of the loop: commits come back
        while not writer.idle or rt._held:
            await asyncio.sleep(0.001)
        cpu = time.thread_time() - start
        if profiler:
            profiler.disable()
        measured = len(reads) * per_read
        out = {
            "messages": float(measured),
            "loop_cpu_us_per_msg": cpu / measured * 1e6,
            "bot_writes": float(counters["bot"].writes),
            "agent_writes": float(counters["agent"].writes),
        }
        if profiler:
            stats: Any = pstats.Stats(profiler)  # total_calls is not in its type stubs
            out["python_calls_per_msg"] = stats.total_calls / measured
            stats.sort_stats("tottime").print_stats(25)
        return out
    finally:
        await app.stop()


async def measure_routing(chats: int, agents: int, profile: bool) -> dict[str, float]:
    """The routing path without sockets: a chat created, offered, accepted and
    ended, per cycle, as ``bench/routing_load.py`` drives it (no wrap-up, no
    messages), on ``agents`` ready agents."""
    import hashlib

    from argon2 import PasswordHasher

    from protocol.codec import MSGPACK
    from protocol.config import AgentConfig, ApiKeyConfig, QueueConfig
    from protocol.routing import Accept, End, SetStatus
    from protocol.sources import StartChat
    from protocol.views import Customer
    from server import logs
    from server.app import App
    from server.load.wire import LeanClient, client_frame
    from server.settings import Settings
    from server.storage import Store, change_for

    logs.configure("warning")

    db = os.path.join(tempfile.mkdtemp(prefix="sb-hot-"), "hot.db")
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("pw")
    names = [f"hot-a{i}" for i in range(agents)]
    secret = "sbk_hot_bot"
    changes = [change_for("queue", QueueConfig(id="hot", channel="chat", offer_timeout=10))]
    for name in names:
        changes += [
            change_for("agent", AgentConfig(username=name, inboxes=["hot"])),
            change_for("password", (name, cheap)),
        ]
    key = ApiKeyConfig(id="hot-bot", role="bot", queues=["hot"])
    changes.append(change_for("api_key", (key, hashlib.sha256(secret.encode()).hexdigest())))
    store = await Store.open(db)
    await store.writer.submit(changes)
    await store.close()

    settings = Settings()
    settings.server.port = 0
    settings.server.db = db
    settings.limits.rate["bot"] = settings.limits.rate["agent"] = 1e9
    # No keepalive: the sockets are swapped for counters, so a ping would never
    # be answered, and a run under callgrind lasts minutes.
    settings.limits.ping_interval = settings.limits.ping_timeout = 1e6
    app = App(settings)
    await app.start()
    real: dict[Any, Any] = {}  # connection -> its socket's transport, while swapped
    try:
        url = f"ws://127.0.0.1:{app.port}/ws"
        bot = await LeanClient.connect(url, encoding="msgpack")
        await bot.login_key(secret)
        clients = []
        for name in names:
            c = await LeanClient.connect(url, encoding="msgpack")
            await c.login(name, "pw")
            await c.request(SetStatus(id=0, status="ready"))
            clients.append(c)
        await asyncio.sleep(0.2)
        rt = app.runtime
        router = rt.router
        feeds: dict[str, Any] = {}
        counters = {"bot": CountingTransport(), "agent": CountingTransport()}
        for target, session in rt.sessions.items():
            real[session.conn] = session.conn.transport
            session.conn.transport = counters[session.role]
            feeds[target[1]] = session.conn.data_received
        feed_bot = feeds["hot-bot"]
        customer = Customer(name="hot customer")
        n = 0

        def frame(request: Any) -> bytes:
            nonlocal n
            n += 1
            request.id = n
            return client_frame(2, MSGPACK.encode(request))

        async def settle() -> None:
            """Until every held frame is out: the commits are done."""
            while rt._held:
                await asyncio.wait(list(rt._held))
                await asyncio.sleep(0)

        async def cycle(k: int) -> None:
            """``k`` chats created (two frames per read), offered, accepted and
            ended, each step after the previous one's commit, as in a real run
            where they are seconds apart (an accept and an end in the same
            commit would share one socket write)."""
            starts = [frame(StartChat(id=0, queue="hot", customer=customer)) for _ in range(k)]
            for i in range(0, k, 2):
                feed_bot(b"".join(starts[i : i + 2]))
            offers = [o for o in router.offers.values() if o.state == "pending"]
            await settle()
            for o in offers:
                feeds[o.agent.username](frame(Accept(id=0, offer=o.id)))
            await settle()
            for o in offers:
                feed_bot(frame(End(id=0, interaction=o.interaction.id, reason="customer_left")))
            await settle()

        per_round = max(1, agents // 2)
        for _ in range(10):  # warm-up
            await cycle(per_round)
        for counter in counters.values():
            counter.writes = 0
        live = len(router.interactions)
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        gc_before = [g["collections"] for g in gc.get_stats()]
        start = time.thread_time()
        done = 0
        while done < chats:
            k = min(per_round, chats - done)
            await cycle(k)
            done += k
        cpu = time.thread_time() - start
        if profiler:
            profiler.disable()
        if len(router.interactions) != live or router.offers:
            raise SystemExit(f"{len(router.interactions) - live} chats still live")
        gc_runs = [g["collections"] - b for g, b in zip(gc.get_stats(), gc_before, strict=True)]
        out = {
            "chats": float(done),
            "loop_cpu_us_per_chat": cpu / done * 1e6,
            # Young collections of the cyclic GC: they come with the GC-tracked
            # objects a chat leaves alive for a while (model objects, held
            # frames, timer entries).
            "gc_young_collections_per_1k_chats": (gc_runs[0] + gc_runs[1]) / done * 1000,
            "bot_writes_per_chat": counters["bot"].writes / done,
            "agent_writes_per_chat": counters["agent"].writes / done,
        }
        if profiler:
            stats: Any = pstats.Stats(profiler)
            out["python_calls_per_chat"] = stats.total_calls / done
            stats.sort_stats("tottime").print_stats(30)
        return out
    finally:
        for conn, transport in real.items():
            conn.transport = transport  # for the close handshakes of the shutdown
        await app.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent))
    parser.add_argument(
        "--scenario", choices=("relay", "routing"), default="relay",
        help="relay: chat messages; routing: chats created, offered, accepted, ended",
    )  # fmt: skip
    parser.add_argument("--messages", type=int, default=30_000, help="messages, or chats")
    parser.add_argument("--per-read", type=int, default=2)
    parser.add_argument("--agents", type=int, default=100, help="routing: ready agents")
    parser.add_argument("--profile", action="store_true", help="count Python calls (cProfile)")
    args = parser.parse_args()
    sys.path.insert(0, args.root)
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    if args.scenario == "routing":
        job = measure_routing(args.messages, args.agents, args.profile)
    else:
        job = measure(args.messages, args.per_read, args.profile)
    # The writer's early send (a batch waiting 10 ms goes out at a poll) is a
    # guard against long loop iterations; under callgrind every round of
    # feeding is one, and batching would differ from a real run's.
    from server.storage import writer_process

    writer_process._SEND_AFTER = float("inf")
    result = run(job)
    for key, value in result.items():
        print(f"{key}: {value:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
