"""The public Python API (re-exported by `import mastermind`): load, run, embed, add agents.

A thin facade over the engine: `Coordinator` here picks and opens a store (the embedded SQLite
state directory by default, memory, or PostgreSQL), builds the agent registry (built-ins,
plug-ins, and functions registered with `@mastermind.agent`), and hands back plain `Result`s.
Everything it returns is documented in docs/python-api.md and stays stable across minor versions.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from mastermind.engine.agent import Agent, AgentRegistry
from mastermind.engine.coordinator import Coordinator as EngineCoordinator
from mastermind.engine.function_agent import AsyncFunction, function_agent
from mastermind.engine.run import RunResult
from mastermind.engine.runtime import run_with_loop
from mastermind.engine.settings import Settings
from mastermind.errors import MastermindError
from mastermind.language.loader import Definition, load_file, load_text
from mastermind.store.base import Store

Workflow = Definition  # what `load` returns: a checked workflow, ready to run
F = TypeVar("F", bound=AsyncFunction)

# Agents registered with @mastermind.agent in this process, by name.
_registered: dict[str, type[Agent[Any]]] = {}


def agent(
    name: str | None = None, *, retry_on: tuple[type[BaseException], ...] = ()
) -> Callable[[F], F]:
    """Register an `async def` function as an agent (named after it unless `name` is given).

    Its parameters are the step's `with:` (checked against their annotations when a workflow is
    loaded); a parameter annotated `StepContext` receives the step's context. `retry_on` lists
    exceptions another attempt may cure. The function itself is returned unchanged.
    """

    def register(function: F) -> F:
        built = function_agent(function, name, retry_on=retry_on)
        _registered[built.name] = built
        return function

    return register


def registry(*, load_plugins: bool = True) -> AgentRegistry:
    """An agent registry: built-ins, installed plug-ins and every `@mastermind.agent` function."""
    found = AgentRegistry(load_plugins=load_plugins)
    for name, agent_class in _registered.items():
        found.register(agent_class, name)
    return found


def load(path: str | os.PathLike[str], *, agents: AgentRegistry | None = None) -> Workflow:
    """Load and check a workflow file; raises `WorkflowError` listing every problem.
    Agent names are checked against `agents` (default: `registry()`)."""
    return load_file(Path(path), agents or registry())


def loads(text: str, name: str = "<string>", *, agents: AgentRegistry | None = None) -> Workflow:
    """Load and check a workflow from text; `name` stands for the file in error messages."""
    return load_text(text, name, agents or registry())


@dataclass(frozen=True, slots=True)
class Result:
    """How a run ended: `status` is succeeded, failed or cancelled; `outputs` holds what the
    run could compute (also when it failed); `steps` maps each step id to its final status."""

    run_id: str
    status: str
    outputs: Any = None
    error: str | None = None
    steps: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @classmethod
    def from_engine(cls, result: RunResult) -> Result:
        return cls(
            result.run_id,
            str(result.status),
            result.outputs,
            result.error,
            {step: str(status) for step, status in result.steps.items()},
        )


class Coordinator:
    """Runs workflows in this process: `async with mastermind.Coordinator() as c:`.

    Store: `state_dir=` (embedded SQLite; default $MASTERMIND_STATE_DIR or
    ~/.local/state/mastermind), `memory=True` (nothing kept), or `dsn=` (PostgreSQL, needs the
    `mastermind[postgres]` extra). At most one of them.
    """

    def __init__(
        self,
        *,
        state_dir: str | os.PathLike[str] | None = None,
        memory: bool = False,
        dsn: str | None = None,
        schema: str = "mastermind",
        settings: Settings | None = None,
        secrets: Mapping[str, str] | None = None,
        agents: AgentRegistry | None = None,
    ) -> None:
        if sum((state_dir is not None, memory, dsn is not None)) > 1:
            raise ValueError("choose one store: state_dir=, memory=True or dsn=")
        self.engine = EngineCoordinator(
            agents or registry(),
            _store(state_dir, memory, dsn, schema),
            settings=settings,
            secrets=secrets,
        )

    async def __aenter__(self) -> Coordinator:
        await self.engine.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.engine.aclose()

    async def run(
        self,
        flow: Workflow | str | os.PathLike[str],
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
    ) -> Result:
        """Run a workflow (or a workflow file) to its end; cancelling this call cancels it."""
        return Result.from_engine(
            await self.engine.run(self._definition(flow), inputs, run_id=run_id)
        )

    async def submit(
        self,
        flow: Workflow | str | os.PathLike[str],
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
    ) -> str:
        """Start a run and return its id at once (see `wait`)."""
        return await self.engine.submit(self._definition(flow), inputs, run_id=run_id)

    async def wait(self, run_id: str) -> Result:
        """Wait for a run started here to end (bound it with asyncio.timeout)."""
        return Result.from_engine(await self.engine.wait(run_id))

    async def resume(self, run_id: str) -> Result:
        """Continue an unfinished run from the store and wait for its end."""
        return Result.from_engine(await self.engine.wait(await self.engine.resume(run_id)))

    def signal(self, run_id: str, name: str, payload: Any = None) -> bool:
        """Send a signal to an active run (e.g. `approve`); False if it is not active here."""
        return self.engine.signal(run_id, name, payload)

    def cancel(self, run_id: str) -> bool:
        """Ask an active run to stop; False if it is not active here."""
        return self.engine.cancel(run_id)

    def _definition(self, flow: Workflow | str | os.PathLike[str]) -> Workflow:
        if isinstance(flow, Definition):
            return flow
        return load_file(Path(flow), self.engine.registry)


def run(
    path: str | os.PathLike[str],
    inputs: Mapping[str, Any] | None = None,
    *,
    state_dir: str | os.PathLike[str] | None = None,
    memory: bool = False,
    dsn: str | None = None,
) -> Result:
    """For scripts: load a workflow file and run it to its end on a loop of its own.

    Not for code that already runs an event loop: use `async with Coordinator()` there.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise MastermindError("mastermind.run() starts its own loop: await Coordinator.run()")
    flow = load(path)

    async def main() -> Result:
        async with Coordinator(state_dir=state_dir, memory=memory, dsn=dsn) as coordinator:
            return await coordinator.run(flow, inputs)

    result: Result = run_with_loop(main())
    return result


def _store(
    state_dir: str | os.PathLike[str] | None, memory: bool, dsn: str | None, schema: str
) -> Store:
    if memory:
        from mastermind.store.memory import MemoryStore

        return MemoryStore()
    if dsn is not None:
        from mastermind.store.postgres import PostgresStore

        return PostgresStore(dsn, schema=schema)
    from mastermind.store.sqlite import SqliteStore
    from mastermind.store.state_dir import default_state_dir

    return SqliteStore(Path(state_dir) if state_dir is not None else default_state_dir())
