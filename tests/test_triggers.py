"""Cron triggers on a fake clock, the missed-fire policy, and webhook signatures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from mastermind.engine.agent import AgentRegistry
from mastermind.engine.clock import FakeClock
from mastermind.engine.coordinator import Coordinator
from mastermind.language.loader import load_text
from mastermind.service.triggers import (
    CronEntry,
    CronScheduler,
    Delivery,
    check_delivery,
    delivery_run_id,
    sign,
    verify,
)
from mastermind.store.base import RunRecord
from mastermind.store.events import Event

FLOW = """
name: tick
inputs: {who: {type: string, default: nobody}}
steps: {a: {agent: noop, with: {value: "${{ inputs.who }}"}}}
triggers:
  - cron: "*/5 * * * *"
    inputs: {who: cron}
"""


def fire_times(runs: list[RunRecord]) -> list[float]:
    """The fire times of cron runs, from their stored trigger (cron:<workflow>:<n>:<time>)."""
    return [float((r.trigger or "").rsplit(":", 1)[1]) for r in runs]


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


async def test_cron_fires_on_schedule() -> None:
    registry = AgentRegistry(load_plugins=False)
    definition = load_text(FLOW, "tick.yaml", registry)
    clock = FakeClock(start=at("2026-01-01T12:04:30"))
    async with Coordinator(registry, clock=clock) as coordinator:
        scheduler = CronScheduler(coordinator, lambda: {"tick": definition})
        await scheduler.catch_up()  # nothing recorded yet: nothing to catch up
        assert coordinator.active_runs == []
        started: list[str] = []
        three = asyncio.Event()

        def count(event: Event) -> None:
            if event.step_id is None and event.status == "running":
                started.append(event.run_id)
                if len(started) >= 3:
                    three.set()

        coordinator.subscribe(count)
        task = asyncio.create_task(scheduler.run())
        try:
            async with asyncio.timeout(10):
                await three.wait()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for run_id in coordinator.active_runs:
            await coordinator.wait(run_id)
        runs = await coordinator.store.list_runs(workflow="tick")
    assert sorted(fire_times(runs))[:3] == [
        at("2026-01-01T12:05:00"),
        at("2026-01-01T12:10:00"),
        at("2026-01-01T12:15:00"),
    ]
    assert {r.inputs["who"] for r in runs} == {"cron"}
    assert all(r.trigger and r.trigger.startswith("cron:tick:0:") for r in runs)
    assert all(r.parent is None for r in runs)


async def test_missed_fires_give_one_catch_up_run() -> None:
    registry = AgentRegistry(load_plugins=False)
    definition = load_text(FLOW, "tick.yaml", registry)
    clock = FakeClock(start=at("2026-01-01T10:00:00"))
    async with Coordinator(registry, clock=clock) as coordinator:
        first = CronScheduler(coordinator, lambda: {"tick": definition})
        await first.fire(
            CronEntry("tick", 0, "*/5 * * * *", {"who": "cron"}), at("2026-01-01T10:00:00")
        )
        clock.advance(2 * 3600 + 7 * 60)  # down from 10:00 to 12:07: 25 fires missed
        restarted = CronScheduler(coordinator, lambda: {"tick": definition})
        await restarted.catch_up()
        for run_id in coordinator.active_runs:
            await coordinator.wait(run_id)
        runs = await coordinator.store.list_runs(workflow="tick")
    assert sorted(fire_times(runs)) == [at("2026-01-01T10:00:00"), at("2026-01-01T12:05:00")]


async def test_the_same_fire_starts_one_run() -> None:
    registry = AgentRegistry(load_plugins=False)
    definition = load_text(FLOW, "tick.yaml", registry)
    async with Coordinator(
        registry, clock=FakeClock(start=at("2026-01-01T12:00:00"))
    ) as coordinator:
        entry = CronEntry("tick", 0, "*/5 * * * *", {})
        one = CronScheduler(coordinator, lambda: {"tick": definition})
        two = CronScheduler(coordinator, lambda: {"tick": definition})
        await one.fire(entry, at("2026-01-01T12:05:00"))
        await two.fire(entry, at("2026-01-01T12:05:00"))  # e.g. a second daemon
        for run_id in coordinator.active_runs:
            await coordinator.wait(run_id)
        runs = await coordinator.store.list_runs(workflow="tick")
    assert fire_times(runs) == [at("2026-01-01T12:05:00")]


def test_webhook_signatures_cover_timestamp_and_delivery() -> None:
    body = b'{"inputs": {"who": "hook"}}'
    signature = sign("k3y", body, timestamp=1700000000, delivery="abc")
    assert signature.startswith("sha256=")
    assert verify("k3y", body, signature, timestamp=1700000000, delivery="abc")
    assert not verify("other", body, signature, timestamp=1700000000, delivery="abc")
    assert not verify("k3y", body + b" ", signature, timestamp=1700000000, delivery="abc")
    assert not verify("k3y", body, signature, timestamp=1700000001, delivery="abc")
    assert not verify("k3y", body, signature, timestamp=1700000000, delivery="abd")


def test_delivery_headers_are_checked_for_shape_and_freshness() -> None:
    now = 1_700_000_000.0

    def headers(stamp: str, delivery: str) -> dict[str, str]:
        return {"X-Mastermind-Timestamp": stamp, "X-Mastermind-Delivery": delivery}

    def check(stamp: str, delivery: str = "d", tolerance: float = 300.0) -> Delivery | str:
        return check_delivery(headers(stamp, delivery), now, tolerance=tolerance)

    assert check("1700000000", "d-1") == Delivery(1700000000, "d-1")
    assert check("1699999701") == Delivery(1699999701, "d")
    assert "stale" in str(check("1699999699"))
    assert "future" in str(check("1700000301"))
    # the window is the configured tolerance (api.webhook_tolerance), either way
    assert check("1699999971", tolerance=30) == Delivery(1699999971, "d")
    assert check("1700000029", tolerance=30) == Delivery(1700000029, "d")
    assert str(check("1699999969", tolerance=30)).endswith("31s old (tolerance 30s)")
    assert str(check("1700000031", tolerance=30)).endswith("31s in the future (tolerance 30s)")
    assert check("1699999000", tolerance=3600) == Delivery(1699999000, "d")
    assert "missing" in str(check_delivery({}, now, tolerance=300))
    assert "missing" in str(check("1700000000", ""))
    assert "Unix seconds" in str(check("17e8"))
    assert "letters" in str(check("1700000000", "a.b"))
    assert "letters" in str(check("1700000000", "x" * 129))
    assert delivery_run_id("w", "d") == delivery_run_id("w", "d") != delivery_run_id("v", "d")
