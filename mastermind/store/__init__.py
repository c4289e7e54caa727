"""Where events are kept: the `Store` protocol and the event vocabulary, with the in-memory,
SQLite (embedded default) and PostgreSQL (scale-out) implementations.

`events` defines the typed transitions every layer above speaks; `base` the protocol and the one
fold (`apply_event`) every store uses, so all stores agree on what an event means.
"""

from mastermind.store.base import RunRecord, StepRecord, Store
from mastermind.store.memory import MemoryStore

__all__ = ["MemoryStore", "RunRecord", "StepRecord", "Store"]
