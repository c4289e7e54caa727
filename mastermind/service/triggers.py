"""Triggers: cron schedules (croniter, UTC) and signed webhooks.

Webhooks follow the GitHub/Stripe scheme against replay: the signature covers a timestamp and a
delivery id as well as the body; a timestamp further from our clock than the tolerance
(`api.webhook_tolerance`, 5 minutes unless configured) is refused, and the delivery id names
the run (`delivery_run_id`), so a delivery replayed inside the window finds its run already
stored and starts nothing.

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
import re
import uuid
from collections.abc import Callable, Mapping
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
TIMESTAMP_HEADER = "X-Mastermind-Timestamp"  # Unix seconds, inside the signature
DELIVERY_HEADER = "X-Mastermind-Delivery"  # unique per delivery (a UUID), inside the signature
_DELIVERY_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


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


def sign(key: str, body: bytes, *, timestamp: int, delivery: str) -> str:
    """The signature a sender puts in X-Mastermind-Signature: HMAC-SHA256 under the trigger's
    secret of `TIMESTAMP.DELIVERY.BODY`, so neither header can be changed without the key."""
    message = f"{timestamp}.{delivery}.".encode() + body
    return "sha256=" + hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def verify(key: str, body: bytes, signature: str, *, timestamp: int, delivery: str) -> bool:
    """Constant-time check of a webhook signature."""
    expected = sign(key, body, timestamp=timestamp, delivery=delivery)
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


def delivery_headers(
    key: str, body: bytes, *, now: float, delivery: str | None = None
) -> dict[str, str]:
    """The three headers a sender puts on one delivery (for clients and tests)."""
    stamp = int(now)
    delivery = delivery or uuid.uuid4().hex
    return {
        SIGNATURE_HEADER: sign(key, body, timestamp=stamp, delivery=delivery),
        TIMESTAMP_HEADER: str(stamp),
        DELIVERY_HEADER: delivery,
    }


@dataclass(frozen=True, slots=True)
class Delivery:
    """A webhook delivery's replay-protection headers, checked for shape and freshness."""

    timestamp: int
    delivery: str


def check_delivery(headers: Mapping[str, str], now: float, *, tolerance: float) -> Delivery | str:
    """The delivery's timestamp and id, or why they are refused: missing, malformed, or a
    timestamp more than `tolerance` seconds from `now` (stale or from the future)."""
    stamp = headers.get(TIMESTAMP_HEADER, "").strip()
    delivery = headers.get(DELIVERY_HEADER, "").strip()
    if not stamp or not delivery:
        return f"missing {TIMESTAMP_HEADER} or {DELIVERY_HEADER}"
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        return f"{TIMESTAMP_HEADER} must be Unix seconds"
    if not _DELIVERY_ID.fullmatch(delivery):
        return f"{DELIVERY_HEADER} must be 1-128 letters, digits, '-' or '_'"
    skew = int(stamp) - now
    window = f"(tolerance {tolerance:g}s)"
    if skew < -tolerance:
        return f"stale delivery: {TIMESTAMP_HEADER} is {-skew:.0f}s old {window}"
    if skew > tolerance:
        return f"{TIMESTAMP_HEADER} is {skew:.0f}s in the future {window}"
    return Delivery(int(stamp), delivery)


def delivery_run_id(workflow: str, delivery: str) -> str:
    """The run id of a webhook delivery: the same delivery id always names the same run, so the
    store's uniqueness of run ids refuses a replay, across restarts and across daemons."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"mastermind:webhook:{workflow}:{delivery}").hex
