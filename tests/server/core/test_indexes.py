"""The per-queue heaps: waiting lines and agent pools with lazy deletion."""

from __future__ import annotations

from protocol.config import AgentConfig, QueueConfig
from server.core.indexes import AgentPool, WaitingLine
from server.core.model import Agent, Interaction, eligible, skill_score


def ix(n: int, priority: int = 0, band: int = 1) -> Interaction:
    return Interaction(
        id=f"i{n}",
        channel="chat",
        queue="q",
        owner="bot",
        created_at=0.0,
        enqueued_at=0.0,
        priority=priority,
        band=band,
        order=n,
    )


def agent(name: str, idle_since: float, order: int = 0) -> Agent:
    a = Agent(
        cfg=AgentConfig(username=name, inboxes=["q"]),
        order=order,
        since=0.0,
        idle_since=idle_since,
        status="ready",
        connected=True,
    )
    return a


def test_line_orders_by_priority_band_then_arrival() -> None:
    """best() is the highest priority, then band 0 before band 1, then the earliest."""
    line = WaitingLine("q")
    a, b, c, d = ix(1), ix(2, priority=5), ix(3, band=0), ix(4, priority=5)
    for x in (a, b, c, d):
        line.add(x)
    assert line.best() is b
    line.discard(b)
    assert line.best() is d
    line.discard(d)
    assert line.best() is c
    line.discard(c)
    assert line.best() is a
    assert len(line) == 1


def test_line_skip_leaves_skipped_entries_in_place() -> None:
    """Skipped interactions are not removed: the next best() sees them again."""
    line = WaitingLine("q")
    a, b = ix(1), ix(2)
    line.add(a)
    line.add(b)
    assert line.best(lambda i: i is a) is b
    assert line.best() is a
    assert line.best(lambda i: True) is None
    assert len(line) == 2


def test_line_readd_after_discard_is_live_once() -> None:
    """A discarded and re-added interaction appears once, at its key."""
    line = WaitingLine("q")
    a, b = ix(1), ix(2)
    line.add(a)
    line.add(b)
    line.discard(a)
    line.add(a)
    assert line.best() is a
    line.discard(a)
    assert line.best() is b
    assert [m.id for m in line.members()] == ["i2"]


def test_line_compacts_stale_entries() -> None:
    """Stale heap entries are compacted so the heap stays proportional to the line."""
    line = WaitingLine("q")
    keep = ix(0)
    line.add(keep)
    for n in range(1, 500):
        x = ix(n)
        line.add(x)
        line.discard(x)
    assert len(line._heap) <= 2 * len(line) + 65
    assert line.best() is keep


def test_pool_takes_in_key_order_and_drops_stale_agents() -> None:
    """take() pops the smallest key, skipping agents whose version moved on or who are busy."""
    pool = AgentPool("q", lambda a: (a.idle_since,))
    a, b, c = agent("a", 30.0, 0), agent("b", 10.0, 1), agent("c", 20.0, 2)
    members = [a, b, c]
    for x in members:
        pool.add(x, lambda: members)
    b.version += 1  # b's entry is stale
    c.state = "busy"
    assert pool.take() is a
    assert pool.take() is None


def test_pool_skip_keeps_agents() -> None:
    """Agents skipped by take() stay in the pool for the next take()."""
    pool = AgentPool("q", lambda a: (a.idle_since,))
    a, b = agent("a", 1.0, 0), agent("b", 2.0, 1)
    for x in (a, b):
        pool.add(x, lambda: [a, b])
    assert pool.take(lambda x: x is a) is b
    assert pool.take() is a


def test_pool_rebuild_keeps_only_available() -> None:
    """rebuild() indexes only available agents with their current version."""
    pool = AgentPool("q", lambda a: (a.idle_since,))
    a, b = agent("a", 1.0, 0), agent("b", 2.0, 1)
    b.connected = False
    pool.rebuild([a, b])
    assert len(pool) == 1
    assert pool.take() is a


def test_eligible_needs_inbox_channel_and_every_skill() -> None:
    """eligible() requires membership, the channel and each skill at its minimum level."""
    q = QueueConfig(id="q", channel="call", skills={"en": 3, "sales": 1})
    ok = AgentConfig(username="a", skills={"en": 3, "sales": 1}, inboxes=["q"])
    assert eligible(ok, q)
    assert not eligible(AgentConfig(username="b", skills={"en": 2, "sales": 5}, inboxes=["q"]), q)
    assert not eligible(AgentConfig(username="c", skills={"en": 5}, inboxes=["q"]), q)
    assert not eligible(AgentConfig(username="d", skills={"en": 5, "sales": 5}), q)
    no_calls = AgentConfig(
        username="e", skills={"en": 5, "sales": 5}, inboxes=["q"], channels=["chat"]
    )
    assert not eligible(no_calls, q)
    assert skill_score(ok, q) == 4
