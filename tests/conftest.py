"""Shared fixtures: a real Switchboard server on a loopback port, and clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from protocol.client import Client
from server.app import App
from server.demo import with_demo
from server.settings import Settings

ENCODINGS = ["json", "msgpack"]


def make_settings(tmp_path: Path) -> Settings:
    """Demo seeds, a fresh database in ``tmp_path``, any free port, short timers."""
    s = with_demo(Settings())
    s.server.port = 0
    s.server.db = str(tmp_path / "switchboard.db")
    s.server.shutdown_timeout = 1.0
    s.limits.auth_timeout = 2.0
    s.routing.grace = 1.0
    s.routing.reoffer_delay = 0.5
    return s


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[App]:
    app = App(settings)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@pytest.fixture(params=ENCODINGS)
def encoding(request: pytest.FixtureRequest) -> str:
    return str(request.param)


Connect = Callable[..., Awaitable[Client]]


@pytest.fixture
async def connect(server: App, encoding: str) -> AsyncIterator[Connect]:
    """Open clients to ``server`` in this test's encoding; all closed at the end."""
    clients: list[Client] = []

    async def open_client(**kwargs: Any) -> Client:
        kwargs.setdefault("encoding", encoding)
        url = f"ws://127.0.0.1:{server.port}/ws"
        client = await Client.connect(url, **kwargs)
        clients.append(client)
        return client

    yield open_client
    for c in clients:
        await c.close()


@pytest.fixture
async def agent(connect: Connect) -> Callable[..., Awaitable[Client]]:
    """Log in a demo agent, optionally ready."""

    async def login(name: str = "alice", ready: bool = False) -> Client:
        from protocol.routing import SetStatus

        c = await connect()
        await c.login(name, f"{name}-demo")
        if ready:
            await c.request(SetStatus(id=0, status="ready"))
        return c

    return login


@pytest.fixture
async def bot(connect: Connect) -> Callable[..., Awaitable[Client]]:
    async def login(key: str = "sbk_demo_webchat") -> Client:
        c = await connect()
        await c.login_key(key)
        return c

    return login
