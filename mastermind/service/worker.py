"""A daemon's share of scale-out work: claim runs from PostgreSQL and run them through the
coordinator. Their leases are kept by a `LeaseKeeper` the caller runs for as long as it holds
any run (also while it drains, after claiming stopped)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from mastermind.engine.coordinator import Coordinator
from mastermind.errors import MastermindError
from mastermind.store.postgres import PostgresStore

log = logging.getLogger(__name__)


class Worker:
    """Claims up to `capacity` runs at a time and runs them."""

    def __init__(
        self,
        coordinator: Coordinator,
        store: PostgresStore,
        *,
        capacity: int = 100,
        poll_seconds: float = 1.0,
    ) -> None:
        self.coordinator = coordinator
        self.store = store
        self.capacity = capacity
        self.poll_seconds = poll_seconds
        self._room = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Claim work until `stop` is set (the caller drains the runs)."""
        while not stop.is_set():
            free = self.capacity - len(self.coordinator.active_runs)
            claimed: list[str] = []
            if free > 0:
                try:
                    claimed = await self.store.claim(free)
                except Exception as exc:  # database trouble: keep the daemon up, try again
                    log.warning("claiming work failed: %s", exc)
            for run_id in claimed:
                try:
                    await self.coordinator.resume(run_id)
                except MastermindError as exc:
                    log.error("cannot run %s: %s", run_id, exc)
                    self.store.forget(run_id)
                except Exception:  # e.g. the database went away mid-resume: its lease expires
                    log.exception("could not start claimed run %s", run_id)
                    self.store.forget(run_id)
            if claimed and len(claimed) == free:
                continue  # there may be more waiting
            self.store.work_arrived.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    waiters = [
                        asyncio.ensure_future(self.store.work_arrived.wait()),
                        asyncio.ensure_future(stop.wait()),
                    ]
                    try:
                        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        for waiter in waiters:
                            waiter.cancel()
