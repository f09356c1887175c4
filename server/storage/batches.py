"""Batches of changes as few statements: what the writer (thread or process)
runs inside each transaction. Only the standard library: the writer process
imports this and nothing heavier."""

from __future__ import annotations

import dataclasses
import functools
import re
import sqlite3
from dataclasses import dataclass
from typing import Any

#: A change to write: (SQL statement, parameters).
Change = tuple[str, tuple[Any, ...]]


@dataclass(frozen=True)
class WriterConfig:
    """What a writer (thread or process) needs to open and write the database."""

    path: str
    #: Per-connection settings, run on the writer's own connection.
    pragmas: tuple[str, ...] = ()
    #: Longest run of one statement (see :func:`plan`).
    max_batch: int = 20_000
    #: Statements that save a whole row keyed by their first parameter.
    snapshots: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "snapshots": sorted(self.snapshots)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WriterConfig:
        return cls(
            path=data["path"],
            pragmas=tuple(data["pragmas"]),
            max_batch=int(data["max_batch"]),
            snapshots=frozenset(data["snapshots"]),
        )


#: The row of an ``INSERT ... VALUES (?, ...)`` statement, at its very end.
_VALUES = re.compile(r"\bVALUES\s*(\((?:\s*\?\s*,)*\s*\?\s*\))\s*$", re.IGNORECASE)


def write_rows(conn: sqlite3.Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """Rows of one statement, in order.

    A plain ``INSERT ... VALUES (?, ...)`` goes as multi-row INSERTs of up to
    256 rows (sizes are powers of two, so few statements get prepared):
    ``executemany`` releases and retakes the GIL for every row, and each
    retake may wait out the busy event loop thread's switch interval (5 ms).
    Measured here, 500 message rows: 6 ms with an idle loop, 0.7 s with a
    busy one; as multi-row INSERTs, 24 ms.
    """
    m = _VALUES.search(sql)
    if m is None:
        conn.executemany(sql, rows)
        return
    group = "," + m.group(1)
    limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    most = max(1, min(256, limit // m.group(1).count("?")))
    i = 0
    while i < len(rows):
        k = 1 << (min(most, len(rows) - i).bit_length() - 1)
        conn.execute(sql + group * (k - 1), [p for row in rows[i : i + k] for p in row])
        i += k


#: The table a statement writes to.
_TABLE = re.compile(
    r"^\s*(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)\s+(\w+)",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=1024)  # a regex per row was 3 % of the writer process
def table_of(sql: str) -> str | None:
    m = _TABLE.match(sql)
    return m.group(1).lower() if m else None


def plan(
    changes: list[Change],
    movable: frozenset[str],
    max_run: int,
    snapshots: frozenset[str] = frozenset(),
) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """The batch as runs of one statement each, in an order with the same result.

    Routing interleaves statements (an interaction, a message, an agent's
    status, the interaction again...). Statement by statement, each run would
    be one or two rows, one ``execute`` each, and every ``execute`` releases
    and retakes the GIL, which a busy event loop holds for up to 5 ms. So a
    change joins the latest run of its own statement when nothing written to
    its table since then used another statement. That moves writes to one
    table past writes to *other* tables only, which changes nothing for
    tables without foreign keys or triggers: ``movable`` (the writer works
    them out from the schema). Order within a table is kept.

    ``snapshots`` are statements that set a whole row from their parameters
    alone, keyed by the first (an interaction's record). A chat is saved as
    created, offered and accepted within milliseconds, usually in one batch,
    and on a table with six indexes each save costs. A later snapshot of the
    same row takes the place of the earlier one in the batch, when no other
    statement wrote to that table in between: the row ends as it would have,
    it exists from the same point on (rows referring to it still find it),
    and no reader sees inside a transaction.
    """
    runs: list[tuple[str, list[tuple[Any, ...]]]] = []
    latest: dict[str, tuple[str, list[tuple[Any, ...]]]] = {}
    # Writes to each table by statements other than snapshots, counted so that
    # a snapshot replaces an earlier one only with none of them in between.
    others: dict[str | None, int] = {}
    placed: dict[tuple[str, Any], tuple[list[tuple[Any, ...]], int, int]] = {}
    # The run the previous change joined, when it was not a snapshot: a change
    # of the same statement right after it joins it too, as the full rules
    # would decide (same table, nothing in between), without working it out
    # again. Message rows arrive like that, hundreds per batch.
    prev_sql: str | None = None
    prev_rows: list[tuple[Any, ...]] = []
    for sql, params in changes:
        if sql == prev_sql and len(prev_rows) < max_run:
            prev_rows.append(params)
            continue
        table = table_of(sql)
        snapshot = sql in snapshots
        if snapshot:
            earlier = placed.get((sql, params[0]))
            if earlier is not None and earlier[2] == others.get(table, 0):
                earlier[0][earlier[1]] = params
                continue
        else:
            others[table] = others.get(table, 0) + 1
        if table is not None and table in movable:
            run = latest.get(table)
            if run is None or run[0] != sql or len(run[1]) >= max_run:
                run = (sql, [])
                latest[table] = run
                runs.append(run)
        elif runs and runs[-1][0] == sql and len(runs[-1][1]) < max_run:
            run = runs[-1]
        else:
            run = (sql, [])
            runs.append(run)
        run[1].append(params)
        if snapshot:
            placed[(sql, params[0])] = (run[1], len(run[1]) - 1, others.get(table, 0))
            prev_sql = None
        else:
            prev_sql, prev_rows = sql, run[1]
    return runs


def bind_none_cheaply() -> None:
    """Bind ``None`` through a registered adapter (process-wide).

    The sqlite3 module binds int, float, str and bytes directly; anything
    else, ``None`` included, goes through its adaptation protocol, which looks
    up ``__adapt__`` and ``__conform__`` and fails both. A message row has two
    ``None`` and an interaction many; with an adapter registered the lookup
    ends at once. Measured: 13.6-13.8 against 11.1-12.3 us per message row.
    """
    sqlite3.register_adapter(type(None), _none)


def _none(value: None) -> None:
    return None


def movable_tables(conn: sqlite3.Connection) -> frozenset[str]:
    """Tables with no foreign key either way and no trigger: their writes may
    move past writes to other tables within a transaction."""
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    pinned = {
        t for (t,) in conn.execute("SELECT tbl_name FROM sqlite_master WHERE type = 'trigger'")
    }
    for t in tables:
        refs = {r[2] for r in conn.execute(f"PRAGMA foreign_key_list({t!r})")}
        if refs:
            pinned |= refs | {t}
    return frozenset(t.lower() for t in tables if t not in pinned)


def write_batch(
    conn: sqlite3.Connection,
    changes: list[Change],
    movable: frozenset[str],
    max_run: int,
    snapshots: frozenset[str],
    multi_row: bool,
) -> None:
    """BEGIN, the changes (as runs of one statement, see :func:`plan`), COMMIT.

    ``multi_row`` writes runs of plain INSERTs as multi-row INSERTs
    (:func:`write_rows`), for a writer thread that shares the GIL with the
    event loop. A process of its own has nobody to wait for, and there
    ``executemany`` costs half as much: 150-row transactions of messages,
    6.3-8.0 us a row against 11.7-14.0 as multi-row INSERTs.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql, rows in plan(changes, movable, max_run, snapshots):
            if len(rows) == 1:
                conn.execute(sql, rows[0])
            elif multi_row:
                write_rows(conn, sql, rows)
            else:
                conn.executemany(sql, rows)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
