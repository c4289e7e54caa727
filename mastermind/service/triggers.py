"""Triggers: cron schedules (croniter, UTC) and signed webhooks.

Missed fires (the daemon was down, or busy past a fire time): at most one catch-up run, started
at once, then the schedule continues; never a burst of one run per missed fire. A fire's run id
is derived from the workflow, the trigger and the fire time, so two daemons sharing PostgreSQL
that both fire the same schedule start it once (the second insert is refused).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from croniter import croniter

from mastermind.errors import MastermindError

if TYPE_CHECKING:
    from mastermind.engine.coordinator import Coordinator
    from mastermind.language.loader import Definition

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Mastermind-Signature"


@dataclass(frozen=True, slots=True)
class CronEntry:
    workflow: str
    index: int
    schedule: str
    inputs: dict[str, Any]

    @property
    def key(self) -> str:
        return f"cron:{self.workflow}:{self.index}"

    def next_after(self, moment: float) -> float:
        """The first fire time strictly after `moment` (seconds since the epoch, UTC)."""
        start = datetime.fromtimestamp(moment, UTC)
        return float(croniter(self.schedule, start).get_next(float))

    def previous_at_or_before(self, moment: float) -> float:
        start = datetime.fromtimestamp(moment + 0.001, UTC)
        return float(croniter(self.schedule, start).get_prev(float))


def cron_entries(catalog: dict[str, Definition]) -> list[CronEntry]:
    return [
        CronEntry(d.name, i, t.cron, dict(t.inputs))
        for d in catalog.values()
        for i, t in enumerate(d.spec.triggers)
        if t.cron is not None
    ]


def fire_run_id(entry: CronEntry, fire_time: float) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"mastermind:{entry.key}:{fire_time:.0f}").hex


class CronScheduler:
    """Fires cron triggers of the catalog's workflows; `reschedule()` after a reload."""

    def __init__(
        self,
        coordinator: Coordinator,
        catalog: Callable[[], dict[str, Definition]],
        *,
        now: Callable[[], float] | None = None,
    ) -> None:
        self.coordinator = coordinator
        self.catalog = catalog
        self.now = now or coordinator.clock.time
        self.last_fire: dict[str, float] = {}  # one entry per schedule: bounded
        self._changed = asyncio.Event()

    def reschedule(self) -> None:
        self._changed.set()

    async def catch_up(self) -> None:
        """At start: one run for every schedule that should have fired since it last did."""
        now = self.now()
        for entry in cron_entries(self.catalog()):
            last = await self._last_recorded(entry)
            due = entry.previous_at_or_before(now)
            if last is not None and due > last:
                log.info("%s missed fires while down; one catch-up run", entry.key)
                await self.fire(entry, due)
            self.last_fire.setdefault(entry.key, last if last is not None else now)

    async def _last_recorded(self, entry: CronEntry) -> float | None:
        runs = await self.coordinator.store.list_runs(workflow=entry.workflow, limit=1000)
        times = [
            float(r.trigger.rsplit(":", 1)[1])
            for r in runs
            if r.trigger and r.trigger.startswith(entry.key + ":")
        ]
        return max(times) if times else None

    async def run(self) -> None:
        """Sleep until the next fire time of any schedule; fire; repeat."""
        clock = self.coordinator.clock
        while True:
            entries = cron_entries(self.catalog())
            self._changed.clear()
            if not entries:
                await self._changed.wait()
                continue
            now = self.now()
            fire_time, entry = min(
                ((e.next_after(self.last_fire.get(e.key, now)), e) for e in entries),
                key=lambda pair: pair[0],
            )
            delay = fire_time - now
            if delay > 0:
                sleeper = asyncio.ensure_future(clock.sleep(delay))
                changed = asyncio.ensure_future(self._changed.wait())
                try:
                    done, _ = await asyncio.wait(
                        {sleeper, changed}, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    sleeper.cancel()
                    changed.cancel()
                if changed in done:
                    continue  # the catalog changed: compute again
            # fire once, for the latest due time (fires missed while busy are not replayed)
            await self.fire(entry, max(fire_time, entry.previous_at_or_before(self.now())))

    async def fire(self, entry: CronEntry, fire_time: float) -> None:
        self.last_fire[entry.key] = fire_time
        definition = self.catalog().get(entry.workflow)
        if definition is None:
            return
        run_id = fire_run_id(entry, fire_time)
        try:
            await self.coordinator.submit(
                definition, entry.inputs, run_id=run_id, trigger=f"{entry.key}:{fire_time:.0f}"
            )
            log.info("cron %s fired run %s", entry.key, run_id)
        except MastermindError as exc:
            log.error("cron %s could not start a run: %s", entry.key, exc)
        except Exception as exc:  # e.g. a duplicate run id: another daemon fired it
            log.info("cron %s at %.0f was started elsewhere (%s)", entry.key, fire_time, exc)


def sign(key: str, body: bytes) -> str:
    """The webhook signature a sender puts in X-Mastermind-Signature."""
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def verify(key: str, body: bytes, signature: str) -> bool:
    """Constant-time check of a webhook signature."""
    return hmac.compare_digest(sign(key, body).encode(), signature.strip().encode())
