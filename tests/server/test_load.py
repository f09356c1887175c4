"""The load tester: a short real run, and a verdict that catches broken delivery."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from server.app import App
from server.load.run import is_loopback, percentile, run_load
from server.load.verify import Verdict, verify
from server.load.worker import LoadSettings

SENT = {"c1": ["a", "b", "c"], "c2": ["x", "y"]}


def judge(agent_got: dict[str, list[str]], finished: set[str] | None = None) -> Verdict:
    done = {"c1", "c2"} if finished is None else finished
    return verify(SENT, agent_got, {}, {}, {"c1", "c2"}, done)


def test_clean_run_passes() -> None:
    """Every message once and in order, every chat ended: the verdict is OK."""
    verdict = judge({k: list(v) for k, v in SENT.items()})
    assert verdict.ok and verdict.messages == 5 and verdict.chats == 2


def test_lost_message_caught() -> None:
    """A message acknowledged but never delivered is reported lost."""
    verdict = judge({"c1": ["a", "c"], "c2": ["x", "y"]})
    assert not verdict.ok and verdict.lost == 1
    assert "lost 'b'" in verdict.examples[0]


def test_duplicate_caught() -> None:
    """A message delivered twice is reported duplicated."""
    verdict = judge({"c1": ["a", "b", "b", "c"], "c2": ["x", "y"]})
    assert not verdict.ok and verdict.duplicated == 1


def test_reorder_caught() -> None:
    """Messages delivered in another order than numbered are reported."""
    verdict = judge({"c1": ["a", "c", "b"], "c2": ["x", "y"]})
    assert not verdict.ok and verdict.reordered == 1 and verdict.lost == 0


def test_unknown_and_unfinished_caught() -> None:
    """A delivery nobody sent, and a chat that never ended, fail the verdict."""
    verdict = judge({"c1": ["a", "b", "c", "zz"], "c2": ["x", "y"]}, finished={"c1"})
    assert not verdict.ok and verdict.unexpected == 1 and verdict.unfinished == ["c2"]


def test_percentiles_and_loopback() -> None:
    """Percentiles pick from the sorted values; only loopback hosts are loaded by default."""
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile([], 50)) == (
        51.0,
        99.0,
        None,
    )
    assert is_loopback("ws://127.0.0.1:1/ws") and not is_loopback("ws://example.com/ws")
    with pytest.raises(SystemExit):
        run_load(LoadSettings(url="ws://example.com/ws"), live=False)


@pytest.mark.slow
async def test_short_run_end_to_end(server: App, tmp_path: Path) -> None:
    """A few seconds of agents, bots and calls: counts, latencies and a clean verdict."""
    settings = LoadSettings(
        url=f"ws://127.0.0.1:{server.port}/ws", agents=8, bots=2, processes=2, duration=2.0,
        chat_rate=25.0, messages=2, message_rate=20.0, handle=0.2, decline=0.1,
        calls_rate=2.0, talk=0.2, drain=10.0,
    )  # fmt: skip
    out = tmp_path / "report.json"
    result = await asyncio.to_thread(
        run_load, settings, ("sam", "sam-demo"), str(out), False, False
    )
    assert json.loads(out.read_text()) == result
    v = result["verification"]
    assert v["ok"], v
    assert v["chats"] >= 20 and v["messages"] >= 80
    counts = result["counts"]
    assert counts["created"] == v["chats"] and counts["completed"] >= counts["created"]
    assert counts["offered"] >= counts["accepted"] >= counts["created"]
    assert counts.get("declined", 0) >= 1
    # Each offer's arrival (the kernel's stamp) is no later than its read here.
    arrived, read = result["offer_latency_ms"], result["offer_read_latency_ms"]
    assert all(0 <= arrived[p] <= read[p] for p in ("p50", "p95", "p99", "max")), (arrived, read)
    assert result["relay_latency_ms"]["p99"] is not None
    assert 0 < result["client_cpu_seconds_run"] < result["client_cpu_seconds"]
    assert server.runtime is not None
    assert not [ix for ix in server.runtime.router.interactions.values() if ix.queue == "load-chat"]
