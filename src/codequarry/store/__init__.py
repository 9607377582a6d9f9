"""The store: Delta Lake tables, published together as snapshots (see store.store)."""

from codequarry.store.lock import WriterLock
from codequarry.store.store import Snapshot, Store, TableState

__all__ = ["Store", "Snapshot", "TableState", "WriterLock"]
