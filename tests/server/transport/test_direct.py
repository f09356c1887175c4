"""Messages handed to the handler as they are parsed (server.transport.direct):
pipelining, fragments, order behind a command that awaits, bad UTF-8, a
flooding reader paused. Over a real server, written frame by frame."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import msgspec
import pytest
from websockets.frames import Frame, Opcode

from server.app import App
from server.settings import Settings
from server.transport.direct import HIGH_WATER, DirectConnection
from tests.conftest import make_settings

from .conftest import RawClient


@pytest.fixture
def settings(tmp_path: Any) -> Settings:
    """No rate limit in the way of the flood below."""
    s = make_settings(tmp_path)
    s.limits.rate["agent"] = 100_000.0
    s.limits.max_message = 300_000  # small enough to overrun cheaply
    return s


LOGIN = {"type": "login", "id": "login", "username": "alice", "password": "alice-demo"}


def queue(c: RawClient, *frames: dict[str, Any]) -> None:
    """Frames into the client's send buffer (sent together by flush())."""
    for f in frames:
        c.proto.send_text(json.dumps(f).encode())


async def replies(c: RawClient, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The next ``count`` replies from the server (pushes skipped), decoded."""
    out: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while len(out) < count:
            if not await c.read_some():
                break
            for ev in c.proto.events_received():
                if isinstance(ev, Frame) and ev.opcode is Opcode.TEXT:
                    frame = json.loads(ev.data)
                    if "id" in frame:  # replies, not pushes
                        out.append(frame)
    return out


async def test_frames_sent_right_behind_the_login_are_answered_in_order(raw: Any) -> None:
    """Login and five pings in one TCP write: the pings were queued before the
    session existed and are all answered, in order, after the welcome."""
    c = await raw.open()
    queue(c, LOGIN, *({"type": "ping", "id": i} for i in range(5)))
    await c.flush()
    got = await replies(c, 6)
    assert [f["type"] for f in got] == ["welcome"] + ["pong"] * 5
    assert [f["id"] for f in got] == ["login", 0, 1, 2, 3, 4]


async def test_a_fragmented_message_is_assembled(raw: Any) -> None:
    c = await raw.open()
    queue(c, LOGIN)
    await c.flush()
    await replies(c, 1)
    data = json.dumps({"type": "ping", "id": "frag"}).encode()
    c.proto.send_text(data[:5], fin=False)
    c.proto.send_continuation(data[5:12], fin=False)
    c.proto.send_continuation(data[12:], fin=True)
    queue(c, {"type": "ping", "id": "after"})
    await c.flush()
    got = await replies(c, 2)
    assert [(f["type"], f["id"]) for f in got] == [("pong", "frag"), ("pong", "after")]


async def test_commands_behind_one_that_awaits_keep_their_order(raw: Any) -> None:
    """list_chats reads the database (its handler awaits); the pings sent
    behind it must not overtake it."""
    c = await raw.open()
    queue(c, LOGIN)
    await c.flush()
    await replies(c, 1)
    queue(
        c,
        {"type": "list_chats", "id": "chats"},
        *({"type": "ping", "id": i} for i in range(3)),
        {"type": "list_chats", "id": "chats2"},
        {"type": "ping", "id": "last"},
    )
    await c.flush()
    got = await replies(c, 6)
    assert [f["id"] for f in got] == ["chats", 0, 1, 2, "chats2", "last"]
    assert got[0]["type"] == "chat_list"


async def test_invalid_utf8_closes_with_1007(raw: Any) -> None:
    c = await raw.open()
    queue(c, LOGIN)
    await c.flush()
    await replies(c, 1)
    c.proto.send_text(b'{"type": "ping", "id": "\xff\xfe"}')
    await c.flush()
    frames = await c.frames_until_closed(5)
    closes = [f for f in frames if f.opcode is Opcode.CLOSE]
    assert closes and int.from_bytes(closes[0].data[:2], "big") == 1007


async def test_a_flood_behind_an_awaiting_command_is_answered_in_full_and_in_order(
    raw: Any,
) -> None:
    """Far more frames than the inbox holds arrive behind a database read:
    reading pauses, nothing is lost, every one is answered in order."""
    c = await raw.open()
    queue(c, LOGIN)
    await c.flush()
    await replies(c, 1)
    n = HIGH_WATER * 3
    queue(c, {"type": "list_chats", "id": "first"}, *({"type": "ping", "id": i} for i in range(n)))
    await c.flush()
    got = await replies(c, n + 1, timeout=15)
    assert [f["id"] for f in got] == ["first", *range(n)]


# ------------------------------------------- frames read by the connection itself


async def logged_in(raw: Any) -> RawClient:
    c: RawClient = await raw.open()
    queue(c, LOGIN)
    await c.flush()
    await replies(c, 1)
    return c


async def close_code(c: RawClient) -> int | None:
    frames = await c.frames_until_closed(5)
    closes = [f for f in frames if f.opcode is Opcode.CLOSE]
    return int.from_bytes(closes[0].data[:2], "big") if closes else None


def own_parsing(server: App) -> list[bool]:
    conns = server.server.connections if server.server else set()
    return [c.parses_frames for c in conns if isinstance(c, DirectConnection)]


async def test_a_frame_cut_when_delivery_begins_is_still_read(raw: Any, server: App) -> None:
    """The login and the first half of a ping arrive together: websockets holds
    half a frame when the session starts; the second half still makes a ping."""
    c = await raw.open()
    queue(c, LOGIN, {"type": "ping", "id": "cut"})
    data = b"".join(c.proto.data_to_send())
    await c.loop.sock_sendall(c.sock, data[: len(data) - 5])
    assert [f["type"] for f in await replies(c, 1)] == ["welcome"]
    assert own_parsing(server) == [False]  # websockets holds half a frame
    await c.loop.sock_sendall(c.sock, data[len(data) - 5 :])
    queue(c, {"type": "ping", "id": "next"})
    await c.flush()
    assert [f["id"] for f in await replies(c, 2)] == ["cut", "next"]
    assert own_parsing(server) == [True]  # taken over once that frame was whole


async def test_frames_split_across_reads_and_big_ones_in_pieces(raw: Any, server: App) -> None:
    """Byte by byte, then a 200 kB message in 1 kB writes: each arrives whole."""
    c = await logged_in(raw)
    assert own_parsing(server) == [True]
    queue(c, {"type": "ping", "id": "slow"})
    for byte in b"".join(c.proto.data_to_send()):
        await c.loop.sock_sendall(c.sock, bytes([byte]))
    assert [f["id"] for f in await replies(c, 1)] == ["slow"]
    big = {"type": "ping", "id": "big", "pad": "x" * 200_000}
    queue(c, big)
    data = b"".join(c.proto.data_to_send())
    for i in range(0, len(data), 1024):
        await c.loop.sock_sendall(c.sock, data[i : i + 1024])
    got = await replies(c, 1)
    # 200 kB is over the frame limit for anything but a file: refused, with its id.
    assert (got[0]["type"], got[0]["id"], got[0]["code"]) == ("error", "big", "too_large")


async def test_binary_frames_of_every_length_field_split_anywhere(raw: Any, server: App) -> None:
    """Binary messages with a 7-bit, 16-bit and 64-bit length field (the parser
    reads the first two inline), between text ones, cut at every byte and in
    uneven pieces: each is answered, in order."""
    c = await logged_in(raw)
    sizes = [10, 200, 70_000, 0, 125, 126, 65_535 - 64]
    frames = [{"type": "ping", "id": f"p{i}", "pad": "x" * n} for i, n in enumerate(sizes)]
    for i, f in enumerate(frames):
        data = json.dumps(f).encode()
        c.proto.send_text(data) if i % 3 == 2 else c.proto.send_binary(data)
    data = b"".join(c.proto.data_to_send())
    cut, step = 0, 1
    while cut < len(data):
        size = step if cut < 2000 else 7919  # byte by byte at first, then odd pieces
        await c.loop.sock_sendall(c.sock, data[cut : cut + size])
        cut += size
    got = await replies(c, len(frames))
    assert [(g["type"], g["id"]) for g in got][:2] == [("pong", "p0"), ("pong", "p1")]
    # 70 kB is over the frame limit (only files may be that big): refused, with its id.
    assert (got[2]["type"], got[2]["id"], got[2]["code"]) == ("error", "p2", "too_large")
    assert [(g["type"], g["id"]) for g in got[3:]] == [("pong", f"p{i}") for i in range(3, 7)]
    assert own_parsing(server) == [True]


async def test_pings_and_a_clean_close_go_through_websockets(raw: Any) -> None:
    c = await logged_in(raw)
    c.proto.send_ping(b"are you there")
    await c.flush()
    async with asyncio.timeout(5):
        pongs: list[Frame] = []
        while not pongs:
            await c.read_some()
            pongs = [f for f in c.proto.events_received() if f.opcode is Opcode.PONG]
    assert pongs[0].data == b"are you there"
    c.proto.send_close(1000, "bye")
    await c.flush()
    assert await close_code(c) == 1000


@pytest.mark.parametrize(
    ("raw_frame", "code"),
    [
        (b"\x81\x05hello", 1002),  # not masked
        (b"\xc1\x80\x00\x00\x00\x00", 1002),  # a reserved bit, no extension negotiated
        (b"\x83\x80\x00\x00\x00\x00", 1002),  # a reserved opcode
    ],
)
async def test_protocol_violations_close_as_websockets_would(
    raw: Any, raw_frame: bytes, code: int
) -> None:
    c = await logged_in(raw)
    await c.loop.sock_sendall(c.sock, raw_frame)
    assert await close_code(c) == code


async def test_a_message_over_the_size_limit_closes_with_1009(raw: Any, settings: Settings) -> None:
    c = await logged_in(raw)
    queue(c, {"type": "ping", "id": "huge", "pad": "x" * (settings.limits.max_message + 10)})
    data = b"".join(c.proto.data_to_send())
    with contextlib.suppress(ConnectionError):  # cut off before it was all read
        await c.loop.sock_sendall(c.sock, data)
    assert await close_code(c) == 1009


async def test_a_read_of_several_commands_settles_once_after_them(raw: Any, server: App) -> None:
    """Going ready and three pings in one TCP write: the waiting chat's offer
    goes out, the pings are answered, and the offer's timeout timer is armed
    once the read is handled (the offer times out and the chat is offered
    again); nothing is left marked as inside a read."""
    from protocol.client import Client
    from protocol.sources import StartChat

    router = server.runtime.router
    router.put_queue(msgspec.structs.replace(router.queues["support"], offer_timeout=0.3))
    bot = await Client.connect(f"ws://127.0.0.1:{server.port}/ws")
    try:
        await bot.login_key("sbk_demo_webchat")
        await bot.request(StartChat(id=0, queue="support", text="Anyone?"))
        c = await logged_in(raw)
        queue(
            c,
            {"type": "set_status", "id": "ready", "status": "ready"},
            *({"type": "ping", "id": i} for i in range(3)),
        )
        await c.flush()
        assert [f["id"] for f in await replies(c, 4)] == ["ready", 0, 1, 2]
        assert server.runtime._batching == 0
        pushes: list[dict[str, Any]] = []
        async with asyncio.timeout(5):
            while not any(p["type"] == "offer_closed" for p in pushes):
                await c.read_some()
                pushes += [
                    json.loads(ev.data)
                    for ev in c.proto.events_received()
                    if isinstance(ev, Frame) and ev.opcode is Opcode.TEXT
                ]
        closed = next(p for p in pushes if p["type"] == "offer_closed")
        assert closed["outcome"] == "timed_out"
    finally:
        await bot.close()
