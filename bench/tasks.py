"""The task bodies every system in `python -m bench e2e` and `python -m bench peers` runs.

One definition, imported by mastermind's workflows (`bench.tasks:noop`), by the raw asyncio
baselines and by each peer's task wrappers, so every system runs the same code.
"""

from __future__ import annotations

import asyncio

W1_ITEMS = 2_000  # W1: fan-out of a no-op function
W2_STEPS = 200  # W2: a chain, each step reading the previous step's output
W3_ITEMS = 2_000  # W3: fan-out of `await asyncio.sleep(0.1)`
W3_SLEEP = 0.1
W4_ITEMS = 200  # W4: fan-out of a CPU-bound function to worker processes
W4_SIZE = 40_000  # burn(W4_SIZE) is a few milliseconds of pure Python


def noop() -> None:
    """W1: nothing at all."""
    return None


def inc(value: int) -> int:
    """W2: the previous step's output, plus one."""
    return value + 1


async def nap(seconds: float = W3_SLEEP) -> None:
    """W3: I/O-shaped waiting."""
    await asyncio.sleep(seconds)


def burn(size: int = W4_SIZE) -> int:
    """W4: pure-Python CPU work (a sum of squares), a few milliseconds."""
    return sum(i * i for i in range(size))
