"""Prometheus metrics: fed by the event stream, the loop-lag monitor and a few collectors.

Labels are bounded: workflow, agent and status names, never run ids.
"""

from __future__ import annotations

import asyncio
import platform
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from mastermind import __version__
from mastermind.store.events import RUN_FINAL, STEP_FINAL, Event

if TYPE_CHECKING:
    from mastermind.engine.coordinator import Coordinator
    from mastermind.engine.loop_watch import Blocked

DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
BLOCKED_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """All of mastermind's metrics, in their own registry."""

    def __init__(self) -> None:
        # `*_created` series double the exposition and no dashboard or alert reads them
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.runs = Counter(
            "mastermind_runs", "Runs that ended, by outcome", ["workflow", "status"], registry=r
        )
        self.runs_started = Counter(
            "mastermind_runs_started", "Runs started or resumed", ["workflow"], registry=r
        )
        self.steps = Counter(
            "mastermind_steps",
            "Step instances that ended, by outcome",
            ["workflow", "agent", "status"],
            registry=r,
        )
        self.retries = Counter(
            "mastermind_step_retries",
            "Attempts that failed and will be retried",
            ["agent"],
            registry=r,
        )
        self.step_seconds = Histogram(
            "mastermind_step_duration_seconds",
            "Duration of step attempts",
            ["agent"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.run_seconds = Histogram(
            "mastermind_run_duration_seconds",
            "Duration of runs",
            ["workflow"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.loop_lag = Histogram(
            "mastermind_event_loop_lag_seconds",
            "How late the event loop wakes up",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        # A histogram, not a counter: _count is the number of episodes, _sum the seconds the loop
        # was blocked (rate(_sum) is the fraction of time lost), the buckets how long they last.
        self.loop_blocked = Histogram(
            "mastermind_loop_blocked_seconds",
            "Episodes of the event loop running one callback longer than the threshold",
            buckets=BLOCKED_BUCKETS,
            registry=r,
        )
        self.workflows_broken = Gauge(
            "mastermind_workflows_broken", "Workflow files that failed to load", registry=r
        )
        self.reloads = Counter(
            "mastermind_reloads", "Configuration and workflow reloads", ["result"], registry=r
        )
        self.chore_restarts = Counter(
            "mastermind_chore_restarts",
            "Background chores restarted after they failed",
            ["chore"],
            registry=r,
        )
        self.sse_subscribers = Gauge(
            "mastermind_sse_subscribers", "Clients following a run's events now", registry=r
        )
        self.sse_dropped = Counter(
            "mastermind_sse_dropped",
            "Event-stream clients dropped because they did not keep up",
            registry=r,
        )
        info = Gauge(
            "mastermind_build_info", "Build information", ["version", "python"], registry=r
        )
        info.labels(__version__, platform.python_version()).set(1)

    def attach(self, coordinator: Coordinator) -> None:
        """Count the coordinator's events, and read its live state at every scrape."""
        coordinator.subscribe(self.observe)
        collector = CoordinatorCollector(coordinator)
        coordinator.subscribe(collector.saw)
        self.add_collector(collector)

    def observe(self, event: Event) -> None:
        """An event listener: count transitions. (Steps running now are read from the
        coordinator at scrape time: counting them from events drifted whenever an attempt
        ended without the event the count expected, e.g. after a cancel.)"""
        status = event.status
        if event.step_id is None:
            if status == "running":
                self.runs_started.labels(event.workflow).inc()
            elif status in RUN_FINAL:
                self.runs.labels(event.workflow, status).inc()
                if event.duration is not None:
                    self.run_seconds.labels(event.workflow).observe(event.duration)
            return
        if status in ("running", "queued"):
            return
        if event.duration is not None:  # the end of an attempt
            self.step_seconds.labels(event.agent).observe(event.duration)
        if status == "retrying":
            self.retries.labels(event.agent).inc()
        elif status in STEP_FINAL and (event.item_index is not None or event.attempt):
            self.steps.labels(event.workflow, event.agent, status).inc()

    def observe_blocked(self, episode: Blocked) -> None:
        """A loop-watch listener: one episode of a blocked event loop."""
        self.loop_blocked.observe(episode.duration or 0.0)

    def add_collector(self, collector: Collector) -> None:
        self.registry.register(collector)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def watch_loop_lag(self, interval: float = 0.25) -> None:
        """Measure how late sleeps wake up: a blocked loop shows here (and trips the watchdog)."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(interval)
            self.loop_lag.observe(max(0.0, loop.time() - started - interval))


class CoordinatorCollector(Collector):
    """Gauges read at scrape time from the live coordinator (runs, steps, pool, store)."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        self._agents: set[str] = set()  # every agent that ran stays a series (0 when idle)

    def saw(self, event: Event) -> None:
        """An event listener: remember the agent kinds that ran."""
        if event.status == "running" and event.agent:
            self._agents.add(event.agent)

    def collect(self) -> Iterator[Any]:
        coordinator = self.coordinator
        pool = coordinator.started_process_pool
        store = coordinator.store
        running = coordinator.steps_running()
        self._agents.update(running)
        steps = GaugeMetricFamily(
            "mastermind_steps_running", "Step instances running now", labels=["agent"]
        )
        for agent in sorted(self._agents):
            steps.add_metric([agent], running.get(agent, 0))
        yield steps
        yield GaugeMetricFamily(
            "mastermind_runs_active",
            "Runs in flight in this daemon",
            value=len(coordinator.active_runs),
        )
        yield GaugeMetricFamily(
            "mastermind_ready_queue_depth",
            "Step instances queued, waiting for a slot",
            value=coordinator.ready_depth(),
        )
        yield GaugeMetricFamily(
            "mastermind_process_pool_workers",
            "Live CPU worker processes",
            value=pool.alive if pool is not None else 0,
        )
        yield CounterMetricFamily(
            "mastermind_process_pool_replacements",
            "CPU workers replaced after dying or being stopped",
            value=pool.replaced if pool is not None else 0,
        )
        yield CounterMetricFamily(
            "mastermind_store_commits", "Store transactions committed", value=store.commits
        )
        yield CounterMetricFamily(
            "mastermind_store_commit_seconds",
            "Time spent committing",
            value=store.commit_seconds,
        )
