"""Storage: SQLite in WAL mode, numbered migrations, one batching writer."""

from server.storage.sqlite import Loaded, Store, change_for
from server.storage.writer import BatchWriter, StorageFailed

__all__ = ["BatchWriter", "Loaded", "StorageFailed", "Store", "change_for"]
