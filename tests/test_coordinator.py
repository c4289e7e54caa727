"""The coordinator: ordering, fan-out, conditions, failure policies, retries, timeouts,
cancellation and limits. Deterministic: scripted agents, events and a fake clock."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import pytest

from mastermind.engine.agent import AgentRegistry
from mastermind.engine.clock import FakeClock
from mastermind.engine.coordinator import Coordinator, Settings
from mastermind.engine.retry import backoff_delay
from mastermind.errors import InputError
from mastermind.language.loader import Definition
from mastermind.language.model import RetryPolicy
from mastermind.store.events import Event, RunStatus, StepStatus
from tests.agents_for_tests import FlakyAgent, GateAgent, ProbeAgent

Load = Callable[[str], Definition]


def recorder(coordinator: Coordinator) -> list[Event]:
    events: list[Event] = []
    coordinator.subscribe(events.append)
    return events


async def test_diamond_runs_in_dependency_order(registry: AgentRegistry, load: Load) -> None:
    definition = load(
        """
name: diamond
steps:
  a: {agent: probe, with: {value: 1}}
  b: {agent: probe, needs: [a], with: {value: "${{ steps.a.outputs + 1 }}"}}
  c: {agent: probe, needs: [a], with: {value: "${{ steps.a.outputs + 2 }}"}}
  d: {agent: probe, needs: [b, c], with: {value: "${{ steps.b.outputs * steps.c.outputs }}"}}
outputs: {d: "${{ steps.d.outputs }}"}
"""
    )
    async with Coordinator(registry) as coordinator:
        result = await coordinator.run(definition)
        probe = coordinator.registry.instance("probe")
    assert isinstance(probe, ProbeAgent)
    assert result.ok and result.outputs == {"d": 6}
    order = [(kind, step) for kind, step, _ in probe.log]
    assert order[:2] == [("start", "a"), ("end", "a")]
    assert order[-2:] == [("start", "d"), ("end", "d")]
    # b and c are independent: both start before either ends
    middle = order[2:6]
    assert set(middle[:2]) == {("start", "b"), ("start", "c")}
    assert probe.peak == 2


async def test_ten_thousand_item_fan_out_keeps_item_order(
    registry: AgentRegistry, load: Load
) -> None:
    items = list(range(10_000))
    definition = load(
        """
name: fan
inputs: {items: {type: array}}
steps:
  double:
    agent: noop
    for_each: ${{ inputs.items }}
    with: {value: "${{ item * 2 + index - index }}"}
  count:
    agent: noop
    needs: [double]
    with: {value: "${{ len(steps.double.outputs) }}"}
outputs: {doubled: "${{ steps.double.outputs }}", count: "${{ steps.count.outputs }}"}
"""
    )
    async with Coordinator(registry) as coordinator:
        result = await coordinator.run(definition, {"items": items})
    assert result.ok
    assert result.outputs["count"] == 10_000
    assert result.outputs["doubled"] == [i * 2 for i in items]


@pytest.mark.parametrize("limit", [1, 7, 50])
async def test_run_concurrency_is_never_exceeded(
    registry: AgentRegistry, load: Load, limit: int
) -> None:
    definition = load(
        f"""
name: limited
concurrency: {limit}
inputs: {{items: {{type: array}}}}
steps:
  work: {{agent: probe, for_each: "${{{{ inputs.items }}}}", with: {{yields: 2}}}}
"""
    )
    async with Coordinator(registry) as coordinator:
        result = await coordinator.run(definition, {"items": list(range(1000))})
        probe = coordinator.registry.instance("probe")
    assert isinstance(probe, ProbeAgent)
    assert result.ok
    assert len([e for e in probe.log if e[0] == "start"]) == 1000
    assert probe.peak == limit


@pytest.mark.parametrize("limit", [1, 7, 50])
async def test_agent_and_pool_limits_hold_across_runs(
    registry: AgentRegistry, load: Load, limit: int
) -> None:
    definition = load(
        """
name: pooled
inputs: {items: {type: array}}
steps:
  work: {agent: probe, pool: api, for_each: "${{ inputs.items }}", with: {yields: 2}}
"""
    )
    settings = Settings(pools={"api": limit}, agent_limits={"probe": limit + 3})
    async with Coordinator(registry, settings=settings) as coordinator:
        runs = [await coordinator.submit(definition, {"items": list(range(500))}) for _ in range(2)]
        results = [await coordinator.wait(run) for run in runs]
        probe = coordinator.registry.instance("probe")
        pool = coordinator.limits.pools["api"]
    assert isinstance(probe, ProbeAgent)
    assert all(r.ok for r in results)
    assert probe.peak == limit
    assert pool.peak == limit and pool.in_use == 0


async def test_condition_false_skips_step_and_its_dependents(
    registry: AgentRegistry, load: Load
) -> None:
    definition = load(
        """
name: cond
inputs: {go: {type: boolean, default: false}}
steps:
  a: {agent: noop, if: "${{ inputs.go }}"}
  b: {agent: noop, needs: [a]}
  c: {agent: noop, needs: [a], if: "${{ always() }}", with: {value: "${{ steps.a.status }}"}}
outputs: {c: "${{ steps.c.outputs }}"}
"""
    )
    async with Coordinator(registry) as coordinator:
        result = await coordinator.run(definition)
    assert result.ok
    assert result.steps == {"a": "skipped", "b": "skipped", "c": "succeeded"}
    assert result.outputs == {"c": "skipped"}


async def test_continue_lets_independent_branches_finish(
    registry: AgentRegistry, load: Load
) -> None:
    definition = load(
        """
name: cont
on_failure: continue
steps:
  bad: {agent: fail}
  after_bad: {agent: noop, needs: [bad]}
  on_bad: {agent: noop, needs: [bad], if: "${{ failure() }}"}
  good: {agent: noop, with: {value: 1}}
  after_good: {agent: noop, needs: [good]}
"""
    )
    async with Coordinator(registry) as coordinator:
        result = await coordinator.run(definition)
    assert result.status == RunStatus.FAILED
    assert result.steps == {
        "bad": "failed",
        "after_bad": "skipped",
        "on_bad": "succeeded",
        "good": "succeeded",
        "after_good": "succeeded",
    }
    assert result.error == "failed steps: bad"


async def test_fail_fast_cancels_running_steps_and_skips_the_rest(
    registry: AgentRegistry, load: Load
) -> None:
    definition = load(
        """
name: fast
steps:
  slow: {agent: gate, with: {gate: never}}
  trigger: {agent: gate, with: {gate: go}}
  bad: {agent: fail, needs: [trigger]}
  later: {agent: noop, needs: [slow]}
"""
    )
    async with Coordinator(registry) as coordinator:
        events = recorder(coordinator)
        gate = coordinator.registry.instance("gate")
        assert isinstance(gate, GateAgent)
        run_id = await coordinator.submit(definition)
        await gate.started["never"].wait()
        gate.gates["go"].set()
        result = await coordinator.wait(run_id)
    assert result.status == RunStatus.FAILED
    assert result.steps == {
        "slow": "cancelled",
        "trigger": "succeeded",
        "bad": "failed",
        "later": "skipped",
    }
    assert gate.cancelled == [f"{run_id}/slow"]
    assert gate.running == 0
    statuses = [(e.step_id, e.status) for e in events if e.step_id]
    assert ("slow", "cancelled") in statuses


async def test_retries_use_the_backoff_policy_on_the_fake_clock(
    registry: AgentRegistry, load: Load
) -> None:
    definition = load(
        """
name: retry
steps:
  shaky:
    agent: flaky
    with: {failures: 3}
    retry: {attempts: 5, backoff: exponential, initial: 1s, max: 3s, jitter: false}
"""
    )
    clock = FakeClock()
    async with Coordinator(registry, clock=clock) as coordinator:
        events = recorder(coordinator)
        result = await coordinator.run(definition)
        flaky = coordinator.registry.instance("flaky")
    assert isinstance(flaky, FlakyAgent)
    assert result.ok and result.outputs == {}
    assert clock.sleeps == [1.0, 2.0, 3.0]  # 1, 2, 4 capped at 3
    retrying = [e for e in events if e.status == StepStatus.RETRYING]
    assert [e.attempt for e in retrying] == [1, 2, 3]
    assert [e.delay for e in retrying] == [1.0, 2.0, 3.0]
    # every attempt carries the same idempotency key
    assert {key for key, _ in flaky.keys} == {f"{events[0].run_id}/shaky"}
    assert [attempt for _, attempt in flaky.keys] == [1, 2, 3, 4]


async def test_full_jitter_draws_from_the_injected_rng(registry: AgentRegistry, load: Load) -> None:
    definition = load(
        """
name: jitter
steps:
  shaky:
    agent: flaky
    with: {failures: 4}
    retry: {attempts: 5, initial: 500ms, max: 2s, jitter: true}
"""
    )
    clock = FakeClock()
    async with Coordinator(registry, clock=clock, rng=random.Random(7)) as coordinator:
        result = await coordinator.run(definition)
    assert result.ok
    expected_rng = random.Random(7)
    policy = RetryPolicy.model_validate({"attempts": 5, "initial": "500ms", "max": "2s"})
    expected = [backoff_delay(policy, attempt, expected_rng) for attempt in (1, 2, 3, 4)]
    assert clock.sleeps == expected
    caps = [0.5, 1.0, 2.0, 2.0]
    assert all(0 <= delay <= cap for delay, cap in zip(clock.sleeps, caps, strict=True))


async def test_attempts_run_out(registry: AgentRegistry, load: Load) -> None:
    definition = load(
        """
name: out
steps:
  shaky: {agent: flaky, with: {failures: 10}, retry: {attempts: 3, initial: 1s, jitter: false}}
"""
    )
    async with Coordinator(registry, clock=FakeClock()) as coordinator:
        events = recorder(coordinator)
        result = await coordinator.run(definition)
    assert result.status == RunStatus.FAILED
    failed = [e for e in events if e.step_id == "shaky" and e.status == StepStatus.FAILED]
    assert len(failed) == 1 and failed[0].attempt == 3 and failed[0].error == "attempt 3 failed"


async def test_errors_the_agent_does_not_call_retryable_are_not_retried(
    registry: AgentRegistry, load: Load
) -> None:
    definition = load(
        """
name: fatal
on_failure: continue
retry: {attempts: 4, initial: 1s}
steps:
  nope: {agent: flaky, with: {failures: 1, retryable: false}}
  bug: {agent: crash}
  net: {agent: crash, with: {kind: connection}}
"""
    )
    clock = FakeClock()
    async with Coordinator(registry, clock=clock) as coordinator:
        events = recorder(coordinator)
        result = await coordinator.run(definition)
    attempts = {e.step_id: e.attempt for e in events if e.status == StepStatus.FAILED and e.step_id}
    assert attempts == {"nope": 1, "bug": 1, "net": 4}
    errors = {e.step_id: e.error for e in events if e.status == StepStatus.FAILED}
    assert errors["bug"] == "ValueError: bug in agent"
    assert result.status == RunStatus.FAILED


async def test_attempt_timeout_fires_and_is_retried(registry: AgentRegistry, load: Load) -> None:
    definition = load(
        """
name: slow
steps:
  stuck:
    agent: gate
    with: {gate: never}
    timeout: 20ms
    retry: {attempts: 2, initial: 1ms, jitter: false}
"""
    )
    async with Coordinator(registry) as coordinator:
        events = recorder(coordinator)
        result = await coordinator.run(definition)
        gate = coordinator.registry.instance("gate")
    assert isinstance(gate, GateAgent)
    assert result.status == RunStatus.FAILED
    failures = [e.error for e in events if e.status in ("retrying", "failed") and e.step_id]
    assert failures == ["timed out after 0.02s", "timed out after 0.02s"]
    assert gate.running == 0 and len(gate.cancelled) == 2


async def test_run_timeout_cancels_the_run(registry: AgentRegistry, load: Load) -> None:
    definition = load(
        """
name: late
timeout: 30ms
steps:
  stuck: {agent: gate, with: {gate: never}}
  after: {agent: noop, needs: [stuck]}
"""
    )
    async with Coordinator(registry) as coordinator:
        result = await coordinator.run(definition)
    assert result.status == RunStatus.FAILED
    assert result.error == "the run timed out after 0.03s"
    assert result.steps == {"stuck": "cancelled", "after": "cancelled"}


async def test_cancel_stops_running_steps_and_reports_them(
    registry: AgentRegistry, load: Load
) -> None:
    definition = load(
        """
name: cancel
inputs: {items: {type: array, default: [1, 2, 3]}}
steps:
  hold: {agent: gate, for_each: "${{ inputs.items }}", with: {gate: hold}}
  after: {agent: noop, needs: [hold]}
"""
    )
    async with Coordinator(registry) as coordinator:
        events = recorder(coordinator)
        gate = coordinator.registry.instance("gate")
        assert isinstance(gate, GateAgent)
        run_id = await coordinator.submit(definition)
        await gate.started["hold"].wait()
        await gate.until_running(3)
        assert coordinator.cancel(run_id)
        result = await coordinator.wait(run_id)
        stored = await coordinator.store.get_run(run_id)
    assert result.status == RunStatus.CANCELLED
    assert sorted(gate.cancelled) == [f"{run_id}/hold/{i}" for i in range(3)]
    cancelled_items = sorted(
        e.item_index for e in events if e.status == "cancelled" and e.item_index is not None
    )
    assert cancelled_items == [0, 1, 2]
    assert result.steps == {"hold": "cancelled", "after": "cancelled"}
    assert stored is not None and stored.status == "cancelled"


async def test_cancelling_the_caller_cancels_the_run(registry: AgentRegistry, load: Load) -> None:
    definition = load("name: c\nsteps: {hold: {agent: gate, with: {gate: hold}}}\n")
    async with Coordinator(registry) as coordinator:
        gate = coordinator.registry.instance("gate")
        assert isinstance(gate, GateAgent)
        caller = asyncio.create_task(coordinator.run(definition))
        await gate.started["hold"].wait()
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert gate.cancelled and gate.running == 0
        assert coordinator.active_runs == []


async def test_events_are_gapless_and_stored_in_order(registry: AgentRegistry, load: Load) -> None:
    definition = load(
        """
name: ev
steps:
  a: {agent: noop, for_each: "${{ [1, 2] }}", with: {value: "${{ item }}"}}
  b: {agent: noop, needs: [a]}
"""
    )
    async with Coordinator(registry) as coordinator:
        events = recorder(coordinator)
        result = await coordinator.run(definition)
        stored = await coordinator.store.events(result.run_id)
        steps = await coordinator.store.steps(result.run_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert stored == events
    kinds = [(e.step_id, e.item_index, e.status) for e in events]
    assert kinds[0] == (None, None, "running")
    assert kinds[-1] == (None, None, "succeeded")
    assert ("a", None, "queued") in kinds and ("a", None, "succeeded") in kinds
    assert ("a", 0, "running") in kinds and ("a", 1, "succeeded") in kinds
    assert {(s.step_id, s.item_index): s.status for s in steps} == {
        ("a", None): "succeeded",
        ("a", 0): "succeeded",
        ("a", 1): "succeeded",
        ("b", None): "succeeded",
    }


async def test_step_outputs_are_computed_from_result(registry: AgentRegistry, load: Load) -> None:
    definition = load(
        """
name: outs
steps:
  a:
    agent: noop
    for_each: "${{ ['x', 'yy'] }}"
    with: {value: {text: "${{ item }}"}}
    outputs: {length: "${{ len(result.text) }}", at: "${{ index }}"}
  b: {agent: noop, needs: [a], with: {value: "${{ steps.a.outputs[1].length }}"}}
outputs: {b: "${{ steps.b.outputs }}", a: "${{ steps.a.outputs }}"}
"""
    )
    async with Coordinator(registry) as coordinator:
        result = await coordinator.run(definition)
    assert result.outputs == {"b": 2, "a": [{"length": 1, "at": 0}, {"length": 2, "at": 1}]}


async def test_rendered_params_are_validated_at_run_time(
    registry: AgentRegistry, load: Load
) -> None:
    definition = load(
        """
name: late_check
inputs: {d: {type: string, default: soon}}
steps:
  nap: {agent: sleep, with: {duration: "${{ inputs.d }}"}}
"""
    )
    async with Coordinator(registry) as coordinator:
        events = recorder(coordinator)
        result = await coordinator.run(definition)
    assert result.status == RunStatus.FAILED
    failed = [e for e in events if e.status == "failed"]
    assert "with.duration" in (failed[0].error or "")
    assert "expected a duration" in (failed[0].error or "")


async def test_expression_errors_fail_the_step_not_the_coordinator(
    registry: AgentRegistry, load: Load
) -> None:
    definition = load(
        """
name: boom
on_failure: continue
inputs: {n: {type: integer, default: 0}}
steps:
  div: {agent: noop, with: {value: "${{ 1 / inputs.n }}"}}
  fe: {agent: noop, for_each: "${{ inputs.n }}"}
  cond: {agent: noop, if: "${{ inputs.n.x }}"}
"""
    )
    async with Coordinator(registry) as coordinator:
        events = recorder(coordinator)
        result = await coordinator.run(definition)
    errors = {e.step_id: e.error for e in events if e.status == "failed"}
    assert "division by zero" in (errors["div"] or "")
    assert errors["fe"] == "for_each: expected a list, got int"
    assert "cannot read 'x' of a number" in (errors["cond"] or "")
    assert result.status == RunStatus.FAILED


async def test_inputs_are_checked_on_submit(registry: AgentRegistry, load: Load) -> None:
    definition = load(
        "name: ins\ninputs: {n: {type: integer, required: true}}\nsteps: {a: {agent: noop}}\n"
    )
    async with Coordinator(registry) as coordinator:
        with pytest.raises(InputError, match="input 'n' is required"):
            await coordinator.submit(definition)
        with pytest.raises(InputError, match="must be of type integer"):
            await coordinator.submit(definition, {"n": "3"})
        with pytest.raises(InputError, match="unknown input 'm'"):
            await coordinator.submit(definition, {"n": 3, "m": 1})


async def test_wait_receives_a_signal(registry: AgentRegistry, load: Load) -> None:
    definition = load(
        """
name: approval
steps:
  approve: {agent: wait, with: {signal: approve, timeout: 5s}}
  apply: {agent: noop, needs: [approve], with: {value: "${{ steps.approve.outputs.payload }}"}}
outputs: {by: "${{ steps.apply.outputs.by }}"}
"""
    )
    async with Coordinator(registry) as coordinator:
        waiting = asyncio.Event()
        coordinator.subscribe(
            lambda e: waiting.set() if (e.step_id, e.status) == ("approve", "running") else None
        )
        run_id = await coordinator.submit(definition)
        await waiting.wait()
        assert coordinator.signal(run_id, "approve", {"by": "ada"})
        result = await coordinator.wait(run_id)
    assert result.ok and result.outputs == {"by": "ada"}


async def test_a_signal_sent_before_the_wait_is_kept(registry: AgentRegistry, load: Load) -> None:
    definition = load(
        """
name: early
steps:
  hold: {agent: gate, with: {gate: g}}
  approve: {agent: wait, needs: [hold], with: {signal: go, timeout: 5s}}
"""
    )
    async with Coordinator(registry) as coordinator:
        gate = coordinator.registry.instance("gate")
        assert isinstance(gate, GateAgent)
        run_id = await coordinator.submit(definition)
        await gate.started["g"].wait()
        coordinator.signal(run_id, "go", 42)
        gate.gates["g"].set()
        result = await coordinator.wait(run_id)
    assert result.ok


async def test_wait_times_out(registry: AgentRegistry, load: Load) -> None:
    definition = load("name: w\nsteps: {a: {agent: wait, with: {signal: go, timeout: 10ms}}}\n")
    async with Coordinator(registry) as coordinator:
        events = recorder(coordinator)
        result = await coordinator.run(definition)
    assert result.status == RunStatus.FAILED
    failed = [e.error for e in events if e.status == "failed" and e.step_id]
    assert failed == ["no 'go' signal within 0.01s"]


async def test_sub_workflow_runs_and_returns_outputs(
    registry: AgentRegistry, tmp_path: Any
) -> None:
    from mastermind.language.loader import load_file

    (tmp_path / "child.yaml").write_text(
        "name: child\ninputs: {x: {type: integer}}\n"
        "steps: {a: {agent: noop, with: {value: '${{ inputs.x * 10 }}'}}}\n"
        "outputs: {y: '${{ steps.a.outputs }}'}\n"
    )
    (tmp_path / "parent.yaml").write_text(
        "name: parent\nsteps:\n"
        "  call: {agent: workflow, for_each: '${{ [1, 2] }}',"
        " with: {workflow: child.yaml, inputs: {x: '${{ item }}'}}}\n"
        "outputs: {ys: '${{ steps.call.outputs }}'}\n"
    )
    definition = load_file(tmp_path / "parent.yaml", registry)
    async with Coordinator(registry) as coordinator:
        result = await coordinator.run(definition)
        runs = await coordinator.store.list_runs()
    assert result.ok and result.outputs == {"ys": [{"y": 10}, {"y": 20}]}
    children = [r for r in runs if r.workflow == "child"]
    assert len(children) == 2 and all(r.parent for r in children)


async def test_missing_sub_workflow_fails_the_step(registry: AgentRegistry, load: Load) -> None:
    definition = load("name: p\nsteps: {call: {agent: workflow, with: {workflow: nope.yaml}}}\n")
    async with Coordinator(registry) as coordinator:
        events = recorder(coordinator)
        result = await coordinator.run(definition)
    assert result.status == RunStatus.FAILED
    assert "no workflow 'nope.yaml'" in (events[-2].error or "")


async def test_context_carries_identity(registry: AgentRegistry, load: Load) -> None:
    definition = load("name: ctx\nsteps: {a: {agent: probe, for_each: '${{ [7, 8] }}'}}\n")
    async with Coordinator(registry) as coordinator:
        result = await coordinator.run(definition)
        probe = coordinator.registry.instance("probe")
    assert isinstance(probe, ProbeAgent)
    keys = sorted(ctx.idempotency_key for ctx in probe.contexts)
    assert keys == [f"{result.run_id}/a/0", f"{result.run_id}/a/1"]
    assert {ctx.attempt for ctx in probe.contexts} == {1}
    assert {ctx.workflow for ctx in probe.contexts} == {"ctx"}


async def test_closing_the_coordinator_stops_active_runs_but_leaves_them_resumable(
    registry: AgentRegistry, load: Load
) -> None:
    """Only an explicit cancel marks a run cancelled: closing stops the steps, writes nothing."""
    definition = load("name: c\nsteps: {hold: {agent: gate, with: {gate: hold}}}\n")
    coordinator = Coordinator(registry, settings=Settings(cancel_grace=1.0))
    async with coordinator:
        gate = coordinator.registry.instance("gate")
        assert isinstance(gate, GateAgent)
        run_id = await coordinator.submit(definition)
        await gate.started["hold"].wait()
    record = await coordinator.store.get_run(run_id)
    assert record is not None and record.status == "running"
    assert gate.running == 0 and gate.cancelled == [f"{run_id}/hold"]


async def test_services_outside_a_coordinator_refuse_clearly() -> None:
    from mastermind.engine.agent import StepContext
    from mastermind.engine.clock import SystemClock
    from mastermind.errors import StepError

    ctx = StepContext("r", "s", None, 1, "w", SystemClock())
    with pytest.raises(StepError, match="no process pool here"):
        await ctx.services.process_pool.run("math:sqrt", [4])
    with pytest.raises(StepError, match="no signals here"):
        await ctx.services.signals.receive("go")
    with pytest.raises(StepError, match="no sub-runs here"):
        await ctx.services.subruns.run_child("x.yaml", {}, key="r/s", attempt=1)


async def test_a_for_each_wider_than_max_items_fails_the_step_naming_the_limit(
    registry: AgentRegistry, load: Callable[[str], Definition]
) -> None:
    definition = load(
        "name: wide\ninputs: {items: {type: array}}\n"
        "steps:\n  each: {agent: noop, for_each: '${{ inputs.items }}', with: {value: 1}}\n"
    )
    async with Coordinator(registry, settings=Settings(max_items=3)) as coordinator:
        fits = await coordinator.run(definition, {"items": [1, 2, 3]})
        wide = await coordinator.run(definition, {"items": [1, 2, 3, 4]})
        steps = {s.step_id: s for s in await coordinator.store.steps(wide.run_id)}
    assert fits.ok
    assert wide.status == "failed"
    assert steps["each"].error == (
        "for_each: 4 items is more than limits.max_items (3); split the work or raise the limit"
    )
