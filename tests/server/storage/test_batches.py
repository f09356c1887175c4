"""The writer's statement runs: fewer executes, the same database.

A batch is rearranged into runs of one statement (server.storage.batches.plan).
The property test runs random batches both ways on real SQLite files and
compares every table afterwards.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from server.storage.batches import (
    bind_none_cheaply,
    movable_tables,
    plan,
    table_of,
    write_batch,
)

SCHEMA = """
CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);
CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT);
CREATE TABLE parent (id INTEGER PRIMARY KEY, v TEXT);
CREATE TABLE child (id INTEGER PRIMARY KEY, p INTEGER NOT NULL REFERENCES parent (id));
INSERT INTO parent (id, v) VALUES (0, 'old'), (1, 'old');
"""

UPSERT_A = "INSERT OR REPLACE INTO a (id, v) VALUES (?, ?)"
APPEND_A = "UPDATE a SET v = v || ? WHERE id = ?"
UPSERT_B = "INSERT OR REPLACE INTO b (id, v) VALUES (?, ?)"
IGNORE_B = "INSERT OR IGNORE INTO b (id, v) VALUES (?, ?)"
PARENT = "INSERT OR IGNORE INTO parent (id, v) VALUES (?, ?)"
CHILD = "INSERT INTO child (p) VALUES (?)"
SAVE_PARENT = "INSERT OR REPLACE INTO parent (id, v) VALUES (?, ?)"
#: Whole-row saves keyed by id (as an interaction's record is).
SNAPSHOTS = frozenset({UPSERT_A, SAVE_PARENT})

ids = st.integers(0, 4)
text = st.sampled_from(["x", "y", "z", None])
change = st.one_of(
    st.tuples(st.just(UPSERT_A), st.tuples(ids, text)),
    st.tuples(st.just(APPEND_A), st.tuples(text, ids)),
    st.tuples(st.just(UPSERT_B), st.tuples(ids, text)),
    st.tuples(st.just(IGNORE_B), st.tuples(ids, text)),
    st.tuples(st.just(PARENT), st.tuples(st.integers(5, 9), text)),  # new parents
    st.tuples(st.just(CHILD), st.tuples(st.integers(0, 1))),  # of a parent already there
    st.tuples(st.just(SAVE_PARENT), st.tuples(st.integers(0, 9), text)),
)


def fresh(path: Path) -> sqlite3.Connection:
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.executescript(SCHEMA)
    return conn


def dump(conn: sqlite3.Connection) -> dict[str, list[Any]]:
    return {
        t: conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall()
        for t in ("a", "b", "parent", "child")
    }


def with_children(changes: list[tuple[str, tuple[Any, ...]]]) -> list[tuple[str, tuple[Any, ...]]]:
    """A child row right after each new parent: it must never run before it."""
    out = []
    for sql, params in changes:
        out.append((sql, params))
        if sql == PARENT:
            out.append((CHILD, (params[0],)))
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(change, max_size=40), st.booleans())
def test_planned_batches_leave_the_same_database(
    tmp_path_factory: Any, batch: list[Any], multi_row: bool
) -> None:
    batch = with_children(batch)
    folder = tmp_path_factory.mktemp("plan")
    with contextlib.closing(fresh(folder / "one.db")) as one:
        for sql, params in batch:  # statement by statement, as submitted
            one.execute(sql, params)
        expected = dump(one)
    with contextlib.closing(fresh(folder / "runs.db")) as runs:
        # As the writer thread (multi-row INSERTs) or process (executemany) does.
        write_batch(runs, batch, movable_tables(runs), 3, SNAPSHOTS, multi_row=multi_row)
        assert dump(runs) == expected


def test_none_binds_as_null_through_the_adapter(tmp_path: Path) -> None:
    bind_none_cheaply()
    assert sqlite3.adapters[(type(None), sqlite3.PrepareProtocol)] is not None
    with contextlib.closing(fresh(tmp_path / "n.db")) as conn:
        write_batch(
            conn,
            [(UPSERT_A, (1, None)), (UPSERT_A, (2, None))],
            frozenset({"a"}),
            10,
            frozenset(),
            False,
        )
        conn.execute(UPSERT_B, (1, None))
        rows = conn.execute("SELECT typeof(v) FROM a UNION ALL SELECT typeof(v) FROM b").fetchall()
        assert rows == [("null",)] * 3
        assert conn.execute("SELECT count(*) FROM a WHERE v IS NULL").fetchone() == (2,)


def test_the_schema_decides_what_may_move(tmp_path: Path) -> None:
    with contextlib.closing(fresh(tmp_path / "s.db")) as conn:
        assert movable_tables(conn) == {"a", "b"}  # parent and child are tied by a key


def test_interleaved_statements_become_one_run_each() -> None:
    batch = [
        (UPSERT_A, (1, "x")),
        (UPSERT_B, (1, "x")),
        (UPSERT_A, (2, "x")),
        (UPSERT_B, (2, "x")),
        (APPEND_A, ("y", 1)),  # another statement on a: later writes to a stay after it
        (UPSERT_A, (1, "z")),
    ]
    runs = plan(batch, frozenset({"a", "b"}), max_run=100)
    assert [(sql, len(rows)) for sql, rows in runs] == [
        (UPSERT_A, 2),
        (UPSERT_B, 2),
        (APPEND_A, 1),
        (UPSERT_A, 1),
    ]
    # Tables that may not move keep their place and only merge when adjacent.
    pinned = plan([(PARENT, (1, "x")), (UPSERT_A, (1, "x")), (PARENT, (2, "x"))], frozenset(), 100)
    assert [len(rows) for _, rows in pinned] == [1, 1, 1]


def test_a_later_snapshot_takes_the_place_of_an_earlier_one() -> None:
    """Saves of one row collapse into the first one's place (with the last
    one's values) unless another statement wrote to that table in between."""
    batch = [
        (SAVE_PARENT, (5, "created")),
        (CHILD, (5,)),  # refers to it: it must exist from the first save on
        (SAVE_PARENT, (6, "other")),
        (SAVE_PARENT, (5, "offered")),
        (SAVE_PARENT, (5, "accepted")),
    ]
    runs = plan(batch, frozenset(), 100, snapshots=SNAPSHOTS)
    assert runs == [
        (SAVE_PARENT, [(5, "accepted")]),
        (CHILD, [(5,)]),
        (SAVE_PARENT, [(6, "other")]),
    ]
    # Another statement on the table in between: both saves stay, in order.
    kept = plan(
        [(UPSERT_A, (1, "x")), (APPEND_A, ("y", 1)), (UPSERT_A, (1, "z"))],
        frozenset({"a"}),
        100,
        snapshots=SNAPSHOTS,
    )
    assert kept == [(UPSERT_A, [(1, "x")]), (APPEND_A, [("y", 1)]), (UPSERT_A, [(1, "z")])]
    # Without snapshots nothing collapses.
    assert sum(len(rows) for _, rows in plan(batch, frozenset(), 100)) == 5


def test_table_of_reads_each_kind_of_statement() -> None:
    assert table_of("INSERT OR REPLACE INTO interactions (id) VALUES (?)") == "interactions"
    assert (
        table_of("INSERT INTO chat_records (x) VALUES (?) ON CONFLICT DO NOTHING") == "chat_records"
    )
    assert table_of("UPDATE calls SET result = ? WHERE interaction = ?") == "calls"
    assert table_of("DELETE FROM templates WHERE id = ?") == "templates"
    assert table_of("PRAGMA user_version") is None
