"""The gateway simulator plays calls against a real server like a PBX would."""

from __future__ import annotations

import asyncio

from protocol.calls import GetCall
from protocol.client import Client
from protocol.routing import Accept, AgentChanged, Offered, SetStatus, WrapUpDone
from server.app import App
from server.gateway_sim import SimSettings
from server.gateway_sim import run as run_sim


async def answer_offers(agent: Client, count: int) -> list[str]:
    """Accept ``count`` offers as they come, skipping wrap-up; the interactions taken."""
    taken: list[str] = []
    async with asyncio.timeout(20):
        while len(taken) < count:
            push = await agent.next_push()
            if isinstance(push, Offered):
                await agent.request(Accept(id=0, offer=push.offer))
                taken.append(push.interaction.id)
            elif isinstance(push, AgentChanged) and push.agent.state == "wrap_up":
                await agent.request(WrapUpDone(id=0))
    return taken


async def test_inbound_calls_played_end_to_end(server: App, agent) -> None:
    """Calls arrive, the agent accepts, the simulator answers, talks and hangs up."""
    a = await agent("bob", ready=True)
    url = f"ws://127.0.0.1:{server.port}/ws"
    settings = SimSettings(rate=50, max_calls=3, talk=0.2, seed=3)
    sim = asyncio.ensure_future(run_sim(url, "sbk_demo_gateway", settings))
    taken = await answer_offers(a, 3)
    stats = await asyncio.wait_for(sim, 20)
    assert (stats.calls, stats.answered, stats.hung_up) == (3, 3, 3)
    for ix in taken:
        record = (await a.request(GetCall(id=0, interaction=ix))).record
        assert record.state == "ended" and record.talking is not None and record.talking >= 0
    assert server.runtime is not None and not server.runtime.router.interactions


async def test_callbacks_over_the_cap(server: App) -> None:
    """With nobody ready, two callbacks queue and the others go to the missed flow."""
    url = f"ws://127.0.0.1:{server.port}/ws"
    settings = SimSettings(rate=100, max_calls=4, callbacks=1.0, talk=0.1, seed=5, linger=0.1)
    stats = await asyncio.wait_for(run_sim(url, "sbk_demo_gateway", settings), 20)
    assert stats.callbacks_requested == 4
    assert stats.outcomes["queued"] == 2  # the cap of 2 per queue
    assert sum(stats.outcomes.values()) == 4


async def test_callback_originated_and_connected(server: App, agent) -> None:
    """An accepted callback is originated: agent leg, then the customer, then hang-up."""
    a = await agent("bob", ready=True)
    url = f"ws://127.0.0.1:{server.port}/ws"
    settings = SimSettings(rate=1, max_calls=1, callbacks=1.0, talk=0.1, seed=9)
    sim = asyncio.ensure_future(run_sim(url, "sbk_demo_gateway", settings))
    taken = await answer_offers(a, 1)
    stats = await asyncio.wait_for(sim, 20)
    assert stats.originated == 1 and stats.hung_up == 1
    record = (await a.request(GetCall(id=0, interaction=taken[0]))).record
    assert (record.kind, record.state) == ("callback", "ended")
    steps = [s.step for s in record.steps]
    assert steps.index("answered_by_agent") < steps.index("answered_by_customer")
    await a.request(SetStatus(id=0, status="not_ready", reason="done"))
