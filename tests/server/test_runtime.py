"""The runtime's loop timer: set when the router's timers change, and set
again when it fires before anything is due."""

from __future__ import annotations

import asyncio

from server.app import App


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
