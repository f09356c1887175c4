"""Keepalive: a peer that stops answering pings is dropped."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
from websockets.frames import Close, CloseCode, Frame, Opcode

from server.app import App
from server.settings import Settings


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Fast keepalive so that a dead peer shows quickly."""
    settings.limits.ping_interval = 0.3
    settings.limits.ping_timeout = 0.3
    return settings


async def test_dead_peer_detected(raw, server: App) -> None:
    """A peer that stops answering pings is dropped and its agent disconnected."""
    peer = await raw.open()
    await peer.send_text(json.dumps({"type": "login", "id": 1, "username": "alice",
                                     "password": "alice-demo"}))  # fmt: skip
    assert server.runtime is not None
    await until(lambda: server.runtime.router.agents["alice"].connected)
    await until(lambda: not server.runtime.router.agents["alice"].connected, timeout=5)


def _login(n: int = 1) -> str:
    return json.dumps({"type": "login", "id": n, "username": "alice", "password": "alice-demo"})


async def _frames_for(peer, seconds: float, answer: bool = False) -> list[Frame]:
    """What the server sends ``peer`` in ``seconds``; with ``answer``, pings
    are answered (the protocol queues the pong, the flush sends it)."""
    frames: list[Frame] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        try:
            async with asyncio.timeout(left):
                if not await peer.read_some():
                    break
        except TimeoutError:
            break
        frames.extend(peer.proto.events_received())
        if answer:
            await peer.flush()
    return frames


async def test_dead_peer_is_closed_with_1011(raw) -> None:
    """A silent peer gets a ping after ``ping_interval``; still silent after
    ``ping_timeout``, it is closed with 1011 and the keepalive's reason."""
    peer = await raw.open()
    await peer.send_text(_login())
    frames = await peer.frames_until_closed(timeout=5)
    kinds = [f.opcode for f in frames]
    assert Opcode.PING in kinds
    close = frames[-1]
    assert close.opcode is Opcode.CLOSE
    received = Close.parse(close.data)
    assert received.code == CloseCode.INTERNAL_ERROR
    assert received.reason == "keepalive ping timeout"


async def test_a_peer_that_answers_pings_stays(raw, server: App) -> None:
    """Silent but answering every ping: pinged about once per interval, never closed."""
    peer = await raw.open()
    await peer.send_text(_login())
    frames = await _frames_for(peer, 1.8, answer=True)
    pings = [f for f in frames if f.opcode is Opcode.PING]
    assert 2 <= len(pings) <= 6  # 0.3 s of silence before each, 1.8 s in all
    assert not [f for f in frames if f.opcode is Opcode.CLOSE]
    assert server.runtime is not None and server.runtime.router.agents["alice"].connected


async def test_a_busy_peer_is_not_pinged(raw, server: App) -> None:
    """What a peer sends shows it is alive: one that sends a frame every 0.1 s
    (and never answers a ping) gets no ping and stays; once it falls silent,
    the pings begin."""
    peer = await raw.open()
    await peer.send_text(_login())
    frames: list[Frame] = []
    for n in range(2, 20):  # 1.8 s, six ping intervals
        status = "ready" if n % 2 else "away"
        await peer.send_text(json.dumps({"type": "set_status", "id": n, "status": status}))
        frames += await _frames_for(peer, 0.1)
    assert not [f for f in frames if f.opcode in (Opcode.PING, Opcode.CLOSE)]
    assert sum(f.opcode is Opcode.TEXT for f in frames) >= 18  # the replies came
    assert server.runtime is not None and server.runtime.router.agents["alice"].connected
    later = await _frames_for(peer, 0.5)
    assert [f.opcode for f in later if f.opcode is Opcode.PING]
