"""Idle authenticated agent connections held by one server process, and the
memory each costs.

    python bench/connections.py                 # 10,000 and 20,000
    python bench/connections.py --sizes 2000    # a quick look

For each size: a fresh database is seeded with that many agents (their
password hashes use cheap argon2 parameters, so that logging 20,000 agents in
measures connections, not password hashing — the server verifies whatever
parameters a hash carries), a server is started (`switchboard serve`, uvloop),
its resident memory is read, client processes open the connections and log
every agent in, and the memory is read again once all are idle. Everything
stays on 127.0.0.1 and stops by itself. Results go to
bench/results/connections.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSWORD = "bench-pw"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def seed(db: str, n: int) -> None:
    from argon2 import PasswordHasher

    from protocol.config import AgentConfig
    from server.storage import Store, change_for

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    store = await Store.open(db)
    changes = []
    for i in range(n):
        cfg = AgentConfig(username=f"c{i}", channels=["chat"])
        changes.append(change_for("agent", cfg))
        changes.append(change_for("password", (cfg.username, cheap)))
    await store.writer.submit(changes)
    await store.close()


def client_process(port: int, names: list[str], ready: Any, release: Any) -> None:
    """Open a connection per name, log in, report, and hold until released."""

    async def main() -> None:
        from protocol.client import Client

        clients = []
        failed: list[str] = []
        sem = asyncio.Semaphore(200)  # no more than 200 handshakes at once

        async def one(name: str) -> None:
            # Opening thousands at once on 2 shared cores, some handshakes time
            # out; try again (this measures holding connections, not how fast
            # they can be opened). What still fails is counted.
            for attempt in range(3):
                async with sem:
                    try:
                        c = await Client.connect(
                            f"ws://127.0.0.1:{port}/ws", encoding="msgpack", open_timeout=60
                        )
                        await c.login(name, PASSWORD)
                    except Exception as exc:
                        if attempt == 2:
                            failed.append(repr(exc))
                        continue
                    clients.append(c)
                    return

        await asyncio.gather(*(one(n) for n in names))
        ready.put((len(clients), failed[:3], len(failed)))
        while release.empty():
            await asyncio.sleep(0.2)
        for c in clients:
            await c.ws.close()

    import uvloop

    uvloop.run(main())


def health(port: int) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
        return dict(json.loads(r.read()))


def measure(n: int, processes: int) -> dict[str, object]:
    tmp = tempfile.mkdtemp(prefix="sb-conn-")
    db = os.path.join(tmp, "bench.db")
    asyncio.run(seed(db, n))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--db", db, "--port", str(port),
         "--log-level", "warning"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Queue(), ctx.Queue()
    procs: list[multiprocessing.process.BaseProcess] = []
    try:
        for _ in range(300):
            try:
                health(port)
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(1.0)
        before = rss_kib(server.pid)
        names = [f"c{i}" for i in range(n)]
        procs = [
            ctx.Process(target=client_process, args=(port, names[k::processes], ready, release))
            for k in range(processes)
        ]
        started = time.time()
        for p in procs:
            p.start()
        reports = [ready.get(timeout=600) for _ in procs]
        held = sum(r[0] for r in reports)
        failures = sum(r[2] for r in reports)
        errors = [e for r in reports for e in r[1]][:3]
        login_seconds = time.time() - started
        time.sleep(3.0)  # let everything settle: idle, keepalive pings running
        after = rss_kib(server.pid)
        fds = len(os.listdir(f"/proc/{server.pid}/fd"))
        try:
            sessions = health(port)["sessions"]
        except OSError:
            sessions = None  # at the fd limit the server cannot accept even /healthz
        release.put(True)
        for p in procs:
            p.join(timeout=60)
        per_conn = (after - before) / max(1, held)
        return {
            "connections": n,
            "held": held,
            "failed": failures,
            "errors": errors,
            "server_sessions": sessions,
            "server_fds": fds,
            "rss_before_kib": before,
            "rss_after_kib": after,
            "kib_per_connection": round(per_conn, 2),
            "login_seconds": round(login_seconds, 2),
            "server_alive": server.poll() is None,
        }
    finally:
        release.put(True)  # client processes never outlive the run
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def machine() -> dict[str, object]:
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
         if ln.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    import websockets

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "websockets": websockets.__version__,
        "fd_limit": __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,20000")
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "connections.json"))
    args = parser.parse_args()
    runs = []
    for n in (int(x) for x in args.sizes.split(",")):
        result = measure(n, args.processes)
        print(json.dumps(result), flush=True)
        runs.append(result)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps({"machine": machine(), "runs": runs}, indent=2) + "\n", encoding="utf-8"
    )
    print(f"{'connections':>12} {'held':>7} {'KiB/conn':>9} {'login s':>8}")
    for r in runs:
        print(f"{r['connections']:>12} {r['held']:>7} {r['kib_per_connection']:>9} "
              f"{r['login_seconds']:>8}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
