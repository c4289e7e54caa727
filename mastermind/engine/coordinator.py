"""The coordinator: accepts runs, runs each as a task, and owns what runs share.

Shared by every run in the process: the agent registry (one instance per agent), the store,
the concurrency limits (per agent kind and named pools, fair across runs), the event
subscribers, and the clock. Its lifecycle is an async context manager with a two-phase close:
running runs are cancelled and given `cancel_grace` seconds to clean up, then agents and the
store are closed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from secrets import token_hex
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mastermind.engine.agent import AgentRegistry, StepServices
from mastermind.engine.clock import Clock, SystemClock
from mastermind.engine.inflight import InFlight
from mastermind.engine.limits import Limits
from mastermind.engine.ownership import held_elsewhere
from mastermind.engine.processes import ProcessRecord, Unkillable, kill_recorded
from mastermind.engine.run import RunEnvironment, RunExecution, RunResult, StepRestore
from mastermind.engine.settings import Settings as Settings  # re-exported for callers
from mastermind.engine.subruns import CoordinatorSubRuns
from mastermind.errors import (
    MastermindError,
    StepError,
    StoreFailure,
    StoreUnavailable,
    WorkflowError,
)
from mastermind.errors import RunNotFound as RunNotFound  # re-exported for callers
from mastermind.language.inputs import resolve_inputs
from mastermind.language.loader import Definition, load_file, load_text
from mastermind.store.base import RunRecord, StepRecord, Store
from mastermind.store.events import Event, RunStatus, StepStatus
from mastermind.store.memory import MemoryStore

if TYPE_CHECKING:  # imported when a CPU step first needs it: multiprocessing costs cold start
    from mastermind.engine.dask_pool import DaskPool
    from mastermind.engine.process_pool import ProcessPool

Listener = Callable[[Event], None]
# Step outcomes whose attempt ended in its own process (nothing of it can be left running).
_ENDED = frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED})


class Coordinator:
    """Runs workflows. Use as `async with Coordinator(registry) as coordinator:`."""

    def __init__(
        self,
        registry: AgentRegistry,
        store: Store | None = None,
        *,
        settings: Settings | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        secrets: Mapping[str, str] | None = None,
        catalog: Mapping[str, Definition] | None = None,
    ) -> None:
        self.registry = registry
        self.store = store or MemoryStore()
        self.settings = settings or Settings()
        self.clock: Clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.secrets: Mapping[str, str] = dict(secrets or {})
        self.catalog: dict[str, Definition] = dict(catalog or {})
        self.limits = Limits(
            self.settings.agent_limits, self.settings.pools, self.settings.default_pool_size
        )
        self.log = logging.getLogger("mastermind")
        self._listeners: list[Listener] = []
        self._active: dict[str, RunExecution] = {}
        self._tasks: dict[str, asyncio.Task[RunResult]] = {}
        self._closing = False
        self._services: dict[str, StepServices] = {}
        self._process_pool: ProcessPool | None = None
        # step tasks in flight across the active runs, for the inspector
        self.inflight = InFlight(lambda: self._active.values(), self.clock.monotonic)
        self._dask_pool: DaskPool | None = None  # cpu steps with `executor: dask`
        self._ended: dict[str, RunResult | BaseException] = {}
        # the last store failure seen: (monotonic time, commits then, reason); see store_trouble
        self._store_failure: tuple[float, int, str] | None = None
        # short blocking chores (loading a definition) never wait behind agents' threads
        self._housekeeping = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mm-coordinator")
        self.environment = RunEnvironment(
            registry=registry,
            limits=self.limits,
            settings=self.settings,
            clock=self.clock,
            rng=self.rng,
            secrets=self.secrets,
            log=self.log,
            commit=self.emit,
            services=self.services_for,
            holds=self.store.holds,
        )

    # ------------------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Coordinator:
        await self.store.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop active runs without writing (they stay resumable: only an explicit cancel
        marks a run cancelled), bounded by cancel_grace; then close agents and the store."""
        if self._closing:
            return
        self._closing = True
        for execution in list(self._active.values()):
            execution.abandon("the process stopped; the run resumes at its next start")
        tasks = list(self._tasks.values())
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=self.settings.cancel_grace * 2)
            for task in stuck:  # abandoned runs write nothing more, so this cannot cancel them
                task.cancel()
        await self.registry.aclose()
        if self._process_pool is not None:
            await self._process_pool.aclose()
        if self._dask_pool is not None:
            await self._dask_pool.aclose()
        await self.store.close()
        self._housekeeping.shutdown(wait=False)

    # ------------------------------------------------------------------------------ events

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every event after it is committed; returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def emit(self, event: Event) -> None:
        """Commit an event to the store, then tell the listeners."""
        await self.store.append(event)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a broken listener must not break the run
                self.log.exception("event listener failed")

    # ------------------------------------------------------------------------------ runs

    async def submit(
        self,
        definition: Definition,
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        parent: str | None = None,
        trigger: str | None = None,
        depth: int = 0,
    ) -> str:
        """Accept a run: check inputs, store it, start it. Returns the run id at once.
        `parent`: the idempotency key of the step whose sub-run this is; `trigger`: what
        started it (a webhook, a cron fire), kept apart so that such runs resume like others."""
        if self._closing:
            raise MastermindError("the coordinator is shutting down")
        resolved = resolve_inputs(definition.spec, inputs or {})
        run_id = run_id or new_run_id()
        record = RunRecord(
            run_id=run_id,
            workflow=definition.name,
            digest=definition.digest,
            definition=definition.text,
            file=definition.location or definition.file,  # sub-workflows resolve from here
            inputs=resolved,
            created_at=self.clock.time(),
            parent=parent,
            trigger=trigger,
        )
        await self.store.create_run(record, claim=True)  # held by this process from the start
        if await self.store.claim_run(run_id):
            self._start(RunExecution(self.environment, definition, run_id, resolved, depth=depth))
        return run_id

    def _start(self, execution: RunExecution) -> None:
        run_id = execution.run_id
        self._active[run_id] = execution
        task = asyncio.get_running_loop().create_task(execution.execute(), name=f"run:{run_id}")
        self._tasks[run_id] = task

        def forget(done: asyncio.Task[RunResult]) -> None:
            self._services.pop(run_id, None)
            self._active.pop(run_id, None)
            self._tasks.pop(run_id, None)
            if done.cancelled():
                return
            error = done.exception()
            if error is not None:
                # e.g. the store failed: the run stays unfinished in the store, resumable
                self.log.error("run %s stopped: %s", run_id, error, exc_info=error)
                if isinstance(error, StoreFailure | StoreUnavailable):
                    self.note_store_failure(error)
                self._ended[run_id] = error
            else:
                self._ended[run_id] = done.result()
            while len(self._ended) > 10_000:  # remember recent outcomes for late waiters
                self._ended.pop(next(iter(self._ended)))

        task.add_done_callback(forget)

    def note_store_failure(self, error: BaseException) -> None:
        """Remember that the store refused a write (readiness reports it until it commits again)."""
        self._store_failure = (time.monotonic(), self.store.commits, str(error))

    def store_trouble(self, within: float = 60.0) -> str | None:
        """Why the store is unusable, if it refused a write in the last `within` seconds and has
        committed nothing since; None when it looks healthy."""
        failure = self._store_failure
        if failure is None:
            return None
        at, commits, reason = failure
        if self.store.commits != commits or time.monotonic() - at > within:
            self._store_failure = None
            return None
        return reason

    async def wait(self, run_id: str) -> RunResult:
        """Wait for a run to end (bound it with asyncio.timeout); its result if already ended."""
        task = self._tasks.get(run_id)
        if task is None:
            ended = self._ended.get(run_id)
            if isinstance(ended, BaseException):
                raise MastermindError(f"run {run_id} stopped: {ended}")
            if ended is not None:
                return ended
            record = await self.store.get_run(run_id)
            if record is None or not record.finished:
                raise RunNotFound(f"no active run {run_id}")
            return RunResult(run_id, RunStatus(record.status), record.outputs, record.error)
        return await asyncio.shield(task)

    async def run(
        self, definition: Definition, inputs: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> RunResult:
        """Submit a run and wait for its end; cancelling this call cancels the run."""
        run_id = await self.submit(definition, inputs, **kwargs)
        try:
            return await self.wait(run_id)
        except asyncio.CancelledError:
            task = self._tasks.get(run_id)
            if task is not None:
                task.cancel()
                await asyncio.wait([task], timeout=self.settings.cancel_grace * 2)
            raise

    def cancel(self, run_id: str) -> bool:
        """Ask an active run to stop; False if it is not active here."""
        execution = self._active.get(run_id)
        if execution is None:
            return False
        execution.cancel()
        return True

    def abandon(self, run_id: str, reason: str | None = None) -> bool:
        """Stop an active run without writing anything (its lease went to another daemon, or
        this process stops): its steps are cancelled, and the store still shows it running."""
        execution = self._active.get(run_id)
        if execution is None:
            return False
        execution.abandon(reason)
        return True

    def signal(self, run_id: str, name: str, payload: Any = None) -> bool:
        """Deliver a named signal to an active run; False if it is not active here."""
        execution = self._active.get(run_id)
        if execution is None:
            return False
        execution.signals.deliver(name, payload)
        return True

    async def resume(self, run_id: str, *, depth: int = 0) -> str:
        """Continue an unfinished run from the store: finished steps keep their outcome, steps
        that were running run again with the same idempotency keys (at-least-once), and
        at_most_once steps that were running wait for a decision (signal decide.<step>)."""
        if run_id in self._active:
            return run_id
        record = await self.store.adopt(run_id)
        if record is None:
            raise RunNotFound(f"no run {run_id} in the store")
        if record.finished:
            raise MastermindError(f"run {run_id} already {record.status}")
        definition = await asyncio.get_running_loop().run_in_executor(
            self._housekeeping, load_text, record.definition, record.file, self.registry
        )
        records = await self.store.steps(run_id)
        await self._kill_leftovers(run_id, records)
        restore = restore_plan(definition, records)
        execution = RunExecution(
            self.environment,
            definition,
            run_id,
            record.inputs,
            restore=restore,
            seq=record.last_seq,
            depth=depth,
        )
        self._start(execution)
        return run_id

    async def _kill_leftovers(self, run_id: str, records: list[StepRecord]) -> None:
        """Before an interrupted step runs again: kill what its last attempt started that is
        still running on this machine, and stop its Dask tasks (at most one live attempt per
        step). Raises MastermindError if a Dask task cannot be confirmed stopped."""
        recorded = [
            process
            for record in records
            if record.status not in _ENDED
            for process in record.processes
        ]
        tasks = [(str(p["dask"]), str(p["scheduler"])) for p in recorded if "dask" in p]
        if tasks:  # on the cluster: any machine that reaches the scheduler can stop them
            await self.dask_pool.stop_leftovers(tasks)
            self.log.warning(
                "run %s: stopped Dask task(s) of interrupted attempts: %s", run_id, tasks
            )
        leftovers = [ProcessRecord.from_dict(p) for p in recorded if "dask" not in p]
        if not leftovers:
            return
        try:
            killed = await asyncio.to_thread(kill_recorded, leftovers)
        except Unkillable as exc:  # the step must not run again beside its last attempt
            raise MastermindError(
                f"run {run_id}: an interrupted attempt may still be running ({exc}): "
                "the step does not run again until it has stopped; resume the run later"
            ) from None
        if killed:
            self.log.warning(
                "run %s: killed %d process(es) an interrupted attempt left running: %s",
                run_id,
                len(killed),
                killed,
            )

    async def resume_unfinished(
        self, run_ids: list[str] | None = None
    ) -> tuple[list[str], dict[str, str]]:
        """Resume the given runs, or every unfinished top-level run (sub-runs are resumed by
        their parent step). Runs another live process on this machine owns are left to it.
        Returns the runs resumed and, for the others, why not."""
        if run_ids is None:
            unfinished = await self.store.unfinished_runs()
            run_ids = [r.run_id for r in unfinished if r.parent is None]
            run_ids += [r.run_id for r in unfinished if await self._orphaned(r)]
        resumed: list[str] = []
        skipped: dict[str, str] = {}
        for run_id in run_ids:
            owner = await self.store.owner_of(run_id)
            if owner is not None and held_elsewhere(owner):
                skipped[run_id] = f"being run by {owner}"
                continue
            try:
                await self.resume(run_id)
            except MastermindError as exc:
                skipped[run_id] = str(exc)
                continue
            resumed.append(run_id)
        return resumed, skipped

    async def _orphaned(self, run: RunRecord) -> bool:
        """A sub-run whose parent run has ended: no parent step will rejoin it (its step was
        cancelled, say, while the child's own end was never recorded), so it resumes alone."""
        if run.parent is None:
            return False
        parent = await self.store.get_run(run.parent.split("/", 1)[0])
        return parent is None or parent.finished

    async def resolve_workflow(self, reference: str, relative_to: str) -> Definition:
        """A sub-workflow: a name in the catalog, or a file path relative to the caller's file."""
        found = self.catalog.get(reference)
        if found is not None:
            return found
        path = Path(reference)
        if not path.is_absolute():
            path = Path(relative_to).parent / path
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._housekeeping, load_file, path, self.registry
            )
        except WorkflowError as exc:
            if not path.exists():
                raise StepError(
                    f"no workflow {reference!r}: not a known name, and no file {path}"
                ) from None
            raise StepError(f"sub-workflow {path} is invalid:\n{exc}") from None

    def ready_depth(self) -> int:
        """Step instances queued in active runs, waiting for a concurrency slot."""
        return sum(execution.ready_depth for execution in self._active.values())

    def steps_running(self) -> dict[str, int]:
        """Attempts inside an agent right now, by agent kind (counted where they run, so the
        figure cannot drift from the truth however an attempt ends)."""
        total: dict[str, int] = {}
        for execution in self._active.values():
            for agent, count in execution.running.items():
                total[agent] = total.get(agent, 0) + count
        return total

    @property
    def active_runs(self) -> list[str]:
        return list(self._active)

    @property
    def process_pool(self) -> ProcessPool:
        """The shared pool for CPU-bound steps, started on first use."""
        if self._process_pool is None:
            from mastermind.engine.process_pool import ProcessPool

            self._process_pool = ProcessPool(self.settings.process_pool_size)
        return self._process_pool

    @property
    def dask_pool(self) -> DaskPool:
        """The shared Dask clients for cpu steps with `executor: dask`, made on first use
        (distributed itself is imported only when a step connects)."""
        if self._dask_pool is None:
            from mastermind.engine.dask_pool import DaskPool

            self._dask_pool = DaskPool()
        return self._dask_pool

    @property
    def started_process_pool(self) -> ProcessPool | None:
        """The process pool if a CPU step has needed it (for metrics)."""
        return self._process_pool

    def services_for(self, execution: RunExecution) -> StepServices:
        """What agents of this run may use: its signals, the process pool, the Dask cluster,
        sub-runs."""
        found = self._services.get(execution.run_id)
        if found is None or found.signals is not execution.signals:
            found = StepServices(
                process_pool=_PoolOnDemand(self),
                signals=execution.signals,
                subruns=CoordinatorSubRuns(self, execution),
                cluster=_ClusterOnDemand(self),
            )
            self._services[execution.run_id] = found
        return found


class _PoolOnDemand:
    """The coordinator's process pool, created when a step first runs something in it (most
    runs never do, and `multiprocessing` is a noticeable part of a cold start)."""

    __slots__ = ("_coordinator",)

    def __init__(self, coordinator: Coordinator) -> None:
        self._coordinator = coordinator

    async def run(
        self,
        reference: str,
        args: list[Any] | tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        started: Callable[[int], Awaitable[None]] | None = None,
    ) -> Any:
        pool = self._coordinator.process_pool
        return await pool.run(reference, args, kwargs, started=started)


class _ClusterOnDemand:
    """The coordinator's Dask pool, created when a step first asks for it."""

    __slots__ = ("_coordinator",)

    def __init__(self, coordinator: Coordinator) -> None:
        self._coordinator = coordinator

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
        pool = self._coordinator.dask_pool
        return await pool.run(
            reference, args, kwargs, key=key, scheduler=scheduler, submitting=submitting
        )


def new_run_id() -> str:
    """A unique run id that sorts by creation time (48-bit milliseconds, then 80 random bits)."""
    return f"{time.time_ns() // 1_000_000:012x}{token_hex(10)}"


def restore_plan(definition: Definition, records: list[StepRecord]) -> dict[str, StepRestore]:
    """What a crashed run's stored step records mean for its resumption."""
    plan: dict[str, StepRestore] = {}
    for record in records:
        step = definition.steps.get(record.step_id)
        if step is None:
            continue
        restore = plan.setdefault(record.step_id, StepRestore())
        whole = record.item_index is None
        status = StepStatus(record.status)
        if whole and status.finished:
            restore.status, restore.outputs, restore.error = status, record.outputs, record.error
            continue
        if not whole and status in (StepStatus.SUCCEEDED, StepStatus.FAILED):
            restore.finished[int(record.item_index or 0)] = (status, record.outputs)
            continue
        if whole and step.for_each is not None:
            continue  # an unfinished fan-out: its items say what is left
        index = record.item_index
        # interrupted mid-attempt: running, cancelled by a shutdown, or already unknown
        running = status in (StepStatus.RUNNING, StepStatus.CANCELLED, StepStatus.UNKNOWN)
        if status == StepStatus.QUEUED or record.attempt == 0:
            restore.attempts[index] = 1  # nothing ran yet
        else:
            # the interrupted attempt runs again under its own number; after a failed attempt
            # (retrying) the next one is due
            restore.attempts[index] = record.attempt + (0 if running else 1)
        if running and step.spec.effect == "at_most_once":
            restore.unknown.add(index)
    return plan
