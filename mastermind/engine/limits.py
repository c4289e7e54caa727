"""Concurrency limits shared by every run in a process, fair across runs.

A plain semaphore wakes waiters first-come-first-served, so one run with 10,000 queued items
would hold a pool until all of them were done. FairLimiter keeps one queue per run and hands a
freed slot to the next run in round-robin order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, deque


class FairLimiter:
    """At most `capacity` holders at once; freed slots go round-robin across keys (runs)."""

    def __init__(self, name: str, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"limit {name!r} must be at least 1, found {capacity}")
        self.name = name
        self.capacity = capacity
        self.in_use = 0
        self.peak = 0
        self._waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()

    async def acquire(self, key: str) -> None:
        """Wait for a slot; cancellation while waiting gives nothing up."""
        if self.in_use < self.capacity and not self._waiting:
            self._take()
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, deque()).append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the slot was handed to us just as we were cancelled
            else:
                self._forget(key, future)
            raise

    def _take(self) -> None:
        self.in_use += 1
        if self.in_use > self.peak:
            self.peak = self.in_use

    def _forget(self, key: str, future: asyncio.Future[None]) -> None:
        queue = self._waiting.get(key)
        if queue is not None:
            with contextlib.suppress(ValueError):
                queue.remove(future)
            if not queue:
                del self._waiting[key]

    def release(self) -> None:
        """Give a slot back and wake the next run's first waiter."""
        self.in_use -= 1
        while self._waiting and self.in_use < self.capacity:
            key, queue = next(iter(self._waiting.items()))
            future = queue.popleft()
            if queue:
                self._waiting.move_to_end(key)  # round robin: this run goes to the back
            else:
                del self._waiting[key]
            if not future.done():
                self._take()
                future.set_result(None)


class Limits:
    """The process-wide limits: per agent kind and per named pool.

    A pool a workflow names but the configuration does not is created on first use with
    `default_pool_size` slots, so a workflow runs locally without a daemon config.
    """

    def __init__(
        self,
        agents: dict[str, int] | None = None,
        pools: dict[str, int] | None = None,
        default_pool_size: int = 4,
    ) -> None:
        self.agents = {name: FairLimiter(f"agent:{name}", n) for name, n in (agents or {}).items()}
        self.pools = {name: FairLimiter(f"pool:{name}", n) for name, n in (pools or {}).items()}
        self.default_pool_size = default_pool_size

    def for_step(self, agent: str, pool: str | None) -> tuple[FairLimiter, ...]:
        """The limiters a step must hold, in a fixed order (agent, then pool) to avoid deadlock."""
        found = []
        if agent in self.agents:
            found.append(self.agents[agent])
        if pool is not None:
            limiter = self.pools.get(pool)
            if limiter is None:
                limiter = self.pools[pool] = FairLimiter(f"pool:{pool}", self.default_pool_size)
            found.append(limiter)
        return tuple(found)
