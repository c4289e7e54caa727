"""Metrics from real runs through a real Coordinator: counts match what happened, and the
running-steps gauge returns to zero however steps end (cancel, outputs error, retries)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from mastermind.engine.agent import AgentRegistry
from mastermind.engine.coordinator import Coordinator
from mastermind.language.loader import Definition
from mastermind.service.metrics import Metrics
from tests.agents_for_tests import GateAgent

Load = Callable[[str], Definition]


def value(text: str, name: str, **labels: str) -> float:
    """One sample from the exposition text (0 when the series is absent)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if match is None or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if found == labels:
            return float(match.group(3))
    return 0.0


def attached(coordinator: Coordinator) -> Metrics:
    metrics = Metrics()
    metrics.attach(coordinator)
    return metrics


async def test_cancel_leaves_no_step_running(registry: AgentRegistry, load: Load) -> None:
    definition = load("name: cancel\nsteps:\n  hold: {agent: gate, for_each: '${{ [1, 2, 3] }}'}\n")
    async with Coordinator(registry) as coordinator:
        metrics = attached(coordinator)
        gate = coordinator.registry.instance("gate")
        assert isinstance(gate, GateAgent)
        run_id = await coordinator.submit(definition)
        await gate.until_running(3)
        text = metrics.render().decode()
        assert value(text, "mastermind_steps_running", agent="gate") == 3
        assert value(text, "mastermind_runs_active") == 1
        coordinator.cancel(run_id)
        await coordinator.wait(run_id)
        text = metrics.render().decode()
    assert value(text, "mastermind_steps_running", agent="gate") == 0
    assert value(text, "mastermind_runs_active") == 0
    assert value(text, "mastermind_runs_total", workflow="cancel", status="cancelled") == 1
    assert (
        value(text, "mastermind_steps_total", workflow="cancel", agent="gate", status="cancelled")
        == 3
    )


async def test_an_outputs_error_leaves_no_step_running(registry: AgentRegistry, load: Load) -> None:
    definition = load(
        "name: outs\nsteps:\n"
        "  a: {agent: noop, outputs: {x: '${{ result.y.z }}'}, with: {value: 1}}\n"
    )
    async with Coordinator(registry) as coordinator:
        metrics = attached(coordinator)
        result = await coordinator.run(definition)
        text = metrics.render().decode()
    assert result.status == "failed"
    assert value(text, "mastermind_steps_running", agent="noop") == 0
    assert (
        value(text, "mastermind_steps_total", workflow="outs", agent="noop", status="failed") == 1
    )
    assert value(text, "mastermind_runs_total", workflow="outs", status="failed") == 1


async def test_retries_and_successes_are_counted(registry: AgentRegistry, load: Load) -> None:
    definition = load(
        "name: flaky\nsteps:\n"
        "  a: {agent: flaky, with: {failures: 2}, retry: {attempts: 3, initial: 1ms}}\n"
        "  b: {agent: noop, needs: [a], for_each: '${{ [1, 2] }}'}\n"
    )
    async with Coordinator(registry) as coordinator:
        metrics = attached(coordinator)
        for _ in range(2):
            assert (await coordinator.run(definition)).ok
        text = metrics.render().decode()
    assert value(text, "mastermind_step_retries_total", agent="flaky") == 4
    assert (
        value(text, "mastermind_steps_total", workflow="flaky", agent="flaky", status="succeeded")
        == 2
    )
    assert (
        value(text, "mastermind_steps_total", workflow="flaky", agent="noop", status="succeeded")
        == 4
    )
    assert value(text, "mastermind_runs_total", workflow="flaky", status="succeeded") == 2
    assert value(text, "mastermind_runs_started_total", workflow="flaky") == 2
    assert value(text, "mastermind_steps_running", agent="flaky") == 0
    assert value(text, "mastermind_step_duration_seconds_count", agent="flaky") == 6
    assert value(text, "mastermind_store_commits_total") == 0  # the memory store commits nothing


async def test_a_store_fault_leaves_no_step_running(registry: AgentRegistry, load: Load) -> None:
    from tests.test_faults import FailingMemoryStore

    definition = load("name: f\nsteps:\n  hold: {agent: gate, for_each: '${{ [1, 2] }}'}\n")
    store = FailingMemoryStore(fail_at=6)  # running, queued, 2 x running, then: the 6th fails
    async with Coordinator(registry, store) as coordinator:
        metrics = attached(coordinator)
        gate = coordinator.registry.instance("gate")
        assert isinstance(gate, GateAgent)
        run_id = await coordinator.submit(definition)
        await gate.until_running(2)
        gate.gates["default"].set()
        async with asyncio.timeout(20):
            result = await coordinator.wait(run_id)
        text = metrics.render().decode()
    assert result.status == "failed"
    assert value(text, "mastermind_steps_running", agent="gate") == 0
