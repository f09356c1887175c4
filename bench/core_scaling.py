"""Routing core scaling: cost per routing decision against the number of agents.

    /tmp/venv/bin/python bench/core_scaling.py                  # 1k, 10k, 100k agents
    /tmp/venv/bin/python bench/core_scaling.py --sizes 1000,10000 --cycles 20000

The routing core alone (``server.core.Router``: no sockets, no storage, a fake
clock), in one process. Each size has 50 skills and 50 chat queues, queue
``q<k>`` requiring skill ``s<k>`` (level 1, longest-idle strategy, no wrap-up);
each agent has 3 distinct random skills and is a member of the matching
queues, so a queue has about 6% of all agents as members.

A *decision* is an interaction created and offered to an agent, or an agent
freed that takes waiting work. Two steady states are measured per size, each
as cycles create -> offer -> accept -> end with one decision per cycle:

* **idle agents** (under load): half the agents hold an interaction, the rest
  wait in the queues' agent pools. A cycle creates an interaction in a random
  queue (offered at once to that queue's longest-idle agent: the decision),
  the agent accepts, and the oldest active interaction ends (its agent goes
  back to the pools: no waiting work).
* **backlog** (over load): every agent holds an interaction and 20
  interactions wait in each queue. A cycle ends the oldest active interaction
  (its agent takes the best waiting work of its queues: the decision), the
  agent accepts, and a new interaction is created in the queue that was
  served (it waits: no agent is free).

Every cycle also hands over the effects (as the runtime does) and moves the
clock by 1 ms. Each figure is the median of several repeats after a warm-up
(the best repeat is recorded too: on a shared machine it is the steadier
estimate of cost); the garbage collector stays on. Results go to stdout as a
table and to ``bench/results/core_scaling.json``.
"""

from __future__ import annotations

import argparse
import collections
import gc
import itertools
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from protocol.config import AgentConfig, QueueConfig
from server.core import Router, RoutingSettings
from server.core.model import Interaction

SKILLS = 50
SKILLS_PER_AGENT = 3
BACKLOG_PER_QUEUE = 20
RESULTS = Path(__file__).resolve().parent / "results" / "core_scaling.json"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def build(n_agents: int, seed: int) -> tuple[Router, Clock]:
    """A router with 50 queues and ``n_agents`` connected, ready agents."""
    clock = Clock()
    counter = itertools.count(1)
    router = Router(clock, lambda prefix: f"{prefix}{next(counter)}", RoutingSettings())
    for k in range(SKILLS):
        router.put_queue(QueueConfig(id=f"q{k}", skills={f"s{k}": 1}, offer_timeout=600))
    rng = random.Random(seed)
    for n in range(n_agents):
        skills = rng.sample(range(SKILLS), SKILLS_PER_AGENT)
        router.put_agent(
            AgentConfig(
                username=f"a{n}",
                skills={f"s{k}": rng.randint(1, 10) for k in skills},
                inboxes=[f"q{k}" for k in skills],
            )
        )
    for name in list(router.agents):
        clock.now += 1e-6
        router.connect(name)
        router.set_status(name, "ready")
    router.take_effects()
    return router, clock


def offer_and_accept(router: Router, ix: Interaction) -> None:
    offer = ix.offer
    assert offer is not None, "the cycle expected an offer"
    router.accept(offer.agent.username, offer.id)


def idle_regime(router: Router, clock: Clock, rng: random.Random) -> collections.deque:
    """Half the agents busy, the other half idle in the pools."""
    active: collections.deque = collections.deque()
    queues = list(router.queues)
    target = len(router.agents) // 2
    while len(active) < target:
        clock.now += 1e-3
        ix = router.create("chat", rng.choice(queues), "bench")
        if ix.offer is None:  # that queue's agents are all busy already
            router.end(ix.id, ("key", "bench"))
            continue
        offer_and_accept(router, ix)
        active.append(ix)
    router.take_effects()
    return active


def idle_cycles(
    router: Router, clock: Clock, rng: random.Random, active: collections.deque, cycles: int
) -> tuple[float, int]:
    """Seconds for ``cycles`` idle-agent cycles, and the decisions made."""
    queues = list(router.queues)
    picks = [rng.choice(queues) for _ in range(cycles)]
    create, accept, end, take = router.create, router.accept, router.end, router.take_effects
    decisions = 0
    started = time.perf_counter()
    for q in picks:
        clock.now += 1e-3
        ix = create("chat", q, "bench")
        offer = ix.offer
        if offer is None:  # every member of that queue busy (rare): no decision
            end(ix.id, ("key", "bench"))
        else:
            decisions += 1
            accept(offer.agent.username, offer.id)
            active.append(ix)
            done = active.popleft()
            end(done.id, ("key", "bench"))
        take()
    return time.perf_counter() - started, decisions


def backlog_regime(router: Router, clock: Clock) -> collections.deque:
    """Every agent busy and a backlog of waiting interactions in every queue."""
    active: collections.deque = collections.deque()
    for agent in list(router.agents.values()):
        while agent.available:
            clock.now += 1e-3
            ix = router.create("chat", agent.queues[0], "bench")
            offer_and_accept(router, ix)
            active.append(ix)
    for q in router.queues:
        for _ in range(BACKLOG_PER_QUEUE):
            router.create("chat", q, "bench")
    router.take_effects()
    return active


def backlog_cycles(
    router: Router, clock: Clock, active: collections.deque, cycles: int
) -> tuple[float, int]:
    """Seconds for ``cycles`` backlog cycles, and the decisions made (one each)."""
    create, accept, end, take = router.create, router.accept, router.end, router.take_effects
    agents = router.agents
    started = time.perf_counter()
    for _ in range(cycles):
        clock.now += 1e-3
        done = active.popleft()
        name = done.agent
        end(done.id, ("key", "bench"))  # the freed agent takes waiting work: a decision
        offer = agents[name].offer
        ix = offer.interaction
        accept(name, offer.id)
        active.append(ix)
        create("chat", ix.queue, "bench")  # keeps that queue's backlog: waits
        take()
    return time.perf_counter() - started, cycles


def measure(n_agents: int, cycles: int, repeats: int, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    router, clock = build(n_agents, seed)
    built = time.perf_counter() - started
    rng = random.Random(seed + 1)
    result: dict[str, Any] = {"agents": n_agents, "setup_s": round(built, 2)}

    active = idle_regime(router, clock, rng)
    idle_cycles(router, clock, rng, active, cycles // 4)  # warm-up
    runs = [idle_cycles(router, clock, rng, active, cycles) for _ in range(repeats)]
    result["idle"] = summarise(runs, cycles)

    for ix in list(active):
        router.end(ix.id, ("key", "bench"))
    router.take_effects()
    active = backlog_regime(router, clock)
    backlog_cycles(router, clock, active, cycles // 4)
    runs = [backlog_cycles(router, clock, active, cycles) for _ in range(repeats)]
    result["backlog"] = summarise(runs, cycles)
    result["waiting_at_end"] = sum(len(router.waiting(q)) for q in router.queues)
    del router, active
    gc.collect()
    return result


def summarise(runs: list[tuple[float, int]], cycles: int) -> dict[str, Any]:
    per_decision = sorted(seconds / decisions for seconds, decisions in runs)
    med, best = statistics.median(per_decision), per_decision[0]
    return {
        "cycles": cycles,
        "repeats": len(runs),
        "seconds": [round(seconds, 4) for seconds, _ in runs],
        "decisions": [decisions for _, decisions in runs],
        "us_per_decision": round(med * 1e6, 2),
        "decisions_per_s": round(1 / med),
        "best_us_per_decision": round(best * 1e6, 2),
    }


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--cycles", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for n in sizes:
        print(f"measuring {n:,} agents...", file=sys.stderr, flush=True)
        rows.append(measure(n, args.cycles, args.repeats, args.seed))

    print()
    print(
        f"{'agents':>9} | {'idle: dec/s':>12} {'µs/dec':>8} | "
        f"{'backlog: dec/s':>15} {'µs/dec':>8} | {'setup s':>8}"
    )
    print("-" * 74)
    for r in rows:
        print(
            f"{r['agents']:>9,} | {r['idle']['decisions_per_s']:>12,} "
            f"{r['idle']['us_per_decision']:>8.2f} | "
            f"{r['backlog']['decisions_per_s']:>15,} {r['backlog']['us_per_decision']:>8.2f} | "
            f"{r['setup_s']:>8.2f}"
        )
    ratios: dict[str, float] = {}
    if len(rows) > 1:
        small, large = rows[0], rows[-1]
        for regime in ("idle", "backlog"):
            for key, label in (("us_per_decision", ""), ("best_us_per_decision", "_best")):
                ratios[regime + label] = round(large[regime][key] / small[regime][key], 2)
        print()
        print(
            f"cost per decision, {large['agents']:,} vs {small['agents']:,} agents: "
            f"idle x{ratios['idle']}, backlog x{ratios['backlog']} "
            f"(best repeats: x{ratios['idle_best']}, x{ratios['backlog_best']}; target: under x2)"
        )

    info = machine()
    print(f"\n{info['cpu']}, {info['cores']} cores, {info['implementation']} {info['python']}")
    report = {
        "benchmark": "core_scaling",
        "description": "routing decisions of server.core.Router alone, fake clock",
        "skills": SKILLS,
        "queues": SKILLS,
        "skills_per_agent": SKILLS_PER_AGENT,
        "backlog_per_queue": BACKLOG_PER_QUEUE,
        "machine": info,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "results": rows,
        "ratio_largest_vs_smallest": ratios,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
