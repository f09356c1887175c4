"""Keepalive: a peer that stops answering pings is dropped."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

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
