"""The Agent interface every step runs through, and the registry that finds agents by name.

An agent is a class with a pydantic parameter model (`Params`, validated against a step's `with:`
at load time and again, rendered, at run time), an async `run`, a rule for which errors are worth
retrying, and a flag saying whether it is CPU-bound (so limits and the process pool can account
for it). Built-in agents live in the top-level `agents` package; third-party packages add theirs
through the entry-point group `mastermind.agents`.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from importlib.machinery import PathFinder
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from mastermind.errors import StepError, UnknownAgentError

if TYPE_CHECKING:
    from mastermind.engine.clock import Clock

ENTRY_POINT_GROUP = "mastermind.agents"

# Built-in agents by name, imported only when a workflow uses them (keeps cold start short).
BUILTIN_AGENTS: dict[str, str] = {
    "sleep": "agents.sleep:SleepAgent",
    "wait": "agents.wait:WaitAgent",
    "workflow": "agents.workflow:WorkflowAgent",
    "python": "agents.python:PythonAgent",
    "shell": "agents.shell:ShellAgent",
    "cpu": "agents.cpu:CpuAgent",
    "http": "agents.http:HttpAgent",
    "llm": "agents.llm:LlmAgent",
    "socratic": "agents.socratic:SocraticAgent",
    "noop": "agents.noop:NoopAgent",
    "fail": "agents.noop:FailAgent",
}

log = logging.getLogger(__name__)


class Params(BaseModel):
    """Base of agent parameter models: unknown parameters are errors, like everywhere else.

    Validators are built when an agent is first looked up (`AgentRegistry.get`), not when its
    module is imported: a module defines several models (`noop` and `fail`) and a run uses one.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class NoParams(Params):
    """For agents that take no parameters."""


class CpuPool(Protocol):
    """Runs `module:function` in a worker process, so CPU work never blocks the event loop."""

    async def run(
        self,
        reference: str,
        args: list[Any] | tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        started: Callable[[int], Awaitable[None]] | None = None,
    ) -> Any:
        """The function's return value; cancelling stops (and replaces) the worker. `started`
        is awaited with the worker's pid before the call is sent to it."""
        ...


class ClusterPool(Protocol):
    """Runs `module:function` on a Dask cluster (the `cpu` agent's `executor: dask`)."""

    async def run(
        self,
        reference: str,
        args: list[Any] | tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        key: str,
        scheduler: str | None = None,
        submitting: Callable[[str], Awaitable[None]] | None = None,
    ) -> Any:
        """The function's return value. `key` names the task on the cluster (pass the step's
        idempotency key and attempt); `scheduler` overrides the configured address; cancelling
        cancels the task and stops the worker thread running it. `submitting` is awaited with
        the scheduler's address before the task is submitted (to record it)."""
        ...


class SignalInbox(Protocol):
    """The run's mailbox: signals sent to the run, buffered until a step asks."""

    async def receive(self, name: str) -> Any:
        """The next payload sent as `name` (bound the wait with asyncio.timeout)."""
        ...


class ProcessRecorder(Protocol):
    """Where an agent declares each process it starts, before the process does any work."""

    async def started(self, pid: int, *, group: bool) -> None:
        """Commit that this attempt started process `pid` (with `group`, the process group it
        leads). Only after this returns may the process work: if the step is interrupted, the
        next owner on this machine kills it before the step runs again. Raises if the attempt
        may not go on (the run stopped here): kill the process then."""
        ...

    async def task(self, key: str, scheduler: str) -> None:
        """Commit that this attempt is about to submit Dask task `key` to `scheduler`. Only
        after this returns may the task be submitted: if the step is interrupted, the next owner
        (on any machine that reaches the scheduler) stops it before the step runs again. Raises
        if the attempt may not go on: submit nothing then."""
        ...


class _NotRecorded:
    """Outside a coordinator there is no store to record processes in."""

    async def started(self, pid: int, *, group: bool) -> None:
        return None

    async def task(self, key: str, scheduler: str) -> None:
        return None


@dataclass(frozen=True, slots=True)
class SubRunOutcome:
    """How a sub-run ended."""

    run_id: str
    workflow: str
    status: str
    outputs: Any
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"


class SubRuns(Protocol):
    """Runs other workflows as children of the current run."""

    async def run_child(
        self, workflow: str, inputs: Mapping[str, Any], *, key: str, attempt: int
    ) -> SubRunOutcome:
        """Start the child run of attempt `attempt` of the step instance whose idempotency key
        is `key` (or rejoin it after a restart), wait for its end; cancelling the call cancels
        the child. `workflow` is a name or a path relative to the calling workflow's file."""
        ...


class _Unavailable:
    """What a context built outside a coordinator offers: nothing, said clearly."""

    def __init__(self, what: str) -> None:
        self.what = what

    def _refuse(self) -> StepError:
        return StepError(f"no {self.what} here: this step runs outside a coordinator")

    async def run(
        self,
        reference: str,
        args: list[Any] | tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        started: Callable[[int], Awaitable[None]] | None = None,
    ) -> Any:
        raise self._refuse()

    async def receive(self, name: str) -> Any:
        raise self._refuse()

    async def run_child(
        self, workflow: str, inputs: Mapping[str, Any], *, key: str, attempt: int
    ) -> SubRunOutcome:
        raise self._refuse()


class _UnavailableCluster:
    async def run(
        self,
        reference: str,
        args: list[Any] | tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        key: str,
        scheduler: str | None = None,
        submitting: Callable[[str], Awaitable[None]] | None = None,
    ) -> Any:
        raise StepError("no Dask cluster here: this step runs outside a coordinator")


@dataclass(frozen=True, slots=True)
class StepServices:
    """Everything beyond its parameters that an agent may use: the typed seam to the engine."""

    process_pool: CpuPool
    signals: SignalInbox
    subruns: SubRuns
    cluster: ClusterPool = field(default_factory=_UnavailableCluster)

    @classmethod
    def unavailable(cls) -> StepServices:
        """Services that refuse with a clear error (for agents called outside a coordinator)."""
        return cls(_Unavailable("process pool"), _Unavailable("signals"), _Unavailable("sub-runs"))


@dataclass(slots=True)
class StepContext:
    """What an agent knows about the step instance it is running."""

    run_id: str
    step_id: str
    item_index: int | None
    attempt: int
    workflow: str
    clock: Clock
    deadline: float | None = None  # clock time by which this attempt must end, if any
    secrets: Mapping[str, str] = field(default_factory=dict)
    services: StepServices = field(default_factory=StepServices.unavailable)
    logger: logging.Logger = log
    processes: ProcessRecorder = field(default_factory=_NotRecorded)
    workflow_file: str = ""  # the workflow's file (its folder is on `python` steps' import path)

    @property
    def idempotency_key(self) -> str:
        """Stable across attempts and restarts: the same for every attempt of this instance."""
        suffix = "" if self.item_index is None else f"/{self.item_index}"
        return f"{self.run_id}/{self.step_id}{suffix}"


P = TypeVar("P", bound=Params)


class Agent(ABC, Generic[P]):
    """A kind of work. One instance serves every step of that kind in a process."""

    name: ClassVar[str]
    Params: ClassVar[type[Params]] = NoParams
    cpu_bound: ClassVar[bool] = False
    # Parameters that must be written literally: no ${{ }} (e.g. a shell command's text).
    literal_fields: ClassVar[tuple[str, ...]] = ()
    # Sample `with:` mappings, shown by editors from the JSON Schema (`mastermind schema`).
    examples: ClassVar[tuple[dict[str, Any], ...]] = ()
    # Errors besides StepError(retryable=True) that another attempt may cure.
    retryable_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    @abstractmethod
    async def run(self, params: P, ctx: StepContext) -> Any:
        """Do the work once; return JSON-able data (the step's `result`) or raise."""

    def is_retryable(self, error: BaseException) -> bool:
        """Whether a failed attempt may be tried again."""
        if isinstance(error, StepError):
            return error.retryable
        return isinstance(error, self.retryable_errors)

    async def aclose(self) -> None:
        """Release what the agent holds (sessions, pools). Called once when the process is done."""


class AgentRegistry:
    """Agents by name: the built-ins, anything registered in code, and installed plug-ins."""

    def __init__(
        self,
        *,
        load_plugins: bool = True,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.settings = {name: dict(values) for name, values in (settings or {}).items()}
        self._classes: dict[str, type[Agent[Any]]] = {}
        self._paths: dict[str, str] = dict(BUILTIN_AGENTS)
        self._instances: dict[str, Agent[Any]] = {}
        self._plugins_loaded = not load_plugins

    def register(self, agent: type[Agent[Any]], name: str | None = None) -> None:
        """Make an agent class available under its name (or `name`)."""
        key = name or agent.name
        self._classes[key] = agent
        self._instances.pop(key, None)

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from importlib.metadata import entry_points  # costs ~20 ms: only when a name is unknown

        for entry in entry_points(group=ENTRY_POINT_GROUP):
            self._paths.setdefault(entry.name, entry.value)

    def names(self) -> list[str]:
        """Every agent name known, plug-ins included."""
        self._load_plugins()
        return sorted({*self._classes, *self._paths})

    def get(self, name: str) -> type[Agent[Any]]:
        """The agent class registered as `name`; UnknownAgentError if there is none."""
        found = self._classes.get(name)
        if found is not None:
            return found
        if name not in self._paths:
            self._load_plugins()
        path = self._paths.get(name)
        if path is None:
            raise UnknownAgentError(
                f"unknown agent {name!r}; known agents: {', '.join(self.names())}"
            )
        agent = _import(path)
        if not (isinstance(agent, type) and issubclass(agent, Agent)):
            raise UnknownAgentError(f"{path} (agent {name!r}) is not a mastermind Agent class")
        if not agent.Params.__pydantic_complete__:
            agent.Params.model_rebuild()  # deferred (Params): a bad model fails here, as at import
        self._classes[name] = agent
        return agent

    def instance(self, name: str) -> Agent[Any]:
        """The one shared instance of agent `name`."""
        agent = self._instances.get(name)
        if agent is None:
            agent = self._instances[name] = self.get(name)(**self.settings.get(name, {}))
        return agent

    async def aclose(self) -> None:
        """Close every agent instance that was created."""
        instances, self._instances = list(self._instances.values()), {}
        for agent in instances:
            try:
                await agent.aclose()
            except Exception:  # one agent's failure to close must not leak the others
                log.exception("closing agent %s failed", agent.name)


def _import(path: str) -> Any:
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attribute) if attribute else module
    except (ImportError, AttributeError) as exc:
        raise UnknownAgentError(f"cannot load agent {path}: {exc}") from None


def import_callable(reference: str, folder: str | None = None) -> Callable[..., Any]:
    """Resolve `package.module:function` (as written in a step) to a callable: from the
    environment, else from `folder` (the workflow file's folder)."""
    module_name, sep, attribute = reference.partition(":")
    if not sep or not module_name or not attribute:
        raise StepError(f"expected module:function, found {reference!r}")
    try:
        target: Any = _import_module(module_name, folder)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        where = f" (nor from {folder})" if folder else ""
        raise StepError(f"cannot import {reference}{where}: {exc}") from None
    if not callable(target):
        raise StepError(f"{reference} is not callable")
    return target  # type: ignore[no-any-return]


def _import_module(name: str, folder: str | None) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        top = name.partition(".")[0]
        if folder is None or exc.name != top:
            raise
        spec = PathFinder.find_spec(top, [folder])  # the top-level module or package, only there
        if spec is None or spec.loader is None:
            raise
        with _folder_imports:
            if top not in sys.modules:
                module = importlib.util.module_from_spec(spec)
                sys.modules[top] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    del sys.modules[top]
                    raise
        return importlib.import_module(name)  # a submodule imports through the package's path


_folder_imports = threading.Lock()  # python steps import from worker threads too


def process_tools() -> ModuleType:
    """`mastermind.engine.processes` (child subreapers, parent-death signals, killing a
    process tree), for agents that start processes; imported on first use."""
    from mastermind.engine import processes

    return processes
