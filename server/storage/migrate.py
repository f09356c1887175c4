"""Numbered schema migrations, applied in order, tracked by ``user_version``.

A migration is ``NNNN_name.sql`` in ``migrations/``; it runs in one
transaction together with the version bump, so a crash mid-way leaves the
database at the previous version.
"""

from __future__ import annotations

import re
from pathlib import Path

import aiosqlite

MIGRATIONS = Path(__file__).with_name("migrations")
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, Path]]:
    """All migrations shipped, by number; numbers must be 1, 2, 3... without gaps."""
    found = sorted((int(m.group(1)), p) for p in MIGRATIONS.iterdir() if (m := _NAME.match(p.name)))
    numbers = [n for n, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {numbers}")
    return found


async def migrate(db: aiosqlite.Connection) -> int:
    """Bring ``db`` to the newest schema; returns the resulting version."""
    async with db.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    current = int(row[0]) if row else 0
    available = migrations()
    if current > len(available):
        raise RuntimeError(
            f"database schema {current} is newer than this server ({len(available)})"
        )
    for number, path in available[current:]:
        script = path.read_text(encoding="utf-8")
        # executescript commits first; wrap the script and the bump in one transaction.
        await db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
    return len(available)
