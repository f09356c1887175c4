"""The server as a whole over real sockets: plain HTTP beside the websocket,
handshake checks (path, origin, subprotocol) and graceful shutdown."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from protocol import PROTOCOL_VERSION
from protocol.client import Client
from protocol.routing import SetStatus
from protocol.sources import StartChat
from protocol.version import JSON_SUBPROTOCOL, MSGPACK_SUBPROTOCOL
from server import __version__
from server.app import App
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ALLOWED_ORIGIN = "https://portal.example.com"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared test settings plus one configured browser origin."""
    settings.server.allowed_origins = [ALLOWED_ORIGIN]
    return settings


class HttpResponse(msgspec.Struct):
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


async def http_get(port: int, path: str, headers: dict[str, str] | None = None) -> HttpResponse:
    """One raw HTTP/1.1 GET, sent byte for byte as given (no client-side path cleanup)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        async with asyncio.timeout(5):
            data = await reader.read()  # the server closes after answering
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    response = HttpResponse(int(status_line.split()[1]), parsed, body)
    assert int(parsed["content-length"]) == len(body)
    return response


def metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus samples by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def ws_url(app: App, path: str = "/ws") -> str:
    return f"ws://127.0.0.1:{app.port}{path}"


# ----------------------------------------------------------------- plain HTTP


async def test_healthz(server: App) -> None:
    """GET /healthz answers JSON: status ok, the server and protocol versions."""
    r = await http_get(server.port, "/healthz")
    assert r.status == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert isinstance(body, dict)
    assert body["status"] == "ok"
    assert body["version"] == __version__
    assert body["protocol"] == PROTOCOL_VERSION
    assert body["uptime"] >= 0


async def test_healthz_counts_sessions_and_interactions(server: App, agent, bot) -> None:
    """/healthz reflects connected sessions and live interactions."""
    await agent("alice")
    b = await bot()
    await b.request(StartChat(id=0, queue="sales"))
    body = (await http_get(server.port, "/healthz?verbose=1")).json()
    assert isinstance(body, dict)
    assert body["sessions"] == 2
    assert body["interactions"] == 1


async def test_metrics_reflect_activity(server: App, agent, bot) -> None:
    """GET /metrics is Prometheus text whose counters move with offers and frames."""
    first = await http_get(server.port, "/metrics")
    assert first.status == 200
    assert first.headers["content-type"].startswith("text/plain; version=0.0.4")
    before = metrics(first.body.decode())
    assert before[("switchboard_offers_total", ())] == 0
    assert before and all(name.startswith("switchboard_") for name, _ in before)

    a = await agent("alice", ready=True)
    b = await bot()
    created = await b.request(StartChat(id=0, queue="sales"))
    offer = await a.next_push("offer")
    assert offer.interaction.id == created.interaction.id

    after = metrics((await http_get(server.port, "/metrics")).body.decode())
    assert after[("switchboard_offers_total", ())] >= 1
    assert after[("switchboard_offer_latency_seconds_count", ())] >= 1

    def frames(kind: str) -> float:
        return after[("switchboard_frames_received_total", (("type", kind),))]

    assert frames("login") == 1
    assert frames("login_key") == 1
    assert frames("set_status") == 1
    assert frames("start_chat") == 1
    assert after[("switchboard_connections", (("role", "agent"),))] == 1
    assert after[("switchboard_connections", (("role", "bot"),))] == 1
    assert after[("switchboard_agents", (("state", "offered"), ("status", "ready")))] == 1
    assert after[("switchboard_storage_batches", ())] >= 1
    assert after[("switchboard_storage_rows", ())] >= 1


async def test_schema_json(server: App) -> None:
    """GET /schema.json serves the generated protocol schema as valid JSON."""
    r = await http_get(server.port, "/schema.json")
    assert r.status == 200
    assert r.headers["content-type"] == "application/json"
    schema = r.json()
    assert schema == json.loads((ROOT / "protocol" / "schema.json").read_text("utf-8"))
    assert isinstance(schema, dict) and schema


async def test_root_serves_the_web_client(server: App) -> None:
    """GET / serves web_client/index.html as HTML under a strict CSP."""
    index = (ROOT / "web_client" / "index.html").read_bytes()
    for path in ("/", "/index.html"):
        r = await http_get(server.port, path)
        assert r.status == 200, path
        assert r.body == index
        assert r.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in r.headers["content-security-policy"]


async def test_missing_file_is_404(server: App) -> None:
    """A path that names no file under the web root gets 404."""
    r = await http_get(server.port, "/no-such-file.js")
    assert r.status == 404


@pytest.mark.parametrize(
    "path",
    [
        "/../pyproject.toml",
        "/%2e%2e/pyproject.toml",
        "/..%2fpyproject.toml",
        "/../../../../../../etc/passwd",
        "//etc/passwd",
        "/../server/app.py",
        "/web_client/../../pyproject.toml",
    ],
)
async def test_path_traversal_is_refused(server: App, path: str) -> None:
    """Paths that climb out of the web root get 404 and never a file's content."""
    r = await http_get(server.port, path)
    assert r.status == 404
    assert b"[build-system]" not in r.body and b"root:" not in r.body
    assert b"import" not in r.body


async def test_symlink_out_of_the_web_root_is_refused(settings: Settings, tmp_path: Path) -> None:
    """A configured web root is served, but a symlink in it pointing outside is not."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_text("<p>mine</p>")
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    (root / "leak.txt").symlink_to(secret)
    settings.server.web_root = str(root)
    app = App(settings)
    await app.start()
    try:
        r = await http_get(app.port, "/")
        assert (r.status, r.body) == (200, b"<p>mine</p>")
        r = await http_get(app.port, "/leak.txt")
        assert r.status == 404 and b"secret" not in r.body
    finally:
        await app.stop()


# ------------------------------------------------------------ the handshake


@pytest.mark.parametrize("path", ["/", "/other", "/ws/", "/ws/extra", "/healthz"])
async def test_websocket_only_on_ws(server: App, path: str) -> None:
    """A websocket upgrade on any path but /ws is refused with 404."""
    with pytest.raises(InvalidStatus) as info:
        await Client.connect(ws_url(server, path))
    assert info.value.response.status_code == 404


async def test_websocket_on_ws_with_a_query(server: App) -> None:
    """/ws with a query string is still the websocket endpoint."""
    c = await Client.connect(ws_url(server, "/ws?client=test"))
    try:
        welcome = await c.login("alice", "alice-demo")
        assert welcome.principal == "alice"
    finally:
        await c.close()


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "null",
        "http://127.0.0.1:1",
        "http://127.0.0.1.evil.example",
        "https://portal.example.com.evil.example",
    ],
)
async def test_foreign_origin_is_refused(server: App, origin: str) -> None:
    """A browser handshake from an origin that is not allowed gets 403."""
    with pytest.raises(InvalidStatus) as info:
        await Client.connect(ws_url(server), origin=origin)
    assert info.value.response.status_code == 403


async def test_same_host_and_configured_origins_are_accepted(server: App) -> None:
    """The server's own page and a configured allowed origin may open the websocket."""
    for origin in (f"http://127.0.0.1:{server.port}", ALLOWED_ORIGIN):
        c = await Client.connect(ws_url(server), origin=origin)
        try:
            welcome = await c.login("carol", "carol-demo")
            assert welcome.principal == "carol"
        finally:
            await c.close()


async def test_no_subprotocol_gets_json(server: App) -> None:
    """A client that offers no subprotocol talks JSON in text frames."""
    async with ws_connect(ws_url(server), compression=None) as ws:
        assert ws.subprotocol is None
        await ws.send(json.dumps({"type": "login_key", "id": 1, "api_key": "sbk_demo_webchat"}))
        async with asyncio.timeout(5):
            reply = await ws.recv()
        assert isinstance(reply, str)
        frame = json.loads(reply)
        assert frame["type"] == "welcome" and frame["id"] == 1 and frame["role"] == "bot"


async def test_unknown_subprotocol_falls_back_to_json(server: App) -> None:
    """Offering only subprotocols the server does not know also means JSON."""
    async with ws_connect(
        ws_url(server), subprotocols=[Subprotocol("chat.v9")], compression=None
    ) as ws:
        assert ws.subprotocol is None
        await ws.send(json.dumps({"type": "ping", "id": 3}))
        async with asyncio.timeout(5):
            reply = await ws.recv()
        assert isinstance(reply, str)
        frame = json.loads(reply)
        assert frame["type"] == "error" and frame["code"] == "not_authenticated"


@pytest.mark.parametrize("offered", [JSON_SUBPROTOCOL, MSGPACK_SUBPROTOCOL])
async def test_offered_subprotocol_is_selected(server: App, offered: str) -> None:
    """The server picks the subprotocol the client offers; msgpack comes in binary frames."""
    async with ws_connect(
        ws_url(server), subprotocols=[Subprotocol("chat.v9"), Subprotocol(offered)]
    ) as ws:
        assert ws.subprotocol == offered
        login = {"type": "login_key", "id": 1, "api_key": "sbk_demo_webchat"}
        if offered == MSGPACK_SUBPROTOCOL:
            await ws.send(msgspec.msgpack.encode(login))
        else:
            await ws.send(json.dumps(login))
        async with asyncio.timeout(5):
            reply = await ws.recv()
        if offered == MSGPACK_SUBPROTOCOL:
            assert isinstance(reply, bytes)
            frame = msgspec.msgpack.decode(reply)
        else:
            assert isinstance(reply, str)
            frame = json.loads(reply)
        assert frame["type"] == "welcome"


# ------------------------------------------------------------------ shutdown


async def test_graceful_shutdown_closes_connections_with_1001(settings: Settings) -> None:
    """App.stop closes every open connection with 1001, then stops listening."""
    app = App(settings)
    await app.start()
    port = app.port
    clients: list[Client] = []
    try:
        url = ws_url(app)
        a = await Client.connect(url)
        clients.append(a)
        await a.login("alice", "alice-demo")
        await a.request(SetStatus(id=0, status="ready"))
        b = await Client.connect(url, encoding="msgpack")
        clients.append(b)
        await b.login_key("sbk_demo_webchat")
        await b.request(StartChat(id=0, queue="support"))
        anonymous = await Client.connect(url)  # connected, not logged in yet
        clients.append(anonymous)
        started = time.monotonic()
        await app.stop()
        assert time.monotonic() - started < settings.server.shutdown_timeout + 2
        for c in clients:
            async with asyncio.timeout(5):
                await c.ws.wait_closed()
            assert c.ws.close_code == 1001
        assert app.store is None
        with pytest.raises(OSError):
            await http_get(port, "/healthz")
    finally:
        for c in clients:
            await c.close()
        await app.stop()
