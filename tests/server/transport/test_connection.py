"""Authentication and bad input over a real server, in both encodings."""

from __future__ import annotations

import asyncio

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from protocol import PROTOCOL_VERSION
from protocol.auth import Login
from protocol.client import Client, ServerError
from protocol.common import Ping, Pong
from protocol.errors import CloseCode
from protocol.routing import SetStatus
from protocol.sources import StartChat
from server.app import App


async def closed_with(client: Client, timeout: float = 5.0) -> int | None:
    """Wait for the server to close ``client``; the close code it sent."""
    await asyncio.wait_for(client.ws.wait_closed(), timeout)
    rcvd = client.ws.protocol.close_rcvd
    return rcvd.code if rcvd else None


def encode_raw(client: Client, obj: object) -> bytes | str:
    data = client.codec.encode(obj)
    return data.decode() if client.codec.text else data


async def expect_error(client: Client, data: bytes | str) -> tuple[str, object]:
    """Send ``data`` as is; the (code, id) of the error frame it gets."""
    await client.send_raw(data)
    err = await asyncio.wait_for(client.orphan_errors.get(), 5)
    return str(err.code), err.id


async def test_login_welcome(connect) -> None:
    """A password login gets a welcome with version, role, token and agent state."""
    c = await connect()
    w = await c.login("alice", "alice-demo")
    assert w.protocol == PROTOCOL_VERSION
    assert (w.role, w.principal, w.display_name) == ("agent", "alice", "Alice Agent")
    assert w.session_token.startswith("sbt_") and w.token_expires_at
    assert w.agent is not None and w.agent.connected and w.agent.status == "offline"
    assert w.account is not None and [d.id for d in w.account.devices] == ["alice-soft"]
    assert {q.id: q.name for q in w.queues} == {
        "sales": "Sales chat",
        "support": "Support chat",
        "calls": "Support line",
    }


async def test_supervisor_and_key_logins(connect) -> None:
    """Supervisors log in by password, bots and the gateway by API key, with their role."""
    s, b, g = await connect(), await connect(), await connect()
    assert (await s.login("sam", "sam-demo")).role == "supervisor"
    assert (await b.login_key("sbk_demo_webchat")).role == "bot"
    assert (await g.login_key("sbk_demo_gateway")).role == "gateway"


async def test_wrong_password_then_closed(connect) -> None:
    """Wrong credentials get auth_failed; the third failure closes with 4003."""
    c = await connect()
    for _ in range(2):
        with pytest.raises(ServerError) as e:
            await c.login("alice", "nope")
        assert e.value.code == "auth_failed"
    with pytest.raises((ServerError, ConnectionError)):
        await c.login("nobody", "nope")
    assert await closed_with(c) == CloseCode.AUTH_FAILED


async def test_bad_api_key_and_token(connect) -> None:
    """An unknown API key or resume token is refused like a wrong password."""
    c = await connect()
    with pytest.raises(ServerError) as e:
        await c.login_key("sbk_not_a_key")
    assert e.value.code == "auth_failed"
    with pytest.raises(ServerError) as e:
        await c.resume("sbt_not_a_token")
    assert e.value.code == "auth_failed"


async def test_frames_before_login_refused(connect, server: App) -> None:
    """Anything but a login first gets not_authenticated and changes nothing."""
    c = await connect()
    with pytest.raises(ServerError) as e:
        await c.request(StartChat(id=0, queue="sales"))
    assert e.value.code == "not_authenticated"
    with pytest.raises(ServerError):
        await c.request(SetStatus(id=0, status="ready"))
    assert server.runtime is not None
    assert not server.runtime.router.interactions
    assert server.runtime.router.agents["alice"].status == "offline"
    # The connection is still usable for a login.
    assert (await c.login("alice", "alice-demo")).role == "agent"


async def test_login_deadline(connect, settings) -> None:
    """A connection that does not log in within the deadline is closed with 4001."""
    c = await connect()
    assert await closed_with(c, settings.limits.auth_timeout + 3) == CloseCode.AUTH_TIMEOUT


async def test_second_login_refused(connect) -> None:
    """A second login on the same connection gets already_authenticated."""
    c = await connect()
    await c.login("alice", "alice-demo")
    with pytest.raises(ServerError) as e:
        await c.login("alice", "alice-demo")
    assert e.value.code == "already_authenticated"


@pytest.mark.parametrize("logged_in", [False, True])
async def test_garbage_answered(connect, logged_in: bool) -> None:
    """Malformed, unknown and invalid frames get error frames with stable codes."""
    c = await connect()
    if logged_in:
        await c.login("alice", "alice-demo")
    garbage = b"\xff\x00garbage" if not c.codec.text else "{not json"
    assert await expect_error(c, garbage) == ("malformed", None)
    assert await expect_error(c, encode_raw(c, [1, 2, 3])) == ("malformed", None)
    assert await expect_error(c, encode_raw(c, {"id": 7})) == ("malformed", 7)
    assert await expect_error(c, encode_raw(c, {"type": "fly", "id": 8})) == ("unknown_type", 8)
    bad = {"type": "set_status", "id": 9, "status": "dancing"}
    assert await expect_error(c, encode_raw(c, bad)) == ("invalid", 9)
    # After all that, a good frame still works.
    if logged_in:
        assert isinstance(await c.request(Ping(id=0)), Pong)


async def test_oversized_frames(connect, settings) -> None:
    """A frame above the application limit gets too_large; above the hard limit, 1009."""
    c = await connect()
    await c.login("alice", "alice-demo")
    big = encode_raw(c, {"type": "ping", "id": 1, "pad": "x" * (settings.limits.max_frame + 10)})
    assert await expect_error(c, big) == ("too_large", 1)
    assert isinstance(await c.request(Ping(id=0)), Pong)
    huge = encode_raw(c, {"type": "ping", "id": 2, "pad": "x" * (settings.limits.max_message + 10)})
    await c.send_raw(huge)
    assert await closed_with(c) == CloseCode.TOO_BIG


async def test_repeated_garbage_closes(connect, settings) -> None:
    """Bad frames in a row beyond the limit close the connection with 1008."""
    c = await connect()
    await c.login("alice", "alice-demo")
    for _ in range(settings.limits.max_bad_frames):
        await c.send_raw(b"\x00" if not c.codec.text else "]")
    assert await closed_with(c) == CloseCode.POLICY_VIOLATION


async def test_flood_closes(connect, settings) -> None:
    """An agent sending far above its rate gets rate_limited, then is closed with 1008."""
    c = await connect()
    await c.login("alice", "alice-demo")
    frame = encode_raw(c, Ping(id=1))
    limit = settings.limits.rate["agent"] * settings.limits.burst_seconds
    with pytest.raises(ConnectionClosed):
        for _ in range(int(limit) * 3 + 10):
            await c.send_raw(frame)
        await asyncio.sleep(1)
        await c.send_raw(frame)
    assert await closed_with(c) == CloseCode.POLICY_VIOLATION


async def test_flood_gets_rate_limited_errors(connect, settings) -> None:
    """Frames over the burst are answered with rate_limited before any close."""
    c = await connect()
    await c.login("alice", "alice-demo")
    frame = encode_raw(c, Ping(id=1))
    burst = int(settings.limits.rate["agent"] * settings.limits.burst_seconds)
    for _ in range(burst + 5):
        await c.send_raw(frame)
    err = await asyncio.wait_for(c.orphan_errors.get(), 5)
    assert err.code == "rate_limited"


@pytest.mark.parametrize(
    ("who", "frame"),
    [
        ("agent", StartChat(id=0, queue="sales")),
        ("bot", SetStatus(id=0, status="ready")),
        ("gateway", StartChat(id=0, queue="sales")),
        ("bot", Login(id=0, username="x", password="y")),
    ],
)
async def test_out_of_role_refused(connect, server: App, who: str, frame) -> None:
    """Each role may send only its own frames; others get forbidden and change nothing."""
    c = await connect()
    if who == "agent":
        await c.login("alice", "alice-demo")
    else:
        await c.login_key("sbk_demo_webchat" if who == "bot" else "sbk_demo_gateway")
    with pytest.raises(ServerError) as e:
        await c.request(frame)
    expected = "already_authenticated" if isinstance(frame, Login) else "forbidden"
    assert e.value.code == expected
    assert server.runtime is not None
    assert not server.runtime.router.interactions
    assert all(a.status == "offline" for a in server.runtime.router.agents.values())


async def test_no_subprotocol_gets_json(connect) -> None:
    """A client that offers no subprotocol is spoken to in JSON."""
    c = await connect(encoding="json", subprotocol=False)
    assert c.ws.subprotocol is None
    assert (await c.login("alice", "alice-demo")).role == "agent"


async def test_msgpack_subprotocol_negotiated(connect) -> None:
    """Offering the MessagePack subprotocol selects it; frames are binary."""
    c = await connect(encoding="msgpack")
    assert c.ws.subprotocol == "switchboard.v1.msgpack"
    await c.login("alice", "alice-demo")
    assert isinstance(await c.request(Ping(id=0)), Pong)


async def test_foreign_origin_refused(server: App) -> None:
    """A browser page from another origin cannot open the websocket."""
    with pytest.raises(InvalidStatus) as e:
        await Client.connect(f"ws://127.0.0.1:{server.port}/ws", origin="http://evil.example")
    assert e.value.response.status_code == 403


async def test_same_origin_accepted(server: App) -> None:
    """The server's own page (same host and port) may open the websocket."""
    c = await Client.connect(
        f"ws://127.0.0.1:{server.port}/ws", origin=f"http://127.0.0.1:{server.port}"
    )
    try:
        assert (await c.login("alice", "alice-demo")).role == "agent"
    finally:
        await c.close()


async def test_login_elsewhere_replaces(connect, server: App) -> None:
    """A second login of the same agent closes the older connection with 4004."""
    first = await connect()
    await first.login("alice", "alice-demo")
    second = await connect()
    await second.login("alice", "alice-demo")
    assert await closed_with(first) == CloseCode.SESSION_REPLACED
    assert server.runtime is not None
    await asyncio.sleep(0.05)
    assert server.runtime.router.agents["alice"].connected
    assert isinstance(await second.request(Ping(id=0)), Pong)


async def test_nothing_crashes_on_random_bytes(connect) -> None:
    """Random byte strings and odd JSON never take the server down."""
    c = await connect()
    await c.login("alice", "alice-demo")
    samples = [b"", b"\x80", b"\xc1", b"\x91\xc0", b"null", b"1e999", b'{"type":null}']
    for s in samples:
        await c.send_raw(s if not c.codec.text else s.decode("latin-1"))
        await asyncio.wait_for(c.orphan_errors.get(), 5)
    assert isinstance(await c.request(Ping(id=0)), Pong)


async def test_error_ids_survive_both_encodings(connect) -> None:
    """A string request id is echoed back in the error frame."""
    c = await connect()
    data = encode_raw(c, {"type": "fly", "id": "req-1"})
    assert await expect_error(c, data) == ("unknown_type", "req-1")
