"""A daemon's share of scale-out work: claim runs from PostgreSQL, keep their leases alive,
run them through the coordinator, and let go of what it can no longer hold."""

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
        """Work until `stop` is set; then stop claiming (the caller drains the runs)."""
        async with asyncio.TaskGroup() as group:
            heartbeat = group.create_task(self._heartbeat(stop))
            await self._claim_loop(stop)
            heartbeat.cancel()

    async def _claim_loop(self, stop: asyncio.Event) -> None:
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

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        """Renew leases every third of the lease; give up runs before their lease can expire."""
        interval = self.store.lease_seconds / 3
        loop = asyncio.get_running_loop()
        last_success = loop.time()
        while True:
            await asyncio.sleep(interval)
            try:
                async with asyncio.timeout(interval):
                    lost = await self.store.renew()
                last_success = loop.time()
            except Exception as exc:  # the database is unreachable: keep trying, for a while
                log.warning("renewing leases failed: %s", exc)
                if loop.time() - last_success > self.store.lease_seconds - interval:
                    lost = set(self.store.epochs)  # we cannot prove ownership any more
                else:
                    continue
            for run_id in lost:
                log.warning("lost the lease of run %s; stopping it here", run_id)
                self.coordinator.abandon(run_id)
                self.store.forget(run_id)
