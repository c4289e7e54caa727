"""The event loop mastermind runs on: uvloop where it is installed."""

from __future__ import annotations

import asyncio
from typing import Any


def run_with_loop(coro: Any) -> Any:
    """Run a coroutine on uvloop (the default loop where uvloop is missing)."""
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported platform
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)
