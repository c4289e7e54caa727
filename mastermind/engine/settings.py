"""Coordinator-wide knobs, in one place (the daemon reads them from its config)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Settings:
    """Coordinator-wide knobs (the daemon reads them from its config)."""

    cancel_grace: float = 5.0  # seconds cancelled steps get to clean up
    step_timeout: float | None = None  # default attempt timeout when a step sets none
    agent_limits: dict[str, int] = field(default_factory=dict)
    pools: dict[str, int] = field(default_factory=dict)
    default_pool_size: int = 4
    process_pool_size: int | None = None  # workers for CPU steps; default: the number of cores
    decision_timeout: float = 7 * 86400.0  # how long an `unknown` step waits for retry/skip
    max_items: int = 100_000  # most items one for_each may fan out to (memory grows with them)
