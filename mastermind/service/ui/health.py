"""The Health page's figures, read from the same registry /metrics exports.

Rates need two readings: every look at the page takes one (plus one when the dashboard starts),
and a figure is the change between the newest reading and the oldest one still in the window.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

WINDOW = 30.0  # seconds of readings kept for rates


def read_samples(registry: CollectorRegistry) -> dict[str, float]:
    """Every sample the registry exports, summed over labels (`mastermind_steps_total`: all
    workflows, agents and outcomes)."""
    totals: dict[str, float] = {}
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name.endswith("_bucket"):
                continue
            totals[sample.name] = totals.get(sample.name, 0.0) + float(sample.value)
    return totals


@dataclass(frozen=True, slots=True)
class Reading:
    at: float  # monotonic seconds
    samples: dict[str, float]

    def get(self, name: str) -> float:
        return self.samples.get(name, 0.0)


@dataclass(frozen=True, slots=True)
class Figures:
    window: float  # seconds between the two readings rates come from
    runs_active: float
    ready_queue: float
    steps_per_second: float | None
    steps_total: float
    runs_started: float
    runs_finished: float
    loop_lag_mean: float | None  # seconds, over the window
    loop_lag_total_mean: float | None  # seconds, since start
    pool_workers: float
    pool_replaced: float
    store_commit_mean: float | None  # seconds per commit, over the window
    store_commits_per_second: float | None
    workflows_broken: float


class HealthSampler:
    """Keeps recent readings of the registry and turns them into figures."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.readings: deque[Reading] = deque(maxlen=64)

    def take(self, now: float | None = None) -> Reading:
        reading = Reading(time.monotonic() if now is None else now, read_samples(self.registry))
        self.readings.append(reading)
        while len(self.readings) > 2 and reading.at - self.readings[1].at >= WINDOW:
            self.readings.popleft()  # keep one reading at least WINDOW old, no more
        return reading

    def figures(self, now: float | None = None) -> Figures:
        """Take a reading and compare it with the oldest one in the window."""
        new = self.take(now)
        old = self.readings[0] if len(self.readings) > 1 else None
        span = new.at - old.at if old is not None else 0.0

        def rate(name: str) -> float | None:
            if old is None or span <= 0:
                return None
            return max(new.get(name) - old.get(name), 0.0) / span

        def mean(total: str, count: str, since: Reading | None) -> float | None:
            base_total = since.get(total) if since else 0.0
            base_count = since.get(count) if since else 0.0
            n = new.get(count) - base_count
            return (new.get(total) - base_total) / n if n > 0 else None

        lag = "mastermind_event_loop_lag_seconds"
        return Figures(
            window=span,
            runs_active=new.get("mastermind_runs_active"),
            ready_queue=new.get("mastermind_ready_queue_depth"),
            steps_per_second=rate("mastermind_steps_total"),
            steps_total=new.get("mastermind_steps_total"),
            runs_started=new.get("mastermind_runs_started_total"),
            runs_finished=new.get("mastermind_runs_total"),
            loop_lag_mean=mean(f"{lag}_sum", f"{lag}_count", old),
            loop_lag_total_mean=mean(f"{lag}_sum", f"{lag}_count", None),
            pool_workers=new.get("mastermind_process_pool_workers"),
            pool_replaced=new.get("mastermind_process_pool_replacements_total"),
            store_commit_mean=mean(
                "mastermind_store_commit_seconds_total", "mastermind_store_commits_total", old
            ),
            store_commits_per_second=rate("mastermind_store_commits_total"),
            workflows_broken=new.get("mastermind_workflows_broken"),
        )
