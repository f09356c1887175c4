"""Numbered migrations on real SQLite files: apply, re-apply, refuse, WAL."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

import server.storage.migrate as migrate_module
from server.storage import Store
from server.storage.migrate import migrate, migrations

TABLES = {"queues", "accounts", "passwords", "api_keys", "agent_status", "sessions", "interactions"}


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` read through a separate, plain sqlite3 connection."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute(sql).fetchall()


def user_version(path: Path) -> int:
    return int(query(path, "PRAGMA user_version")[0][0])


def tables(path: Path) -> set[str]:
    return {r[0] for r in query(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[aiosqlite.Connection]:
    conn = await aiosqlite.connect(str(tmp_path / "m.db"), isolation_level=None)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def fake_migrations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir()
    monkeypatch.setattr(migrate_module, "MIGRATIONS", folder)
    return folder


async def test_migrations_apply_to_an_empty_file(db: aiosqlite.Connection, tmp_path: Path) -> None:
    """An empty file gets every table and its user_version becomes the newest number."""
    shipped = migrations()
    assert [n for n, _ in shipped] == list(range(1, len(shipped) + 1))
    assert user_version(tmp_path / "m.db") == 0
    assert await migrate(db) == len(shipped)
    assert user_version(tmp_path / "m.db") == len(shipped)
    assert tables(tmp_path / "m.db") >= TABLES


async def test_migrating_again_is_a_no_op(db: aiosqlite.Connection, tmp_path: Path) -> None:
    """A second migrate changes nothing: no error, same version, rows kept."""
    version = await migrate(db)
    await db.execute("INSERT INTO queues (id, data) VALUES ('q1', '{}')")
    assert await migrate(db) == version
    assert user_version(tmp_path / "m.db") == version
    assert query(tmp_path / "m.db", "SELECT id FROM queues") == [("q1",)]


async def test_a_newer_database_is_refused(db: aiosqlite.Connection, tmp_path: Path) -> None:
    """A database whose user_version is above the newest migration is not touched."""
    newer = len(migrations()) + 1
    await db.execute(f"PRAGMA user_version = {newer}")
    with pytest.raises(RuntimeError, match="newer"):
        await migrate(db)
    assert user_version(tmp_path / "m.db") == newer
    assert tables(tmp_path / "m.db") == set()


async def test_store_refuses_a_newer_database(tmp_path: Path) -> None:
    """Store.open on a database from a newer server fails instead of serving it."""
    path = tmp_path / "newer.db"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA user_version = {len(migrations()) + 5}")
    with pytest.raises(RuntimeError, match="newer"):
        await Store.open(path)


async def test_a_gap_in_numbering_is_refused(
    db: aiosqlite.Connection, fake_migrations: Path, tmp_path: Path
) -> None:
    """Migrations 1 and 3 without 2 are refused before anything is applied."""
    (fake_migrations / "0001_first.sql").write_text("CREATE TABLE one (x INTEGER);")
    (fake_migrations / "0003_third.sql").write_text("CREATE TABLE three (x INTEGER);")
    with pytest.raises(RuntimeError, match="without gaps"):
        migrations()
    with pytest.raises(RuntimeError, match="without gaps"):
        await migrate(db)
    assert user_version(tmp_path / "m.db") == 0
    assert tables(tmp_path / "m.db") == set()


async def test_numbering_must_start_at_one(db: aiosqlite.Connection, fake_migrations: Path) -> None:
    """A first migration numbered 2 is a gap too."""
    (fake_migrations / "0002_second.sql").write_text("CREATE TABLE two (x INTEGER);")
    with pytest.raises(RuntimeError, match="without gaps"):
        await migrate(db)


async def test_new_migrations_apply_in_order_from_the_current_version(
    db: aiosqlite.Connection, fake_migrations: Path, tmp_path: Path
) -> None:
    """A database at version 1 gets only migration 2 when it ships; other files are ignored."""
    (fake_migrations / "0001_first.sql").write_text("CREATE TABLE one (x INTEGER);")
    (fake_migrations / "README.txt").write_text("not a migration")
    assert await migrate(db) == 1
    await db.execute("INSERT INTO one VALUES (7)")
    (fake_migrations / "0002_second.sql").write_text(
        "ALTER TABLE one ADD COLUMN y INTEGER NOT NULL DEFAULT 5;"
    )
    assert await migrate(db) == 2
    assert user_version(tmp_path / "m.db") == 2
    assert query(tmp_path / "m.db", "SELECT x, y FROM one") == [(7, 5)]


async def test_a_failing_migration_leaves_the_previous_version(
    fake_migrations: Path, tmp_path: Path
) -> None:
    """A migration that fails half-way commits none of its statements nor its version."""
    path = tmp_path / "half.db"
    (fake_migrations / "0001_first.sql").write_text("CREATE TABLE one (x INTEGER);")
    (fake_migrations / "0002_broken.sql").write_text(
        "CREATE TABLE two (x INTEGER);\nTHIS IS NOT SQL;"
    )
    conn = await aiosqlite.connect(str(path), isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError):
            await migrate(conn)
    finally:
        await conn.close()
    assert user_version(path) == 1
    assert tables(path) == {"one"}


async def test_store_open_turns_on_wal(tmp_path: Path) -> None:
    """After Store.open the file is in WAL mode, seen by the store and by another connection."""
    path = tmp_path / "wal.db"
    store = await Store.open(path)
    try:
        async with store.db.execute("PRAGMA journal_mode") as cur:
            row = await cur.fetchone()
        assert row is not None and row[0].lower() == "wal"
        async with store.db.execute("PRAGMA foreign_keys") as cur:
            row = await cur.fetchone()
        assert row is not None and row[0] == 1
        assert query(path, "PRAGMA journal_mode")[0][0].lower() == "wal"
        assert user_version(path) == len(migrations())
    finally:
        await store.close()


async def test_store_refuses_unknown_synchronous(tmp_path: Path) -> None:
    """Only FULL, NORMAL and EXTRA are accepted for synchronous (OFF would lose acks)."""
    with pytest.raises(ValueError, match="synchronous"):
        await Store.open(tmp_path / "x.db", synchronous="OFF")


async def test_lean_messages_keep_every_row(
    db: aiosqlite.Connection, tmp_path: Path, fake_migrations: Path
) -> None:
    """Version 6 rebuilds messages with one index: rows written under version 5
    survive, in order, and (interaction, n) stays unique."""
    real = Path(migrate_module.__file__).with_name("migrations")
    for n in range(1, 6):
        src = next(real.glob(f"{n:04d}_*.sql"))
        (fake_migrations / src.name).write_text(src.read_text())
    assert await migrate(db) == 5
    rows = [
        (f"m-{i}", "chat-1", i, "customer", "bot1", f"hello {i} 👋", None, f"c{i}", None, 1.0 + i)
        for i in range(1, 4)
    ]
    await db.executemany("INSERT INTO messages VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    v6 = next(real.glob("0006_*.sql"))
    (fake_migrations / v6.name).write_text(v6.read_text())
    assert await migrate(db) == 6
    path = tmp_path / "m.db"
    assert query(path, "SELECT * FROM messages ORDER BY n") == rows
    indexes = query(
        path, "SELECT name FROM sqlite_master WHERE tbl_name = 'messages' AND type = 'index'"
    )
    assert len(indexes) == 1  # the autoindex of UNIQUE (interaction, n)
    with contextlib.closing(sqlite3.connect(path)) as plain, pytest.raises(sqlite3.IntegrityError):
        plain.execute(
            "INSERT INTO messages VALUES ('m-9','chat-1',2,'agent','a','x',NULL,'c9',NULL,9.0)"
        )
