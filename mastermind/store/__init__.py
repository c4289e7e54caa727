"""Where runs are kept: the interface, an in-memory store, and (later) the durable ones."""

from mastermind.store.base import RunRecord, StepRecord, Store
from mastermind.store.memory import MemoryStore

__all__ = ["MemoryStore", "RunRecord", "StepRecord", "Store"]
