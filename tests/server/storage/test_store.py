"""The store contract on real SQLite files: every row kind survives a reopen,
and the batch writer commits in few transactions, acknowledging only after
COMMIT and committing nothing of a failed batch."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from protocol.config import AgentConfig, ApiKeyConfig, QueueConfig
from protocol.views import Customer
from server.core.model import InteractionRecord
from server.storage import Loaded, StorageFailed, Store, change_for
from server.storage.writer import Change


def query(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` read through a second, independent sqlite3 connection."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute(sql, params).fetchall()


class Stores:
    """Opens stores on one file; reopening closes the old one first."""

    def __init__(self, path: Path, writer: str) -> None:
        self.path = path
        self.writer = writer
        self.open_stores: list[Store] = []

    async def open(self) -> Store:
        store = await Store.open(self.path, writer=self.writer)
        self.open_stores.append(store)
        return store

    async def close(self, store: Store) -> None:
        self.open_stores.remove(store)
        await store.close()

    async def reload(self, store: Store, now: float | None = None) -> tuple[Store, Loaded]:
        """Close ``store``, open the file again and load it."""
        await self.close(store)
        fresh = await self.open()
        return fresh, await fresh.load(time.time() if now is None else now)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture(params=["process", "thread"])
async def stores(path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stores]:
    """Stores with each kind of writer: the same guarantees from both."""
    s = Stores(path, request.param)
    yield s
    for store in list(s.open_stores):
        await s.close(store)


async def write(store: Store, *rows: tuple[str, Any]) -> None:
    """Write ``(kind, row)`` pairs through the writer and wait for the commit."""
    await store.writer.submit([change_for(kind, row) for kind, row in rows])


def record(ix_id: str, status: str = "waiting", order: int = 1, **kw: Any) -> InteractionRecord:
    fields: dict[str, Any] = {
        "id": ix_id,
        "channel": "chat",
        "queue": "sales",
        "owner": "webchat",
        "status": status,
        "created_at": 1000.0 + order,
        "enqueued_at": 1000.5 + order,
        "priority": 0,
        "band": 1,
        "order": order,
    }
    fields.update(kw)
    return InteractionRecord(**fields)


def bad_queue_row(queue_id: str) -> Change:
    """A queue row violating ``data NOT NULL``."""
    return ("INSERT INTO queues (id, data) VALUES (?, ?)", (queue_id, None))


# ---------------------------------------------------------------- row kinds


async def test_interactions_round_trip(stores: Stores) -> None:
    """Live interactions, every field included, come back equal after a reopen."""
    store = await stores.open()
    full = record(
        "ix-1",
        status="assigned",
        order=3,
        channel="call",
        queue="calls",
        owner="pbx",
        priority=7,
        band=0,
        customer=Customer(name="Dana Ö", phone="+15550100", email="d@x.test", external_id="tg:9"),
        source="telegram",
        call_id="call-77",
        agent="alice",
        accepted_at=1010.25,
    )
    plain = record("ix-2", order=4)
    await write(store, ("interaction", full), ("interaction", plain))
    _, loaded = await stores.reload(store)
    assert sorted(loaded.interactions, key=lambda r: r.id) == [full, plain]


async def test_interaction_rows_are_replaced(stores: Stores) -> None:
    """Writing an interaction again replaces its row: the last state is loaded."""
    store = await stores.open()
    await write(store, ("interaction", record("ix-1")))
    later = record("ix-1", status="assigned", agent="carol", accepted_at=1020.0)
    await write(store, ("interaction", later))
    _, loaded = await stores.reload(store)
    assert loaded.interactions == [later]


async def test_ended_and_failed_interactions_are_not_loaded(stores: Stores, path: Path) -> None:
    """Ended and failed interactions stay in the file as history but are not restored."""
    store = await stores.open()
    rows = [
        record("waiting", order=1),
        record("assigning", status="assigning", order=2),
        record("assigned", status="assigned", order=3, agent="alice", accepted_at=1.0),
        record("ended", status="ended", order=4, ended_at=2.0, end_reason="ended_by_agent"),
        record("failed", status="failed", order=5, ended_at=3.0, end_reason="max_wait"),
    ]
    await write(store, *(("interaction", r) for r in rows))
    _, loaded = await stores.reload(store)
    assert {r.id for r in loaded.interactions} == {"waiting", "assigning", "assigned"}
    assert query(path, "SELECT count(*) FROM interactions") == [(5,)]


async def test_agent_status_round_trip(stores: Stores) -> None:
    """Each agent's last status and reason is loaded."""
    store = await stores.open()
    await write(
        store,
        ("agent_status", ("alice", "not_ready", "lunch")),
        ("agent_status", ("bob", "ready", "")),
    )
    await write(store, ("agent_status", ("alice", "ready", "")))
    _, loaded = await stores.reload(store)
    assert loaded.statuses == {"alice": ("ready", ""), "bob": ("ready", "")}


async def test_queues_put_update_and_delete(stores: Stores) -> None:
    """Queues are upserted by id and a deleted queue is not loaded."""
    store = await stores.open()
    sales = QueueConfig(id="sales", name="Sales", skills={"sales": 2}, wrap_up=5.0)
    support = QueueConfig(id="support", channel="call", strategy="round_robin", max_wait=30)
    await write(store, ("queue", sales), ("queue", support))
    store, loaded = await stores.reload(store)
    assert sorted(loaded.queues, key=lambda q: q.id) == [sales, support]
    renamed = QueueConfig(id="sales", name="Sales (EU)", priority=4, overflow="support")
    await write(store, ("queue", renamed), ("queue_deleted", "support"))
    _, loaded = await stores.reload(store)
    assert loaded.queues == [renamed]


async def test_accounts_and_passwords(stores: Stores, path: Path) -> None:
    """Accounts load with their password hash; updating an account keeps its password."""
    store = await stores.open()
    alice = AgentConfig(username="alice", display_name="Alice", skills={"sales": 7})
    sam = AgentConfig(username="sam", role="supervisor")
    await write(
        store,
        ("agent", alice),
        ("password", ("alice", "$argon2id$alice")),
        ("agent", sam),
        ("password", ("sam", "$argon2id$sam")),
    )
    store, loaded = await stores.reload(store)
    assert sorted(loaded.accounts, key=lambda a: a[0].username) == [
        (alice, "$argon2id$alice"),
        (sam, "$argon2id$sam"),
    ]
    # An account edit must not drop the password (a REPLACE would cascade).
    alice2 = AgentConfig(username="alice", display_name="Alice B.", inboxes=["sales"])
    await write(store, ("agent", alice2), ("password", ("sam", "$argon2id$sam2")))
    _, loaded = await stores.reload(store)
    assert dict((a.username, (a, h)) for a, h in loaded.accounts) == {
        "alice": (alice2, "$argon2id$alice"),
        "sam": (sam, "$argon2id$sam2"),
    }
    assert query(path, "SELECT count(*) FROM passwords") == [(2,)]


async def test_deleting_an_account_cascades_to_its_password(stores: Stores, path: Path) -> None:
    """A deleted account is not loaded and its password row is gone with it."""
    store = await stores.open()
    bob = AgentConfig(username="bob")
    carol = AgentConfig(username="carol")
    await write(
        store,
        ("agent", bob),
        ("password", ("bob", "$argon2id$bob")),
        ("agent", carol),
        ("password", ("carol", "$argon2id$carol")),
    )
    await write(store, ("agent_deleted", "bob"))
    store, loaded = await stores.reload(store)
    assert loaded.accounts == [(carol, "$argon2id$carol")]
    assert query(path, "SELECT username FROM passwords") == [("carol",)]
    # Re-creating the account does not bring the old password back.
    await write(store, ("agent", bob))
    _, loaded = await stores.reload(store)
    assert dict((a.username, h) for a, h in loaded.accounts) == {
        "bob": "",
        "carol": "$argon2id$carol",
    }


async def test_api_keys_put_replace_and_delete(stores: Stores) -> None:
    """Keys load with their secret hash; a replaced key has its new one, a deleted one is gone."""
    store = await stores.open()
    bot = ApiKeyConfig(id="webchat", role="bot", source="webchat", queues=["sales"])
    pbx = ApiKeyConfig(id="pbx", role="gateway", queues=["calls"])
    await write(store, ("api_key", (bot, "hash-bot")), ("api_key", (pbx, "hash-pbx")))
    store, loaded = await stores.reload(store)
    assert sorted(loaded.api_keys, key=lambda k: k[0].id) == [(pbx, "hash-pbx"), (bot, "hash-bot")]
    bot2 = ApiKeyConfig(id="webchat", role="bot", name="Web", queues=["sales", "vip"])
    await write(store, ("api_key", (bot2, "hash-bot-2")), ("api_key_deleted", "pbx"))
    _, loaded = await stores.reload(store)
    assert loaded.api_keys == [(bot2, "hash-bot-2")]


async def test_sessions_load_and_expired_ones_are_dropped(stores: Stores, path: Path) -> None:
    """Live sessions are loaded; expired ones are left out and deleted from the file."""
    store = await stores.open()
    now = 50_000.0
    await write(
        store,
        ("session", ("h-live", "alice", now - 100, now + 3600)),
        ("session", ("h-expired", "bob", now - 7200, now - 1)),
        ("session", ("h-edge", "carol", now - 60, now)),  # expires exactly now
    )
    store, loaded = await stores.reload(store, now=now)
    assert loaded.sessions == [("h-live", "alice", now + 3600)]
    await stores.close(store)
    assert query(path, "SELECT token_hash FROM sessions") == [("h-live",)]


async def test_an_empty_file_loads_nothing(stores: Stores) -> None:
    """A fresh database loads as an empty Loaded."""
    store = await stores.open()
    assert await store.load(time.time()) == Loaded()


async def test_changes_apply_in_submission_order(stores: Stores) -> None:
    """Runs of different statements in one batch keep their order (create, delete, create)."""
    store = await stores.open()
    dave = AgentConfig(username="dave")
    await write(
        store,
        ("agent", dave),
        ("password", ("dave", "$argon2id$old")),
        ("agent_deleted", "dave"),
        ("agent", dave),
        ("queue", QueueConfig(id="q")),
        ("queue_deleted", "q"),
    )
    _, loaded = await stores.reload(store)
    assert loaded.accounts == [(dave, "")]
    assert loaded.queues == []


async def test_unknown_kind_is_refused() -> None:
    """change_for names every kind it knows and refuses others."""
    with pytest.raises(ValueError, match="unknown row kind"):
        change_for("nonsense", ())


# ------------------------------------------------------------- the writer


async def test_submits_in_one_loop_iteration_share_one_transaction(
    stores: Stores, path: Path
) -> None:
    """Many submits made without yielding become one batch and one future."""
    store = await stores.open()
    writer = store.writer
    batches, rows = writer.batches, writer.rows
    futures = [
        writer.submit([change_for("agent_status", (f"agent{i}", "ready", ""))]) for i in range(300)
    ]
    assert len({id(f) for f in futures}) == 1
    await asyncio.gather(*futures)
    assert writer.batches == batches + 1
    assert writer.rows == rows + 300
    assert query(path, "SELECT count(*) FROM agent_status") == [(300,)]


async def test_changes_during_a_commit_gather_for_the_next_one(stores: Stores) -> None:
    """What is submitted while a commit is in flight goes into one following batch."""
    store = await stores.open()
    writer = store.writer
    batches = writer.batches
    first = writer.submit([change_for("agent_status", ("a", "ready", ""))])
    async with asyncio.timeout(5):
        while writer.queued:  # the writer thread takes the first batch and starts committing
            await asyncio.sleep(0.001)
    later = [writer.submit([change_for("agent_status", (f"b{i}", "ready", ""))]) for i in range(50)]
    assert all(f is later[0] for f in later) and later[0] is not first
    await asyncio.gather(first, *later)
    assert writer.batches == batches + 2
    assert writer.idle


async def test_futures_resolve_only_after_commit(stores: Stores, path: Path) -> None:
    """When a submit's future is done, another connection already sees its rows."""
    store = await stores.open()
    seen_at_resolution: list[list[tuple[Any, ...]]] = []
    future = store.writer.submit([change_for("agent_status", ("alice", "ready", ""))])
    future.add_done_callback(
        lambda _: seen_at_resolution.append(query(path, "SELECT username FROM agent_status"))
    )
    assert not future.done()
    assert query(path, "SELECT username FROM agent_status") == []
    await future
    assert seen_at_resolution == [[("alice",)]]


async def test_on_commit_runs_after_each_batch(stores: Stores) -> None:
    """The writer calls on_commit once per committed batch (the runtime releases frames there)."""
    store = await stores.open()
    calls: list[int] = []
    store.writer.on_commit = lambda: calls.append(store.writer.batches)
    before = store.writer.batches
    await store.writer.submit([change_for("agent_status", ("a", "ready", ""))])
    await store.writer.submit([change_for("agent_status", ("b", "ready", ""))])
    assert calls == [before + 1, before + 2]


async def test_a_failing_batch_commits_nothing(stores: Stores, path: Path) -> None:
    """A batch with one bad row fails as a whole: future and writer.failed are set, no row lands."""
    store = await stores.open()
    await write(store, ("queue", QueueConfig(id="before")))
    commits: list[bool] = []
    store.writer.on_commit = lambda: commits.append(store.writer.failed is not None)
    future = store.writer.submit([change_for("queue", QueueConfig(id="good"))])
    also = store.writer.submit([change_for("agent_status", ("alice", "ready", ""))])
    same = store.writer.submit([bad_queue_row("bad")])
    assert future is also is same
    with pytest.raises(StorageFailed):
        await future
    assert isinstance(store.writer.failed, StorageFailed)
    assert future.exception() is store.writer.failed
    assert commits == [True]  # the runtime hears of the failure through on_commit
    assert query(path, "SELECT id FROM queues") == [("before",)]
    assert query(path, "SELECT count(*) FROM agent_status") == [(0,)]
    assert not store.db.in_transaction
    # A failed writer takes nothing more: nothing could ever be acknowledged.
    with pytest.raises(StorageFailed):
        store.writer.submit([change_for("queue", QueueConfig(id="after"))])
    async with asyncio.timeout(5):
        await stores.close(store)
    assert query(path, "SELECT id FROM queues") == [("before",)]


async def test_close_commits_what_is_queued(stores: Stores, path: Path) -> None:
    """Closing right after a submit commits it and returns, without waiting forever."""
    store = await stores.open()
    await asyncio.sleep(0)  # the writer task is up and waiting for work
    future = store.writer.submit([change_for("queue", QueueConfig(id="last"))])
    async with asyncio.timeout(5):
        await stores.close(store)
    assert future.done() and future.exception() is None
    assert query(path, "SELECT id FROM queues") == [("last",)]


async def test_submit_after_close_is_refused(stores: Stores) -> None:
    """A closed writer refuses new changes instead of dropping them silently."""
    store = await stores.open()
    await stores.close(store)
    with pytest.raises(StorageFailed):
        store.writer.submit([change_for("queue", QueueConfig(id="late"))])
