"""The writer process: batches over a pipe to a child with its own SQLite
connection. Real child processes and real database files throughout."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from server.storage import StorageFailed, Store, change_for
from server.storage.batches import WriterConfig
from server.storage.writer_process import ProcessWriter


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def status(name: str) -> tuple[str, tuple[Any, ...]]:
    return change_for("agent_status", (name, "ready", ""))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "w.db", writer="process")
    try:
        yield s
    finally:
        await s.close()


def child(store: Store) -> Any:
    writer = store.writer
    assert isinstance(writer, ProcessWriter) and writer._proc is not None
    return writer._proc


async def test_a_batch_larger_than_the_pipe_arrives_whole(store: Store, tmp_path: Path) -> None:
    """Megabytes in one batch: the pipe takes them in pieces, one transaction commits them."""
    text = "x" * 1000
    changes = [change_for("agent_status", (f"agent{i}", "not_ready", text)) for i in range(5000)]
    await asyncio.wait_for(store.writer.submit(changes), 30)
    assert rows(tmp_path / "w.db", "SELECT count(*), min(length(reason)) FROM agent_status") == [
        (5000, 1000)
    ]


async def test_values_sqlite_cannot_take_fail_the_batch(store: Store) -> None:
    """A parameter no database type fits fails its batch as the thread's bind would."""
    future = store.writer.submit([("INSERT INTO agent_status VALUES (?, ?, ?)", (object(),))])
    with pytest.raises(StorageFailed):
        await future
    assert store.writer.failed is not None
    with pytest.raises(StorageFailed):
        store.writer.submit([status("later")])


async def test_a_killed_child_fails_what_waits(store: Store) -> None:
    """If the child dies, nothing waiting is resolved as committed: storage has failed."""
    await store.writer.submit([status("before")])
    os.kill(child(store).pid, signal.SIGKILL)
    child(store).wait()
    with pytest.raises(StorageFailed):  # refused at once, or failed once the pipe breaks
        await asyncio.wait_for(store.writer.submit([status("after")]), 5)
    assert store.writer.failed is not None


async def test_the_child_ignores_the_terminals_signals(store: Store, tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group: the child stays for the parent's shutdown."""
    os.kill(child(store).pid, signal.SIGINT)
    os.kill(child(store).pid, signal.SIGTERM)
    await asyncio.sleep(0.2)
    await asyncio.wait_for(store.writer.submit([status("still")]), 5)
    assert rows(tmp_path / "w.db", "SELECT username FROM agent_status") == [("still",)]


async def test_sent_batches_are_committed_if_the_parent_dies(tmp_path: Path) -> None:
    """The parent's end of the pipe closes (as when it is killed): what arrived
    whole is committed and the child exits by itself."""
    path = tmp_path / "w.db"
    store = await Store.open(path, writer="process")
    writer = store.writer
    assert isinstance(writer, ProcessWriter)
    proc = child(store)
    writer.submit([status(f"a{i}") for i in range(100)])
    writer._send()  # on the pipe now, not yet committed (as far as the parent knows)
    os.close(writer._wfd)
    writer._wfd = -1
    await asyncio.wait_for(asyncio.to_thread(proc.wait), 10)
    assert proc.returncode == 0
    assert rows(path, "SELECT count(*) FROM agent_status") == [(100,)]
    writer._proc = None  # already gone
    await store.db.close()


async def test_a_database_the_child_cannot_open_fails_at_start(tmp_path: Path) -> None:
    writer = ProcessWriter(WriterConfig(str(tmp_path / "missing" / "dir" / "w.db")))
    writer.start()
    with pytest.raises(StorageFailed, match="did not start"):
        await writer.ready(timeout=10)
    await writer.close()


async def test_a_batch_goes_out_at_a_poll_once_it_has_waited(store: Store, tmp_path: Path) -> None:
    """A batch is sent at the end of the loop's iteration; during a long one
    (thousands of socket events), the runtime's poll after a command sends it
    once it has waited 10 ms, and it is committed while the iteration goes on."""
    import time

    writer = store.writer
    assert isinstance(writer, ProcessWriter)
    done = writer.submit([status("ann")])
    writer.poll()  # just submitted: it waits for the iteration's end
    assert writer.queued == 1
    time.sleep(0.011)  # the iteration goes on, without yielding to the loop
    writer.poll()
    assert writer.queued == 0  # sent to the child
    deadline = time.monotonic() + 5
    while not done.done() and time.monotonic() < deadline:
        time.sleep(0.001)
        writer.poll()  # what the runtime does after each command
    assert done.done()  # committed, the loop never having turned
    assert rows(tmp_path / "w.db", "SELECT username FROM agent_status") == [("ann",)]
