"""The load test's coordinator: set up, start the workers, watch, judge, report.

Setup (as a supervisor) creates the load queues, agents and bot keys, so a
plain ``switchboard serve --demo`` can be loaded at once. The workers run in
separate processes (the client must not be the bottleneck); the coordinator
shows live progress, then merges what they recorded, verifies it and writes
a table and a JSON report.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import platform
import queue
import time
import urllib.parse
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from protocol.client import Client, ServerError
from protocol.config import AgentConfig, ApiKeyConfig, Device, QueueConfig
from protocol.supervision import CreateApiKey, DeleteApiKey, PutAgent, PutQueue
from server.load.verify import Verdict, verify
from server.load.worker import LoadSettings, Shard, run_shard

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def is_loopback(url: str) -> bool:
    return (urllib.parse.urlparse(url).hostname or "") in LOOPBACK


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


async def setup(s: LoadSettings, supervisor: tuple[str, str]) -> tuple[list[str], list[str], str]:
    """Queues, agents and keys for the run; returns agents, bot secrets, gateway secret."""
    sup = await Client.connect(s.url, encoding=s.encoding)
    try:
        await sup.login(*supervisor)
        await sup.request(PutQueue(id=0, queue=QueueConfig(
            id=s.queue, name="Load chats", channel="chat", offer_timeout=10
        )))  # fmt: skip
        await sup.request(PutQueue(id=0, queue=QueueConfig(
            id=s.call_queue, name="Load calls", channel="call", offer_timeout=10
        )))  # fmt: skip
        agents = [f"{s.prefix}-a{i}" for i in range(s.agents)]
        devices = [Device(id="soft", label="Softphone", address="sip:load@pbx")]
        for name in agents:
            cfg = AgentConfig(username=name, inboxes=[s.queue, s.call_queue], devices=devices)
            await sup.request(PutAgent(id=0, agent=cfg, password=s.password), timeout=60)
        secrets = []
        for j in range(s.bots):
            secrets.append(await _fresh_key(sup, f"{s.prefix}-b{j}", "bot", s.queue))
        gateway = await _fresh_key(sup, f"{s.prefix}-gw", "gateway", s.call_queue)
        return agents, secrets, gateway
    finally:
        await sup.close()


async def _fresh_key(
    sup: Client, key_id: str, role: Literal["bot", "gateway"], queue_id: str
) -> str:
    with contextlib.suppress(ServerError):  # it did not exist yet
        await sup.request(DeleteApiKey(id=0, key_id=key_id))
    cfg = ApiKeyConfig(id=key_id, role=role, source="webchat", queues=[queue_id])
    created = await sup.request(CreateApiKey(id=0, key=cfg))
    return str(created.api_key)


def shards(s: LoadSettings, agents: list[str], bots: list[str], gateway: str) -> list[Shard]:
    n = max(1, s.processes)
    return [
        Shard(
            index=i,
            agents=agents[i::n],
            bots=bots[i::n],
            gateway=gateway if (i == 0 and s.calls_rate > 0) else None,
        )
        for i in range(n)
    ]


def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "offer_latency": [], "offer_read_latency": [], "queue_wait": [], "relay_latency": [],
        "counts": {}, "errors": {}, "bot_sent": {}, "agent_got": {}, "agent_sent": {},
        "bot_got": {}, "created": set(), "finished": set(), "cpu": 0.0,
        "cpu_run": 0.0,
    }  # fmt: skip
    for r in results:
        for key in ("offer_latency", "offer_read_latency", "queue_wait", "relay_latency"):
            out[key].extend(r[key])
        for key in ("counts", "errors"):
            for k, v in r[key].items():
                out[key][k] = out[key].get(k, 0) + v
        for key in ("bot_sent", "agent_got", "agent_sent", "bot_got"):
            for chat, texts in r[key].items():
                out[key].setdefault(chat, []).extend(texts)
        out["created"] |= set(r["created"])
        out["finished"] |= set(r["finished"])
        out["cpu"] += r["cpu"]
        out["cpu_run"] += r["cpu_run"]
    return out


def report(
    s: LoadSettings, merged: dict[str, Any], verdict: Verdict, wall: float
) -> dict[str, Any]:
    def ms(values: list[float], p: float) -> float | None:
        v = percentile(values, p)
        return None if v is None else round(v * 1000, 3)

    def spread(values: list[float]) -> dict[str, float | None]:
        top = round(max(values) * 1000, 3) if values else None
        return {"p50": ms(values, 50), "p95": ms(values, 95), "p99": ms(values, 99), "max": top}

    counts = merged["counts"]
    return {
        "settings": asdict(s),
        "machine": {"python": platform.python_version(), "cpus": multiprocessing.cpu_count()},
        "wall_seconds": round(wall, 3),
        "per_second": {
            k: round(counts.get(k, 0) / s.duration, 2) for k in ("offered", "accepted", "completed")
        },
        "counts": counts,
        # At arrival (the kernel's receive time, when stamped) and when the
        # load process read it: the gap is the load tester's own delay.
        "offer_latency_ms": spread(merged["offer_latency"]),
        "offer_read_latency_ms": spread(merged["offer_read_latency"]),
        "queue_wait_ms": {"p50": ms(merged["queue_wait"], 50), "p99": ms(merged["queue_wait"], 99)},
        "relay_latency_ms": {
            "p50": ms(merged["relay_latency"], 50),
            "p99": ms(merged["relay_latency"], 99),
        },
        "messages_per_second": round(counts.get("messages", 0) / s.duration, 2),
        "errors": merged["errors"],
        # In all (logins too), and from the first arrival on.
        "client_cpu_seconds": round(merged["cpu"], 3),
        "client_cpu_seconds_run": round(merged["cpu_run"], 3),
        "verification": {
            "ok": verdict.ok,
            "chats": verdict.chats,
            "messages": verdict.messages,
            "lost": verdict.lost,
            "duplicated": verdict.duplicated,
            "reordered": verdict.reordered,
            "unexpected": verdict.unexpected,
            "unfinished": len(verdict.unfinished),
            "examples": verdict.examples,
        },
    }


def show(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="switchboard load")
    t.add_column("figure")
    t.add_column("value", justify="right")
    for k, v in result["per_second"].items():
        t.add_row(f"{k} / s", str(v))
    for name in ("offer_latency_ms", "offer_read_latency_ms", "queue_wait_ms", "relay_latency_ms"):
        for p, v in result[name].items():
            t.add_row(f"{name} {p}", "-" if v is None else f"{v:.3f}")
    t.add_row("messages / s", str(result["messages_per_second"]))
    t.add_row("errors", json.dumps(result["errors"]))
    t.add_row("client CPU s", str(result["client_cpu_seconds"]))
    t.add_row("  from the first arrival", str(result["client_cpu_seconds_run"]))
    v = result["verification"]
    t.add_row("verification", "[green]OK" if v["ok"] else "[red]FAILED")
    for k in ("chats", "messages", "lost", "duplicated", "reordered", "unexpected", "unfinished"):
        t.add_row(f"  {k}", str(v[k]))
    Console(stderr=True).print(t)


def run_load(
    s: LoadSettings,
    supervisor: tuple[str, str] = ("sam", "sam-demo"),
    out: str | None = None,
    allow_remote: bool = False,
    live: bool = True,
    prepared: tuple[list[str], list[str], str] | None = None,
) -> dict[str, Any]:
    """Run a whole load test; returns the report (also written to ``out``).

    ``prepared`` (agents, bot secrets, gateway secret) skips the setup, for
    servers seeded beforehand (the benchmarks seed 10,000 agents that way).
    """
    if not is_loopback(s.url) and not allow_remote:
        raise SystemExit(f"{s.url} is not loopback; pass --allow-remote to load another host")
    agents, bots, gateway = prepared or asyncio.run(setup(s, supervisor))
    plan = shards(s, agents, bots, gateway)
    ctx = multiprocessing.get_context("spawn")
    progress = ctx.Queue()
    go = (ctx.Event(), ctx.Value("d", 0.0))
    procs = [ctx.Process(target=run_shard, args=(s, shard, progress, go)) for shard in plan]
    started = time.time()
    for p in procs:
        p.start()
    results: dict[int, dict[str, Any]] = {}
    latest: dict[int, dict[str, int]] = {}
    ready: set[int] = set()
    start_at = float("inf")
    deadline = time.time() + 600  # until every agent is logged in
    display = _Display(live)
    try:
        while len(results) < len(procs) and time.time() < deadline:
            try:
                kind, index, payload = progress.get(timeout=0.5)
            except queue.Empty:
                if not any(p.is_alive() for p in procs):
                    break
                continue
            if kind == "result":
                results[index] = payload
            elif kind == "ready":
                ready.add(index)
                if len(ready) == len(procs):
                    start_at = time.time() + 0.5
                    go[1].value = start_at
                    go[0].set()
                    deadline = start_at + s.duration + s.drain + 60
            else:
                latest[index] = payload
                display.update(latest, time.time() - start_at)
    finally:
        display.stop()
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    merged = merge(list(results.values()))
    verdict = verify(
        merged["bot_sent"], merged["agent_got"], merged["agent_sent"], merged["bot_got"],
        merged["created"], merged["finished"],
    )  # fmt: skip
    if len(results) < len(procs):
        verdict.examples.append(f"only {len(results)} of {len(procs)} workers reported")
        verdict.unfinished.append("workers")
    result = report(s, merged, verdict, time.time() - started)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


class _Display:
    """A live progress table while the run goes (rich), or nothing."""

    def __init__(self, enabled: bool) -> None:
        self.live = None
        if enabled:
            from rich.live import Live

            self.live = Live(refresh_per_second=4, transient=True)
            self.live.start()

    def update(self, latest: dict[int, dict[str, int]], elapsed: float) -> None:
        if self.live is None:
            return
        from rich.table import Table

        total: dict[str, int] = {}
        for counts in latest.values():
            for k, v in counts.items():
                total[k] = total.get(k, 0) + v
        t = Table(title=f"load: {max(0.0, elapsed):.1f} s")
        for k in ("created", "offered", "accepted", "completed", "messages", "declined"):
            t.add_column(k, justify="right")
        t.add_row(*(str(total.get(k, 0)) for k in ("created", "offered", "accepted", "completed",
                                                     "messages", "declined")))  # fmt: skip
        self.live.update(t)

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
