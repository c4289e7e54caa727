"""Keeping PostgreSQL leases alive for every run this process holds (daemon, worker, or
`mastermind run --dsn`), and letting go in time when that fails.

Renewals are sent every third of the lease. The lease a successful renewal set runs until at
least `lease` after the moment it was *sent* (the database stamped it later), so this process
knows a lower bound of its leases without trusting any clock but its own. If no renewal has
succeeded for two thirds of the lease, it stops its runs here (steps cancelled, their processes
killed, nothing written) while a third of the lease is left, before another owner may claim
them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mastermind.engine.coordinator import Coordinator
    from mastermind.store.postgres import PostgresStore

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews the leases of `store.epochs`; abandons runs it can no longer prove it holds."""

    def __init__(self, coordinator: Coordinator, store: PostgresStore) -> None:
        self.coordinator = coordinator
        self.store = store
        self.interval = store.lease_seconds / 3
        self.give_up_after = 2 * self.interval  # a third of the lease is left to stop steps

    async def run(self) -> None:
        """Until cancelled."""
        loop = asyncio.get_running_loop()
        self.store.renewing = True  # from now on a lease not renewed in time stops new steps
        renewed_sent = loop.time()  # when the last successful renewal was sent
        while True:
            deadline = renewed_sent + self.give_up_after
            sent = loop.time()
            if sent >= deadline:
                self._give_up_all()
                renewed_sent = sent  # nothing is held any more; new claims carry fresh leases
                deadline = sent + self.give_up_after
            try:
                async with asyncio.timeout(max(0.01, min(self.interval, deadline - sent))):
                    lost = await self.store.renew()
                renewed_sent = sent
            except Exception as exc:  # the database is unreachable: keep trying, for a while
                log.warning("renewing leases failed: %s", exc or type(exc).__name__)
                lost = set()
            for run_id in lost:
                log.warning("lost the lease of run %s; stopping it here", run_id)
                self._give_up(run_id, "lease lost: another process took the run over")
            deadline = renewed_sent + self.give_up_after
            wake = min(sent + self.interval, deadline)
            await asyncio.sleep(max(0.0, wake - loop.time()))

    def _give_up_all(self) -> None:
        held = list(self.store.epochs)
        if held:
            log.error(
                "no lease renewal for %.1fs: stopping %d run(s) here before their leases can "
                "expire; another process resumes them",
                self.give_up_after,
                len(held),
            )
        for run_id in held:
            self._give_up(run_id, "lease could not be renewed: another process resumes the run")

    def _give_up(self, run_id: str, reason: str) -> None:
        self.coordinator.abandon(run_id, reason)
        self.store.forget(run_id)
