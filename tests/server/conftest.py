"""Servers in child processes, for the tests that kill them with SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from protocol.client import Client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def healthy(port: int) -> bool:
    """Whether GET /healthz answers 200 on ``port``."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    try:
        writer.write(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        await writer.drain()
        async with asyncio.timeout(2):
            data = await reader.read()
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return data.startswith(b"HTTP/1.1 200")


class ServerProcess:
    """``switchboard serve --demo`` in a child process, on its own port."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.proc = proc
        self.port = port
        self.log = log
        self.url = f"ws://127.0.0.1:{port}/ws"

    async def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not await healthy(self.port):
            if self.proc.poll() is not None:
                pytest.fail(f"server exited with {self.proc.returncode}:\n{self.log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"server not healthy within {timeout} s:\n{self.log.read_text()}")
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a crash."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


Launch = Callable[..., Awaitable[ServerProcess]]


@pytest.fixture
async def launch(tmp_path: Path) -> AsyncIterator[Launch]:
    """Start server processes on ``tmp_path/crash.db``; every one is killed at the end."""
    started: list[ServerProcess] = []

    async def start(config: Path | str | None = None) -> ServerProcess:
        """A server on ``tmp_path/crash.db``; ``config`` is a TOML file or its text."""
        if isinstance(config, str):
            path = tmp_path / f"switchboard-{len(started)}.toml"
            path.write_text(config, encoding="utf-8")
            config = path
        port = free_port()
        log = tmp_path / f"server-{len(started)}.log"
        cmd = [sys.executable, "-m", "server.cli", "serve", "--demo", "--port", str(port)]
        cmd += ["--db", str(tmp_path / "crash.db"), "--log-level", "warning"]
        if config is not None:
            cmd += ["--config", str(config)]
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
        server = ServerProcess(proc, port, log)
        started.append(server)
        await server.wait_ready()
        return server

    try:
        yield start
    finally:
        for server in started:
            server.kill()


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., Awaitable[Client]]]:
    """Open clients; all closed at the end, even when their server is dead."""
    opened: list[Client] = []

    async def open_client(url: str, encoding: str = "json") -> Client:
        client = await Client.connect(url, encoding=encoding)
        opened.append(client)
        return client

    yield open_client
    for c in opened:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(3):
                await c.close()
