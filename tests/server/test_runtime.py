"""The runtime's loop timer: set when the router's timers change, and set
again when it fires before anything is due; and what an offer writes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from protocol.codec import JSON, MSGPACK
from protocol.routing import AgentChanged, Offered
from protocol.sources import StartChat
from server.app import App
from server.load.wire import parse_frames


async def test_a_new_deadline_gets_a_loop_timer(server: App) -> None:
    rt = server.runtime
    assert rt is not None
    when = rt.clock() + 0.2
    rt.router.set_timer(when, "reoffer", "no-such-interaction")
    rt.commit()  # settles: the timers changed, so the loop timer follows
    assert rt._timer is not None and rt._timer_at == when
    await asyncio.sleep(0.35)
    assert rt.router.next_deadline() != when  # it fired, and was taken


async def test_a_loop_timer_that_fires_early_is_set_again(server: App) -> None:
    rt = server.runtime
    assert rt is not None
    when = rt.clock() + 0.2
    rt.router.set_timer(when, "reoffer", "no-such-interaction")
    rt.commit()
    assert rt._timer is not None
    rt._timer.cancel()
    rt._on_timer()  # the loop woke early: nothing is due, no timer changed
    assert rt._timer is not None and rt._timer_at == when
    rt.commit()  # nothing changed: the timer stays as it is
    assert rt._timer_at == when
    await asyncio.sleep(0.35)
    assert rt.router.next_deadline() != when


async def test_a_passed_deadline_is_acted_on_at_the_next_command(server: App) -> None:
    """A loaded loop gets to its timers late: a command that comes after a
    deadline has passed fires it then and there, and the loop timer with it."""
    rt = server.runtime
    assert rt is not None
    when = rt.clock() + 0.05
    rt.router.set_timer(when, "reoffer", "no-such-interaction")
    rt.commit()
    loop_timer = rt._timer
    assert loop_timer is not None and rt._timer_at == when
    rt.commit()  # before the deadline: nothing fires
    assert rt.router.next_deadline() == when
    time.sleep(0.1)  # the loop is busy past the deadline: its timer cannot run
    rt.commit()  # the next command
    assert rt.router.next_deadline() != when  # fired, and taken
    assert loop_timer.cancelled() and rt._timer_at != when


async def test_after_a_deadline_fired_at_a_command_the_next_one_has_a_loop_timer(
    server: App, monkeypatch
) -> None:
    """Fired early by a command, the first deadline hands over to the next:
    a live loop timer for it, even when the firing fails (logged, and not
    the command's error)."""
    rt = server.runtime
    assert rt is not None
    first, later = rt.clock() + 0.05, rt.clock() + 30
    rt.router.set_timer(first, "reoffer", "no-such-interaction")
    rt.router.set_timer(later, "reoffer", "no-such-interaction-2")
    rt.commit()
    time.sleep(0.1)
    rt.commit()
    assert rt._timer_at == later and rt._timer is not None and not rt._timer.cancelled()
    soon = rt.clock() + 0.05
    rt.router.set_timer(soon, "reoffer", "no-such-interaction-3")
    rt.commit()
    assert rt._timer_at == soon

    def broken() -> None:
        raise RuntimeError("a handler failed")

    monkeypatch.setattr(rt.router, "advance", broken)
    time.sleep(0.1)
    rt.commit()  # does not raise
    assert rt._timer is not None and not rt._timer.cancelled()  # timers go on
    assert rt._timer_at == soon  # still due: advance never took it


class WriteSpy:
    """A connection's transport that records each write and passes it on."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


async def test_an_offer_and_the_agents_new_state_share_one_write(
    server: App, agent, bot, encoding: str
) -> None:
    """The offer and the agent's change to "offered" go out together, in one
    socket write, without waiting for the commit; the rest of the command's
    pushes to the agent come after it."""
    a = await agent("alice", ready=True)
    b = await bot()
    rt = server.runtime
    assert rt is not None
    session = rt.sessions[("agent", "alice")]
    conn = session.conn
    assert conn is not None
    spy = WriteSpy(conn.transport)
    conn.transport = spy
    try:
        created = await b.request(StartChat(id=0, queue="sales"))
        offer = await a.next_push("offer")
        assert offer.interaction.id == created.interaction.id
    finally:
        conn.transport = spy.transport
    codec = JSON if encoding == "json" else MSGPACK
    first = [codec.decode_server(p) for _, _, p in parse_frames(bytearray(spy.writes[0]))]
    assert [type(f) for f in first] == [Offered, AgentChanged]
    assert first[1].agent.state == "offered"
    assert not rt._corked and session._corked is None  # nothing left gathering
