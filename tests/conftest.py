"""Test harness: async tests run on uvloop in debug mode, with a deadline, and fail if they
leak a task or leave an exception unretrieved."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop
from hypothesis import settings

from mastermind.engine.agent import AgentRegistry
from mastermind.language.loader import Definition, load_text
from tests.agents_for_tests import register_all

ASYNC_TEST_TIMEOUT = 60.0

# Property tests explore the same cases on every run: the suite is deterministic. To explore
# new ones, run with HYPOTHESIS_PROFILE=explore.
settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))
ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--seed", type=int, action="append", help="fault simulation seed(s) to run (repeatable)"
    )
    parser.addoption(
        "--sim-store",
        choices=("memory", "sqlite"),
        action="append",
        help="the store the fault simulation runs --seed over (repeatable; default: both)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    loop_problems: list[dict[str, Any]] = []

    async def body() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: loop_problems.append(context))
        async with asyncio.timeout(ASYNC_TEST_TIMEOUT):
            await function(**kwargs)
        current = asyncio.current_task()
        leaked = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        for task in leaked:
            task.cancel()
        assert not leaked, f"test left tasks running: {leaked}"

    with asyncio.Runner(loop_factory=uvloop.new_event_loop, debug=True) as runner:
        runner.run(body())
    assert not loop_problems, f"event loop reported: {loop_problems}"
    return True


@pytest.fixture
def registry() -> AgentRegistry:
    """The built-in agents plus the scripted test agents (probe, gate, flaky, crash)."""
    return register_all(AgentRegistry(load_plugins=False))


@pytest.fixture
def load(registry: AgentRegistry) -> Callable[[str], Definition]:
    """Load a workflow from YAML text with the test registry."""

    def loader(text: str, file: str = "test.yaml") -> Definition:
        return load_text(text, file, registry)

    return loader


@pytest.fixture
def workflows_dir() -> Iterator[Path]:
    yield ROOT / "workflows"
