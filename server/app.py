"""The server as one object: storage, runtime and the websocket listener.

Shutdown order (on SIGTERM/SIGINT or :meth:`App.stop`): stop accepting, close
every connection with 1001, stop the runtime's timers, let the writer commit
what is queued, close the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path

import structlog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from protocol import PROTOCOL_VERSION
from protocol.errors import CloseCode
from protocol.schema import load_schema_text
from protocol.version import SUBPROTOCOLS
from server import __version__
from server.runtime import Runtime
from server.settings import Settings
from server.storage import Store
from server.storage.reads import IMAGE_TYPES
from server.transport.case_dispatch import satisfaction_page
from server.transport.connection import ConnectionHandler
from server.transport.direct import DirectConnection
from server.transport.http import DEFAULT_WEB_ROOT, StaticFiles, is_websocket, respond, text

log = structlog.get_logger(__name__)


def select_subprotocol(
    conn: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    """The first of ours the client offers; none (JSON) if it offers none of ours."""
    for name in offered:
        if name in SUBPROTOCOLS:
            return name
    return None


class App:
    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.store: Store | None = None
        self.runtime: Runtime | None = None
        self.server: Server | None = None
        self.port: int = settings.server.port
        root = settings.server.web_root
        self.static = StaticFiles(Path(root) if root else DEFAULT_WEB_ROOT)
        self.started_at = 0.0

    async def start(self) -> None:
        s = self.settings
        self.store = await Store.open(s.server.db, s.storage.synchronous, s.storage.writer)
        self.runtime = Runtime(s, self.store, self.clock)
        await self.runtime.start()
        limits = s.limits
        self.server = await serve(
            ConnectionHandler(self.runtime),
            s.server.host,
            s.server.port,
            create_connection=DirectConnection,
            subprotocols=[Subprotocol(p) for p in SUBPROTOCOLS],
            select_subprotocol=select_subprotocol,
            process_request=self._http,
            compression=None,  # deflate triples the memory of an idle connection
            max_size=limits.max_message,
            ping_interval=limits.ping_interval,
            ping_timeout=limits.ping_timeout,
            close_timeout=2,
            open_timeout=limits.auth_timeout,
        )
        sock = next(iter(self.server.sockets))
        self.port = sock.getsockname()[1]
        self.started_at = time.time()
        log.info("listening", host=s.server.host, port=self.port, db=s.server.db)

    def _origin_allowed(self, request: Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return True  # not a browser: bots, the gateway, load testers
        if origin in self.settings.server.allowed_origins:
            return True
        host = request.headers.get("Host", "")
        return origin in (f"http://{host}", f"https://{host}")

    async def _http(self, conn: ServerConnection, request: Request) -> Response | None:
        path, _, query = request.path.partition("?")
        if path.startswith("/files/") and self.runtime is not None:
            return await self._file(path.removeprefix("/files/"), query)
        if path == "/satisfaction" and self.runtime is not None:
            return await satisfaction_page(self.runtime, query)
        if is_websocket(request):
            if path != "/ws":
                return text(404, "the websocket endpoint is /ws")
            if not self._origin_allowed(request):
                log.warning("origin_refused", origin=request.headers.get("Origin"))
                return text(403, "origin not allowed")
            if self.runtime is None or self.runtime.failed is not None:
                return text(503, "unavailable")
            return None
        if path == "/healthz":
            rt = self.runtime
            healthy = rt is not None and rt.failed is None
            body = {
                "status": "ok" if healthy else "failed",
                "version": __version__,
                "protocol": PROTOCOL_VERSION,
                "uptime": round(time.time() - self.started_at, 3),
                "interactions": len(rt.router.interactions) if rt else 0,
                "sessions": sum(1 for x in rt.sessions.values() if x.conn) if rt else 0,
            }
            return respond(200 if healthy else 503, json.dumps(body).encode(), "application/json")
        if path == "/metrics" and self.runtime is not None:
            m = self.runtime.metrics
            m.batches.set(self.runtime.store.writer.batches)
            m.rows.set(self.runtime.store.writer.rows)
            self._agent_gauges()
            return respond(200, m.render(), "text/plain; version=0.0.4; charset=utf-8")
        if path == "/schema.json":
            return respond(200, load_schema_text().encode(), "application/json")
        return self.static.get(path)

    async def _file(self, file_id: str, query: str) -> Response:
        """A chat file by signed link. Only images are shown inline; anything
        else is a download, and nothing is ever run as a page."""
        rt = self.runtime
        assert rt is not None and rt.reader is not None
        args = dict(urllib.parse.parse_qsl(query))
        if not rt.signer.valid(file_id, args.get("exp", ""), args.get("sig", ""), rt.clock()):
            return text(403, "link expired or invalid")
        found = await rt.reader.file(file_id)
        if found is None:
            return text(404, "not found")
        view, _, digest = found
        data = await rt.files.get(digest)
        inline = view.mime in IMAGE_TYPES
        name = urllib.parse.quote(view.name)
        disposition = "inline" if inline else "attachment"
        headers = {
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{name}",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Cache-Control": "private, max-age=3600",
        }
        kind = view.mime if inline else "application/octet-stream"
        return respond(200, data, kind, headers)

    def _agent_gauges(self) -> None:
        assert self.runtime is not None
        counts: dict[tuple[str, str], int] = {}
        for a in self.runtime.router.agents.values():
            counts[(a.status, a.state)] = counts.get((a.status, a.state), 0) + 1
        gauge = self.runtime.metrics.agents
        gauge.clear()
        for (status, state), n in counts.items():
            gauge.labels(status, state).set(n)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close(close_connections=False)
            conns = list(self.server.connections)
            await asyncio.gather(
                *(c.close(CloseCode.GOING_AWAY, "server shutting down") for c in conns),
                return_exceptions=True,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self.server.wait_closed(), self.settings.server.shutdown_timeout
                )
            self.server = None
        if self.runtime is not None:
            await self.runtime.stop()
        if self.store is not None:
            await self.store.close()
            self.store = None
        log.info("stopped")

    async def run_until_signal(self) -> int:
        """Serve until SIGTERM/SIGINT (or a storage failure); then stop in order."""
        await self.start()
        assert self.runtime is not None
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        failed = asyncio.ensure_future(self.runtime.stopped.wait())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({failed, stopping}, return_when=asyncio.FIRST_COMPLETED)
        failed.cancel()
        stopping.cancel()
        log.info("shutting_down", reason="storage failed" if self.runtime.failed else "signal")
        code = 1 if self.runtime.failed else 0
        await self.stop()
        return code
