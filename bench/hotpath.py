"""The relay's hot path without sockets: loop-thread CPU and Python calls per
message, for comparing two versions of the server's code.

    .venv/bin/python bench/hotpath.py                       # this tree
    .venv/bin/python bench/hotpath.py --root /tmp/other     # another checkout
    .venv/bin/python bench/hotpath.py --profile             # + cProfile's top entries

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent))
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--per-read", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="count Python calls (cProfile)")
    args = parser.parse_args()
    sys.path.insert(0, args.root)
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    result = run(measure(args.messages, args.per_read, args.profile))
    for key, value in result.items():
        print(f"{key}: {value:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
