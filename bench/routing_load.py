"""Routing under load: offer latency with 10,000 connected agents at 500 and
2,000 new chats per second.

    python bench/routing_load.py                    # 10,000 agents, 500/s and 2,000/s
    python bench/routing_load.py --agents 2000 --rates 200

A database is seeded with the agents (cheap argon2 parameters, so logging
10,000 agents in does not measure password hashing), two load queues and bot
keys; a server is started (`switchboard serve`, uvloop); then `switchboard
load`'s workers connect every agent (ready) and bots open chats as a Poisson
process at each rate. Agents accept at once and each chat ends after a short
handle time, so agents come back. Offer latency is from the interaction's
creation (server clock) to the offer's arrival at the agent (same machine).
Loopback only; bounded in time. Results go to bench/results/routing_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.connections import free_port, health, machine  # noqa: E402
from server.load.run import run_load  # noqa: E402
from server.load.worker import LoadSettings  # noqa: E402


async def seed(db: str, s: LoadSettings, bots: int) -> tuple[list[str], list[str], str]:
    from argon2 import PasswordHasher

    from protocol.config import AgentConfig, ApiKeyConfig, Device, QueueConfig
    from server.storage import Store, change_for

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(s.password)
    store = await Store.open(db)
    changes = [
        change_for("queue", QueueConfig(id=s.queue, channel="chat", offer_timeout=10)),
        change_for("queue", QueueConfig(id=s.call_queue, channel="call", offer_timeout=10)),
    ]
    agents = [f"{s.prefix}-a{i}" for i in range(s.agents)]
    device = [Device(id="soft", address="sip:load@pbx")]
    for name in agents:
        cfg = AgentConfig(username=name, inboxes=[s.queue, s.call_queue], devices=device)
        changes += [change_for("agent", cfg), change_for("password", (name, cheap))]
    secrets = []
    for j in range(bots):
        secret = f"sbk_bench_bot_{j}"
        cfg = ApiKeyConfig(id=f"{s.prefix}-b{j}", role="bot", queues=[s.queue])
        changes.append(change_for("api_key", (cfg, hashlib.sha256(secret.encode()).hexdigest())))
        secrets.append(secret)
    gw = "sbk_bench_gateway"
    cfg = ApiKeyConfig(id=f"{s.prefix}-gw", role="gateway", queues=[s.call_queue])
    changes.append(change_for("api_key", (cfg, hashlib.sha256(gw.encode()).hexdigest())))
    await store.writer.submit(changes)
    await store.close()
    return agents, secrets, gw


def server_offer_latency(port: int) -> dict[str, float]:
    """The server's own histogram of creation -> offer made (before the
    socket write): the share of offers within each bucket, to tell the
    server's part of the latency from the way to the agent process."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    buckets: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("switchboard_offer_latency_seconds_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[le] = float(line.rsplit(" ", 1)[1])
    total = buckets.get("+Inf", 0.0) or 1.0
    return {
        str(round(float(le) * 1000, 3)): round(n / total, 5)
        for le, n in buckets.items()
        if le != "+Inf" and float(le) <= 0.05
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--rates", default="500,2000")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--bots", type=int, default=12)
    parser.add_argument(
        "--kernel-stamps", action=argparse.BooleanOptionalAction, default=True,
        help="offer arrival from the kernel's receive time (else: when the load process reads it)",
    )  # fmt: skip
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "routing_load.json"))
    args = parser.parse_args()
    runs = []
    for rate in (float(r) for r in args.rates.split(",")):
        tmp = tempfile.mkdtemp(prefix="sb-route-")
        db = os.path.join(tmp, "bench.db")
        port = free_port()
        s = LoadSettings(
            url=f"ws://127.0.0.1:{port}/ws", agents=args.agents, bots=args.bots,
            processes=args.processes, duration=args.duration, chat_rate=rate, messages=0,
            handle=0.5, drain=20.0, prefix="bench", kernel_stamps=args.kernel_stamps,
        )  # fmt: skip
        prepared = asyncio.run(seed(db, s, args.bots))
        server = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--db", db, "--port", str(port),
             "--log-level", "warning"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            for _ in range(600):
                try:
                    health(port)
                    break
                except OSError:
                    time.sleep(0.1)
            result = run_load(s, live=False, prepared=prepared)
            inside = server_offer_latency(port)
        finally:
            server.terminate()
            server.wait(timeout=30)
        summary = {
            "rate": rate,
            "agents": args.agents,
            "created_per_s": round(result["counts"].get("created", 0) / args.duration, 1),
            "offer_latency_ms": result["offer_latency_ms"],
            "offer_read_latency_ms": result["offer_read_latency_ms"],
            "queue_wait_ms": result["queue_wait_ms"],
            "server_offers_within_ms": inside,
            "errors": result["errors"],
            "client_cpu_seconds": result["client_cpu_seconds"],
            "client_cpu_seconds_run": result["client_cpu_seconds_run"],
            "unstamped_reads": result["counts"].get("unstamped_reads", 0),
            "verification": result["verification"]["ok"],
            "unfinished": result["verification"]["unfinished"],
        }
        print(json.dumps(summary), flush=True)
        runs.append(summary)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps({"machine": machine(), "runs": runs}, indent=2) + "\n", encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
