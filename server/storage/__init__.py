"""Storage: SQLite in WAL mode, numbered migrations, one batching writer.

The names below load on first use (PEP 562): the writer process runs
``server.storage.writer_child`` and must not import aiosqlite and the
protocol just to start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from server.storage.sqlite import Loaded, Store, change_for
    from server.storage.writer import BatchWriter, StorageFailed

_WHERE = {
    "Loaded": "server.storage.sqlite",
    "Store": "server.storage.sqlite",
    "change_for": "server.storage.sqlite",
    "BatchWriter": "server.storage.writer",
    "StorageFailed": "server.storage.writer",
}

__all__ = ["BatchWriter", "Loaded", "StorageFailed", "Store", "change_for"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
