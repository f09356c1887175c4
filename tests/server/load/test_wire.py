"""The load tester's lean client: frames checked against websockets' own
implementation, and real conversations with a server on a loopback port."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from protocol.client import Client, ServerError
from protocol.routing import Accept, InteractionChanged, Offered, SetStatus
from protocol.sources import StartChat
from server.app import App
from server.load.wire import HandshakeFailed, LeanClient, client_frame, parse_frames
from server.settings import Settings


def server_bytes(frames: list[Frame]) -> bytes:
    return b"".join(f.serialize(mask=False) for f in frames)


@pytest.mark.parametrize("size", [0, 125, 126, 300, 65535, 65536, 70_000])
def test_parse_frames_reads_what_websockets_writes(size: int) -> None:
    """Every length encoding (7-bit, 16-bit, 64-bit), cut at random points:
    each frame comes out once, whole, and a partial frame waits in the buffer."""
    payload = random.Random(size).randbytes(size)
    frames = [
        Frame(Opcode.BINARY, payload),
        Frame(Opcode.PING, b"p1"),
        Frame(Opcode.TEXT, b'{"type":"x"}', fin=False),
        Frame(Opcode.CONT, b"tail"),
    ]
    data = server_bytes(frames)
    rng = random.Random(size + 1)
    cuts = sorted(rng.sample(range(1, len(data)), k=min(8, len(data) - 1)))
    buf = bytearray()
    got = []
    for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
        buf += data[start:end]
        got.extend(parse_frames(buf))
    assert not buf
    assert got == [(f.fin, int(f.opcode), f.data) for f in frames]


def test_parse_frames_refuses_a_masked_server_frame() -> None:
    buf = bytearray(Frame(Opcode.TEXT, b"hi").serialize(mask=True))
    with pytest.raises(ConnectionError, match="masked"):
        parse_frames(buf)


@pytest.mark.parametrize("size", [3, 126, 65536])
def test_client_frame_is_what_websockets_parses(size: int) -> None:
    """A client frame (masked with key 0) parsed by websockets as a server would."""
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    reader = StreamReader()
    reader.feed_data(client_frame(2, payload))
    parser = Frame.parse(reader.read_exact, mask=True)
    try:
        next(parser)
    except StopIteration as done:
        frame = done.value
    else:  # pragma: no cover - the whole frame was fed
        pytest.fail("websockets wanted more bytes")
    assert (frame.opcode, frame.fin, frame.data) == (Opcode.BINARY, True, payload)


# ------------------------------------------------------------ a real server


@pytest.fixture(params=[False, True], ids=["transport", "stamped"])
def stamped(request: pytest.FixtureRequest) -> bool:
    """Over the loop's own transport, or the load workers' StampedTransport."""
    return bool(request.param)


async def test_agent_offered_accepts_and_errors(server: App, encoding: str, stamped: bool) -> None:
    """Log in, go ready, get an offer pushed, accept it; a refused request raises
    ServerError with the server's code; last_seq follows the pushes."""
    url = f"ws://127.0.0.1:{server.port}/ws"
    lean = await LeanClient.connect(url, encoding=encoding, stamped=stamped)
    welcome = await lean.login("alice", "alice-demo")
    assert (welcome.principal, welcome.role) == ("alice", "agent")
    await lean.request(SetStatus(id=0, status="ready"))
    bot = await Client.connect(url, encoding=encoding)
    try:
        await bot.login_key("sbk_demo_webchat")
        created = await bot.request(StartChat(id=0, queue="support", text="Hello"))
        async with asyncio.timeout(5):
            while not isinstance(push := await lean.pushes.get(), Offered):
                pass
        assert push.interaction.id == created.interaction.id
        assert lean.last_seq >= push.seq > 0
        offer = push.offer
        # Each queued push has its arrival time, in order, from before it was taken.
        assert len(lean.arrivals) == lean.last_seq  # one per push (none taken off here)
        stamps = list(lean.arrivals)
        assert stamps == sorted(stamps) and stamps[-1] <= time.time()
        assert stamps[-1] >= push.interaction.created_at - 0.5  # same machine, same clock
        await lean.request(Accept(id=0, offer=offer))
        async with asyncio.timeout(5):
            while not isinstance(push := await lean.pushes.get(), InteractionChanged):
                pass
        assert (push.interaction.status, push.interaction.agent) == ("assigned", "alice")
        with pytest.raises(ServerError) as refused:
            await lean.request(Accept(id=0, offer=offer))
        assert refused.value.code in ("not_found", "conflict", "refused")
    finally:
        await bot.close()
        await lean.close()
    assert lean.closed.done()


async def test_pushes_to_a_callback_as_they_are_read(
    server: App, encoding: str, stamped: bool
) -> None:
    """With on_push set, pushes go to it as read (with their arrival time), in
    order, and none to the queue; replies still answer their requests; unset,
    pushes queue again."""
    url = f"ws://127.0.0.1:{server.port}/ws"
    lean = await LeanClient.connect(url, encoding=encoding, stamped=stamped)
    got: list[tuple[object, float]] = []
    offered = asyncio.get_running_loop().create_future()

    def on_push(push: object, at: float) -> None:
        got.append((push, at))
        if isinstance(push, Offered) and not offered.done():
            offered.set_result(push)

    bot = await Client.connect(url, encoding=encoding)
    try:
        await lean.login("alice", "alice-demo")
        await asyncio.sleep(0.1)  # the login's own push, queued
        queued = lean.pushes.qsize()
        lean.on_push = on_push
        await lean.request(SetStatus(id=0, status="ready"))
        await bot.login_key("sbk_demo_webchat")
        created = await bot.request(StartChat(id=0, queue="support", text="Hello"))
        async with asyncio.timeout(5):
            push = await offered
        assert push.interaction.id == created.interaction.id
        seqs = [p.seq for p, _ in got]
        assert seqs == sorted(seqs) and seqs[-1] == lean.last_seq
        stamps = [at for _, at in got]
        assert stamps == sorted(stamps) and stamps[-1] <= time.time()
        assert lean.pushes.qsize() == len(lean.arrivals) == queued  # nothing more queued
        lean.on_push = None
        taken = len(got)
        await lean.request(Accept(id=0, offer=push.offer))
        async with asyncio.timeout(5):
            while not isinstance(await lean.pushes.get(), InteractionChanged):
                pass
        assert len(got) == taken
    finally:
        await bot.close()
        await lean.close()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.limits.ping_interval = 0.1
    settings.limits.ping_timeout = 0.3
    return settings


async def test_answers_the_servers_pings(server: App, stamped: bool) -> None:
    """The lean client sends no pings of its own but answers the server's: with
    a 0.3 s ping timeout it is still connected and served after 1.5 s."""
    lean = await LeanClient.connect(f"ws://127.0.0.1:{server.port}/ws", stamped=stamped)
    await lean.login("bob", "bob-demo")
    await asyncio.sleep(1.5)
    assert not lean.closed.done()
    assert (await lean.request(SetStatus(id=0, status="ready"))) is not None
    await lean.close()


async def test_a_request_without_reply_times_out(
    server: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reply that does not come within the timeout raises TimeoutError and
    leaves nothing waiting behind."""
    lean = await LeanClient.connect(f"ws://127.0.0.1:{server.port}/ws")
    await lean.login("bob", "bob-demo")
    with monkeypatch.context() as m:
        m.setattr(lean, "_write", lambda opcode, payload: None)  # the request is never sent
        with pytest.raises(TimeoutError):
            await lean.request(SetStatus(id=0, status="ready"), timeout=0.2)
    assert not lean._waiting
    await lean.close()


async def test_no_upgrade_is_a_clear_failure(server: App) -> None:
    """A path that is not the websocket endpoint: HandshakeFailed, not a hang."""
    with pytest.raises(HandshakeFailed, match="no upgrade"):
        await LeanClient.connect(f"ws://127.0.0.1:{server.port}/healthz", open_timeout=5)
    with pytest.raises(ValueError, match="ws://"):
        await LeanClient.connect("wss://127.0.0.1:1/ws")


async def test_a_silent_server_times_out_and_the_socket_is_closed(stamped: bool) -> None:
    """A peer that accepts and never answers the upgrade: TimeoutError within
    open_timeout, and the half-open connection is not left behind."""
    closed = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client goes away
        closed.set()
        writer.close()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TimeoutError):
            await LeanClient.connect(f"ws://127.0.0.1:{port}/ws", open_timeout=0.3, stamped=stamped)
        await asyncio.wait_for(closed.wait(), 5)
    finally:
        listener.close()
        await listener.wait_closed()
