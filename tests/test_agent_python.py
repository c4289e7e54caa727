"""The `python` agent: plain functions in a thread or, with `inline: true`, on the loop;
`module:function` resolved once, not once per item of a fan-out."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

import agents.python
from mastermind.engine.agent import AgentRegistry
from mastermind.engine.coordinator import Coordinator
from mastermind.language.loader import Definition

Load = Callable[[str], Definition]


def thread_id() -> int:
    """Which thread ran the call."""
    return threading.get_ident()


async def _later(value: int) -> int:
    return value * 2


def returns_awaitable(value: int) -> Any:
    """A plain function that returns an awaitable: the agent awaits it."""
    return _later(value)


def _flow(inline: bool, items: int = 0) -> str:
    listed = ", ".join(str(i) for i in range(items))
    fan = f", for_each: '${{{{ [{listed}] }}}}'" if items else ""
    flag = ", inline: true" if inline else ""
    return (
        "name: where\n"
        f"steps: {{a: {{agent: python{fan}, with: "
        f"{{function: 'tests.test_agent_python:thread_id'{flag}}}}}}}\n"
    )


async def test_a_plain_function_runs_in_a_thread_by_default(
    registry: AgentRegistry, load: Load
) -> None:
    async with Coordinator(registry) as coordinator:
        result = await coordinator.run(load(_flow(inline=False)))
    assert result.ok, result.error
    assert result.steps == {"a": "succeeded"}
    outputs = await _outputs(coordinator, result.run_id)
    assert outputs != threading.get_ident()


async def test_inline_runs_the_function_on_the_event_loop(
    registry: AgentRegistry, load: Load
) -> None:
    async with Coordinator(registry) as coordinator:
        result = await coordinator.run(load(_flow(inline=True, items=3)))
    assert result.ok, result.error
    assert await _outputs(coordinator, result.run_id) == [threading.get_ident()] * 3


async def test_inline_awaits_an_awaitable_result(registry: AgentRegistry, load: Load) -> None:
    definition = load(
        "name: aw\nsteps: {a: {agent: python, with: {function: "
        "'tests.test_agent_python:returns_awaitable', args: [21], inline: true}}}\n"
    )
    async with Coordinator(registry) as coordinator:
        result = await coordinator.run(definition)
        assert result.ok, result.error
        assert await _outputs(coordinator, result.run_id) == 42


async def test_the_function_is_resolved_once_for_a_whole_fan_out(
    registry: AgentRegistry, load: Load, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolved: list[str] = []
    from mastermind.engine.agent import import_callable as real

    def counting(reference: str, folder: str | None = None) -> Callable[..., Any]:
        resolved.append(reference)
        return real(reference, folder)

    monkeypatch.setattr(agents.python, "import_callable", counting)
    async with Coordinator(registry) as coordinator:
        result = await coordinator.run(load(_flow(inline=True, items=50)))
        again = await coordinator.run(load(_flow(inline=False, items=5)))
    assert result.ok and again.ok
    assert resolved == ["tests.test_agent_python:thread_id"]


async def test_a_failed_import_fails_the_step_and_is_not_remembered(
    registry: AgentRegistry, load: Load
) -> None:
    definition = load(
        "name: missing\nsteps: {a: {agent: python, with: "
        "{function: 'tests.no_such_module_here:f', inline: true}}}\n"
    )
    async with Coordinator(registry) as coordinator:
        first = await coordinator.run(definition)
        second = await coordinator.run(definition)
        agent = coordinator.registry.instance("python")
        assert isinstance(agent, agents.python.PythonAgent)
        assert all(ref != "tests.no_such_module_here:f" for ref, _ in agent._resolved)
        for result in (first, second):
            assert result.steps == {"a": "failed"}
            steps = await coordinator.store.steps(result.run_id)
            error = next(s.error for s in steps if s.item_index is None)
            assert "cannot import tests.no_such_module_here:f" in (error or "")


async def _outputs(coordinator: Coordinator, run_id: str) -> Any:
    record = await coordinator.store.get_run(run_id)
    assert record is not None
    steps = await coordinator.store.steps(run_id)
    whole = [s for s in steps if s.step_id == "a" and s.item_index is None]
    return whole[0].outputs
