"""One run in flight: event-driven scheduling of its steps as asyncio tasks.

Follow a step from YAML to result here:
1. `execute` starts every step with no `needs` (`_advance`).
2. `_start_step` decides: skipped (upstream failed, `if:` false), failed (a bad expression), or
   queued as one instance, or one per `for_each` item.
3. `_pump` turns queued instances into tasks while the run's `concurrency` allows.
4. `_run_instance` → `_attempts`: render `with:`, validate it with the agent's Params model, hold
   the agent-kind and pool limits, call `agent.run` under the attempt timeout, retry with backoff
   when the agent says the error is retryable.
5. When a step's last instance ends, `_finish_step` records its outputs (in item order) and
   `_release` hands its dependents to `_advance`: no polling anywhere.
Every transition goes through `RunEnvironment.commit` (`Coordinator.emit`), which commits it
to the store before anything acts on it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from mastermind.engine.agent import StepContext
from mastermind.engine.clock import SystemClock
from mastermind.engine.processes import describe
from mastermind.engine.retry import NO_RETRY, backoff_delay
from mastermind.engine.signals import SignalBox
from mastermind.errors import (
    EventOutOfOrder,
    MastermindError,
    OutputRejected,
    StaleLease,
    StepError,
    StoreFailure,
)
from mastermind.language.expressions import STATUS_KEY
from mastermind.language.templates import render_partial
from mastermind.store.events import Event, RunStatus, StepStatus

if TYPE_CHECKING:
    import logging
    import random
    from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping

    from mastermind.engine.agent import AgentRegistry, StepServices
    from mastermind.engine.clock import Clock
    from mastermind.engine.limits import FairLimiter, Limits
    from mastermind.engine.settings import Settings
    from mastermind.language.loader import CompiledStep, Definition


_STARTS_PER_ITERATION = 256  # step instances _pump starts in one loop iteration


@dataclass(frozen=True, slots=True)
class RunEnvironment:
    """What a run in flight may use of the process it runs in; the coordinator builds one."""

    registry: AgentRegistry  # one shared instance per agent kind
    limits: Limits  # per agent kind and named pools, fair across runs
    settings: Settings
    clock: Clock
    rng: random.Random  # retry jitter
    secrets: Mapping[str, str]
    log: logging.Logger
    commit: Callable[[Event], Awaitable[None]]  # store first, then listeners
    services: Callable[[RunExecution], StepServices]  # what this run's agents may use
    # Whether this process may still act for a run (its lease, as far as it knows without
    # asking the store, has not run out); checked before every agent starts.
    holds: Callable[[str], bool] = lambda _run_id: True


@dataclass(slots=True)
class RunResult:
    """How a run ended."""

    run_id: str
    status: RunStatus
    outputs: Any = None
    error: str | None = None
    steps: dict[str, str] = field(default_factory=dict)  # step id → final StepStatus

    @property
    def ok(self) -> bool:
        return self.status == RunStatus.SUCCEEDED


@dataclass(slots=True)
class StepRestore:
    """What an earlier life of a run (before a crash) left of one step."""

    status: str | None = None  # the whole step's final status, or None if it was unfinished
    outputs: Any = None
    error: str | None = None
    finished: dict[int, tuple[str, Any]] = field(default_factory=dict)  # item → (status, outputs)
    attempts: dict[int | None, int] = field(default_factory=dict)  # instance → attempts made
    unknown: set[int | None] = field(default_factory=set)  # at_most_once, running at the crash


@dataclass(slots=True)
class _AttemptProcesses:
    """An attempt's ProcessRecorder: a `process` event per process (or Dask task), committed
    before it works."""

    execution: RunExecution
    step: CompiledStep
    index: int | None
    attempt: int

    async def started(self, pid: int, *, group: bool) -> None:
        record = describe(pid, group=group)
        await self.execution.emit(
            StepStatus.PROCESS,
            self.step,
            item_index=self.index,
            attempt=self.attempt,
            processes=[record.to_dict()],
        )
        if self.execution.stopped_here:  # not recorded (the lease went elsewhere): no work
            raise StepError("this process no longer runs the run; the work was not started")

    async def task(self, key: str, scheduler: str) -> None:
        await self.execution.emit(
            StepStatus.PROCESS,
            self.step,
            item_index=self.index,
            attempt=self.attempt,
            processes=[{"dask": key, "scheduler": scheduler}],
        )
        if self.execution.stopped_here:
            raise StepError("this process no longer runs the run; the task was not submitted")


@dataclass(slots=True)
class _Instance:
    step: CompiledStep
    index: int | None
    item: Any = None
    started: bool = False
    first_attempt: int = 1
    attempt: int = 0  # the attempt in progress (or the last one made)
    attempt_started: float | None = None  # clock.monotonic() when it started
    first_started: float | None = None  # when this instance's first attempt here started
    unknown: bool = False  # ask a person (signal decide.<step>) before running it again
    # (status, outputs, error) once its final event is being committed, until it is counted:
    # a step task cancelled while that commit is in flight still ends with that outcome
    outcome: tuple[StepStatus, Any, str | None] | None = None
    # the commit of this instance's final event, handed to the store but not yet awaited
    commit: _Started | None = None


@dataclass(slots=True)
class _StepState:
    status: StepStatus = StepStatus.QUEUED
    total: int = 0
    finished: int = 0
    started: int = 0
    failed: int = 0
    cancelled: int = 0
    skipped: int = 0
    outputs: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    params: Any = None  # validated Params, cached when `with:` has no expressions
    limiters: tuple[FairLimiter, ...] | None = None  # the limits its attempts hold (cached)
    queued: asyncio.Task[None] | None = None  # committing the step's `queued` event
    # Set once the step's final event is committed (or could not be): a single-instance step
    # hands its `succeeded` to the store and goes on to queue its dependents in the same
    # transaction; they await this before they act (see `_attempts`).
    committed: asyncio.Future[None] | None = None
    final: bool = False
    reported: bool = False  # a final event already covers the whole step (single instance)


class RunExecution:
    """Runs one workflow run to its end. Create through Coordinator.submit."""

    def __init__(
        self,
        env: RunEnvironment,
        definition: Definition,
        run_id: str,
        inputs: dict[str, Any],
        *,
        restore: dict[str, StepRestore] | None = None,
        seq: int = 0,
        depth: int = 0,
    ) -> None:
        self.depth = depth  # how deeply this run is nested in sub-workflow steps
        self.env = env
        self.definition = definition
        self.run_id = run_id
        self.inputs = inputs
        self.signals = SignalBox()
        self.seq = seq  # continues after the last stored event when a run is resumed
        # Gapless numbering when a commit fails. The stores refuse an event whose number does
        # not directly follow the run's last committed one (EventOutOfOrder), so an event after
        # a refused one never lands. After a refusal the run commits nothing more until every
        # commit in flight has settled, then numbers on from the last committed event: the
        # highest acknowledged (`_acked`), or counted landed (`_committed`: a commit whose
        # waiter was cancelled), or reported by the store in a refusal (`_store_last`).
        self._acked = seq
        self._committed = seq
        self._store_last: int | None = None
        self._in_flight_commits = 0
        self._settled = asyncio.Event()  # set when the last commit in flight has settled
        self._renumber = False
        self._states = {step_id: _StepState() for step_id in definition.steps}
        self._waiting_on = {sid: len(step.needs) for sid, step in definition.steps.items()}
        self._steps_view: dict[str, dict[str, Any]] = {}
        self._ready: deque[_Instance] = deque()
        self._pump_soon = False  # _pump goes on in the next loop iteration
        # step tasks in flight and the instance each runs (the inspector reads it: step_tasks)
        self._tasks: dict[asyncio.Task[None], _Instance] = {}
        self._in_flight = 0
        self._limit = definition.spec.concurrency or math.inf
        self._final_steps = 0
        self._wake = asyncio.Event()
        self._stop_reason: str | None = None  # "failed", "cancelled", "timed out", "fault"
        self._fault: str | None = None  # why a fault (the store, a bug) stopped the run
        self.running: dict[str, int] = {}  # agent kind → attempts inside agent.run now
        self._closed = False
        self._lost = False  # the lease went to another daemon: this copy stops silently
        self._lost_reason = "lease lost: another daemon took over"
        self._env: dict[str, Any] = {
            "inputs": inputs,
            "steps": self._steps_view,
            "run": {"id": run_id, "workflow": definition.name},
            "secrets": env.secrets,
        }
        self._restore_plan = restore or {}
        # read for every transition: the workflow's name, and the system clock's own functions
        # (no Python frame per call) unless another clock is injected
        self._workflow = definition.name
        clock = env.clock
        system = type(clock) is SystemClock
        self._time: Callable[[], float] = time.time if system else clock.time
        self._monotonic: Callable[[], float] = time.monotonic if system else clock.monotonic

    # ------------------------------------------------------------------------------ events

    async def emit(self, status: str, step: CompiledStep | None = None, **fields: Any) -> None:
        """Commit one transition (store first, then listeners)."""
        while self._renumber and not self._closed:
            if self._in_flight_commits:
                self._settled.clear()
                await self._settled.wait()  # what is in flight lands or is refused first
            else:
                self._mend_numbering()
        if self._closed:
            return
        self.seq += 1
        event = Event(
            run_id=self.run_id,
            seq=self.seq,
            at=self._time(),
            status=status,
            step_id=step.id if step is not None else None,
            workflow=self._workflow,
            agent=step.spec.agent if step is not None else "",
            **fields,
        )
        self._in_flight_commits += 1
        try:
            await self.env.commit(event)
        except StaleLease:
            self.abandon()  # another daemon owns the run now: stop without another word
        except OutputRejected:
            # refused before it was written: its number is free again (given back at once when
            # no event took a number since, as the stores refuse before yielding)
            if self.seq == event.seq:
                self.seq -= 1
            else:
                self._renumber = True
            raise  # the step's outputs were refused (its caller fails the step)
        except asyncio.CancelledError:
            # stores finish a commit they started: count it as landed, so that its number is
            # never given to another event (if it did not land, the store refuses the next one
            # and says which number it holds last)
            self._committed = max(self._committed, event.seq)
            raise
        except Exception as exc:  # the store is failing: the whole run stops, failed
            self._renumber = True
            if isinstance(exc, EventOutOfOrder):
                self._store_last = max(self._store_last or 0, exc.last_seq)
            what = f"step {step.id}" if step is not None else "the run"
            reason = f"the store could not record {status} of {what}: {_describe(exc)}"
            self.env.log.error("run %s: %s", self.run_id, reason)
            self._fail_run(reason)
            raise StoreFailure(reason) from exc
        else:
            if event.seq > self._committed:
                self._committed = event.seq
            if event.seq > self._acked:
                self._acked = event.seq
        finally:
            self._in_flight_commits -= 1
            if self._renumber and not self._in_flight_commits:
                self._settled.set()  # wake the emits waiting to number on (see above)

    def _mend_numbering(self) -> None:
        """No commit is in flight, and the store refused some: number on from its last event.
        Nothing after a refused event landed (the stores refuse an event that does not follow
        the last one), so there is no hole to fill, only numbers to give out again."""
        self._renumber = False
        last = self._committed
        if self._store_last is not None:  # the store said which number it holds last
            last = max(self._store_last, self._acked)
            self._store_last = None
        self.seq = self._committed = last

    # ------------------------------------------------------------------------------ the run

    async def execute(self) -> RunResult:
        """Run every step to a final state and return the outcome; cancellation is re-raised."""
        clock = self.env.clock
        started = clock.monotonic()
        try:
            try:
                await self.emit(RunStatus.RUNNING)
                await self._restore()
                await self._advance([sid for sid, n in self._waiting_on.items() if n == 0])
                timeout = self.definition.spec.timeout
                try:
                    async with asyncio.timeout(timeout):
                        while self._final_steps < len(self._states) and self._stop_reason is None:
                            self._wake.clear()
                            await self._wake.wait()
                except TimeoutError:
                    self._stop("timed out")
            except StoreFailure:
                pass  # the run is stopping, failed; _finish records why if the store lets it
            except Exception as exc:  # a fault in scheduling: fail the run, never leave it running
                self.env.log.exception("run %s: unexpected error", self.run_id)
                self._fail_run(f"unexpected error: {_describe(exc)}")
        except asyncio.CancelledError:
            self._stop("cancelled")
            await self._drain()
            await self._finish(clock.monotonic() - started)
            raise
        if self._stop_reason is not None:
            await self._drain()
        return await self._finish(clock.monotonic() - started)

    def step_tasks(self) -> list[tuple[asyncio.Task[None], _Instance]]:
        """The step tasks in flight and the instance each runs (for the inspector)."""
        return list(self._tasks.items())

    def instance_of(self, task: asyncio.Task[Any]) -> _Instance | None:
        """The instance a step task of this run runs (safe to call from another thread)."""
        return self._tasks.get(task)

    @property
    def ready_depth(self) -> int:
        return len(self._ready)

    @property
    def abandoned(self) -> bool:
        """Stopped without writing (lease lost, or the process stops): it resumes later."""
        return self._lost

    def abandon(self, reason: str | None = None) -> None:
        """Stop at once and write nothing more (the lease is lost; the run goes on elsewhere,
        or this process stops and resumes it later)."""
        if reason is not None and not self._lost:
            self._lost_reason = reason
        self._lost = True
        self._closed = True
        self._stop("lost")

    @property
    def stopped_here(self) -> bool:
        """The run was given up in this process (lease lost) or is over: start no more work."""
        return self._closed

    def cancel(self, reason: str = "cancelled") -> None:
        """Ask the run to stop: running steps are cancelled, the rest do not start."""
        self._stop(reason)

    def _stop(self, reason: str) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason
        self._wake.set()

    def _fail_run(self, reason: str) -> None:
        """A fault nobody planned for (the store failing, a bug): the run stops and fails."""
        if self._fault is None:
            self._fault = reason
        self._stop("fault")

    async def _drain(self) -> None:
        """Cancel running steps and wait, bounded by the cancel grace, for their cleanup."""
        self._ready.clear()
        current = asyncio.current_task()
        pending = [task for task in self._tasks if task is not current]
        for task in pending:
            task.cancel()
        if pending:
            _, still = await asyncio.wait(pending, timeout=self.env.settings.cancel_grace)
            for task in still:
                self.env.log.warning(
                    "run %s: step task %s ignored cancellation for %.1fs",
                    self.run_id,
                    task.get_name(),
                    self.env.settings.cancel_grace,
                )

    async def _finish(self, duration: float) -> RunResult:
        if self._lost:
            return RunResult(self.run_id, RunStatus.RUNNING, None, self._lost_reason)
        committing = [
            s.committed for s in self._states.values() if s.committed and not s.committed.done()
        ]
        if committing:  # a step's final event still on its way: the run's end comes after it
            await asyncio.wait(committing)
            if self._lost:
                return RunResult(self.run_id, RunStatus.RUNNING, None, self._lost_reason)
        reason = self._stop_reason
        await self._close_open_steps(reason)
        failed = [sid for sid, s in self._states.items() if s.status == StepStatus.FAILED]
        outputs = None
        error: str | None = None
        if reason == "fault" or self._fault is not None:
            status, error = RunStatus.FAILED, self._fault
        elif reason == "cancelled":
            status = RunStatus.CANCELLED
            error = "the run was cancelled"
        elif reason == "timed out":
            status = RunStatus.FAILED
            error = f"the run timed out after {self.definition.spec.timeout:g}s"
        elif failed or any(s.status == StepStatus.CANCELLED for s in self._states.values()):
            status = RunStatus.FAILED
            error = "failed steps: " + ", ".join(failed) if failed else "steps were cancelled"
            outputs = render_partial(self.definition.outputs, self._env)  # what could be
        else:
            try:
                outputs = self.definition.outputs.render(self._env)
                status = RunStatus.SUCCEEDED
            except Exception as exc:  # an expression's error, or a Python error inside it
                status, error = RunStatus.FAILED, f"outputs: {_describe(exc)}"
        try:
            try:
                await self.emit(status, outputs=outputs, error=error, duration=duration)
            except OutputRejected as exc:  # the run's outputs are too large or not data
                status, outputs, error = RunStatus.FAILED, None, f"outputs: {exc}"
                await self.emit(status, error=error, duration=duration)
        except StoreFailure as exc:
            if error == self._fault:
                raise self._unrecorded(exc) from exc
            # the end could not be recorded: record the store's failure as the run's end
            status, outputs, error = RunStatus.FAILED, None, self._fault
            try:
                await self.emit(status, error=error, duration=duration)
            except StoreFailure as again:  # the store is down: tell the waiter
                raise self._unrecorded(again) from again
        finally:
            self._closed = True
        return RunResult(
            self.run_id,
            status,
            outputs,
            error,
            {sid: str(state.status) for sid, state in self._states.items()},
        )

    def _unrecorded(self, exc: StoreFailure) -> StoreFailure:
        return StoreFailure(f"run {self.run_id} stopped ({exc}); its end could not be recorded")

    async def _close_open_steps(self, reason: str | None) -> None:
        """After a stop: give every step that is not final its final status and event."""
        queued = [s.queued for s in self._states.values() if s.queued and not s.queued.done()]
        if queued:  # their `queued` events take their seq before any step's final event
            await asyncio.wait(queued, timeout=self.env.settings.cancel_grace)
        for step_id in self.definition.order or tuple(self._states):
            state = self._states[step_id]
            if state.final:
                continue
            step = self.definition.steps[step_id]
            outputs: Any = None
            if state.failed:
                status = StepStatus.FAILED
            elif state.skipped and state.skipped == state.total and step.for_each is None:
                status = StepStatus.SKIPPED  # skipped by decision after a crash, as recorded
            elif state.total and state.finished == state.total:
                status = StepStatus.SUCCEEDED
                outputs = state.outputs if step.for_each is not None else state.outputs[0]
            elif state.started:
                status = StepStatus.CANCELLED
            else:
                stopped_by_failure = reason in ("failed", "fault")
                status = StepStatus.SKIPPED if stopped_by_failure else StepStatus.CANCELLED
            state.final = True
            state.status = status
            if not state.reported:
                error = None
                if status != StepStatus.SUCCEEDED:
                    error = "; ".join(state.errors[:3]) or self._fault or reason
                try:
                    await self.emit(status, step, error=error, outputs=outputs)
                except OutputRejected as exc:
                    state.status = StepStatus.FAILED
                    await self._emit_quietly(StepStatus.FAILED, step, error=f"outputs: {exc}")
                except StoreFailure:
                    continue  # the run fails with the store's reason; close the other steps

    async def _emit_quietly(self, status: str, step: CompiledStep, **fields: Any) -> None:
        """Emit while closing a run: a store failure is already the run's reason."""
        try:
            await self.emit(status, step, **fields)
        except StoreFailure:
            return

    async def _restore(self) -> None:
        """Take over what an earlier life of this run finished: those steps are not run again."""
        finished = [sid for sid, r in self._restore_plan.items() if r.status is not None]
        for step_id in finished:
            restored = self._restore_plan[step_id]
            state = self._states[step_id]
            state.final = True
            state.status = StepStatus(str(restored.status))
            self._steps_view[step_id] = {"outputs": restored.outputs, "status": restored.status}
            self._final_steps += 1
        for step_id in finished:
            for child in self.definition.steps[step_id].dependents:
                self._waiting_on[child] -= 1
            self._waiting_on[step_id] = -1  # never start again
        if any(self._states[sid].status == StepStatus.FAILED for sid in finished):
            self._failed()

    # ------------------------------------------------------------------------------ scheduling

    async def _advance(self, ready: list[str]) -> None:
        """Start steps whose needs are all final; iterative, so long chains of skips are fine."""
        queue = deque(ready)
        while queue:
            step_id = queue.popleft()
            if await self._start_step(step_id):
                queue.extend(self._release(step_id))
        self._pump()

    def _release(self, step_id: str) -> list[str]:
        """A step is final: return dependents that now have every need final."""
        ready = []
        for child in self.definition.steps[step_id].dependents:
            self._waiting_on[child] -= 1
            if self._waiting_on[child] == 0:
                ready.append(child)
        return ready

    async def _start_step(self, step_id: str) -> bool:
        """Queue the step's instances; return True if the step is already final (not run)."""
        step = self.definition.steps[step_id]
        state = self._states[step_id]
        if self._stop_reason is not None:
            return False  # _finish records it
        needs = [self._states[n].status for n in step.needs]
        upstream_ok = all(s == StepStatus.SUCCEEDED for s in needs)
        if step.condition is not None:
            env = dict(self._env)
            env[STATUS_KEY] = {
                "success": upstream_ok,
                "failure": any(s == StepStatus.FAILED for s in needs),
                "cancelled": any(s == StepStatus.CANCELLED for s in needs),
            }
            if not upstream_ok and not step.condition_checks_status:
                return await self._settle(
                    step, StepStatus.SKIPPED, error="an upstream step did not succeed"
                )
            try:
                run_it = bool(step.condition.render(env))
            except Exception as exc:  # an expression's error, or a Python error inside it
                return await self._settle(step, StepStatus.FAILED, error=f"if: {_describe(exc)}")
            if not run_it:
                return await self._settle(step, StepStatus.SKIPPED, error="condition is false")
        elif not upstream_ok:
            return await self._settle(
                step, StepStatus.SKIPPED, error="an upstream step did not succeed"
            )
        restored = self._restore_plan.get(step.id)
        if step.for_each is None:
            self._ready.append(self._instance(step, None, None, restored))
            state.total = 1
            state.outputs = [None]
        else:
            try:
                items = step.for_each.render(self._env)
            except Exception as exc:  # an expression's error, or a Python error inside it
                return await self._settle(
                    step, StepStatus.FAILED, error=f"for_each: {_describe(exc)}"
                )
            if not isinstance(items, list):
                return await self._settle(
                    step,
                    StepStatus.FAILED,
                    error=f"for_each: expected a list, got {type(items).__name__}",
                )
            if not items:
                return await self._settle(step, StepStatus.SUCCEEDED, outputs=[])
            if len(items) > self.env.settings.max_items:
                return await self._settle(
                    step,
                    StepStatus.FAILED,
                    error=f"for_each: {len(items)} items is more than limits.max_items "
                    f"({self.env.settings.max_items}); split the work or raise the limit",
                )
            state.total = len(items)
            state.outputs = [None] * len(items)
            done = restored.finished if restored is not None else {}
            for index, item in enumerate(items):
                if index in done:  # finished before the crash: keep its outcome
                    status, outputs = done[index]
                    state.outputs[index] = outputs
                    state.finished += 1
                    if status == StepStatus.FAILED:
                        state.failed += 1
                else:
                    self._ready.append(self._instance(step, index, item, restored))
            if state.finished == state.total:
                await self._finish_step(step)
                return False
        # `queued` is committed by a task created before the instances' tasks: it runs first, so
        # it takes its seq and reaches the store first, and the first instance's `running` joins
        # the same commit instead of waiting for a commit of its own (one round trip, not two).
        # No instance acts before both are committed: `_attempts` awaits this task.
        state.queued = asyncio.get_running_loop().create_task(
            self.emit(StepStatus.QUEUED, step), name=f"{self.run_id}:{step.id}:queued"
        )
        state.queued.add_done_callback(_observed)
        return False

    def _instance(
        self, step: CompiledStep, index: int | None, item: Any, restored: StepRestore | None
    ) -> _Instance:
        if restored is None:
            return _Instance(step, index, item)
        return _Instance(
            step,
            index,
            item,
            first_attempt=restored.attempts.get(index, 1),
            unknown=index in restored.unknown,
        )

    async def _settle(
        self,
        step: CompiledStep,
        status: StepStatus,
        *,
        error: str | None = None,
        outputs: Any = None,
    ) -> bool:
        state = self._states[step.id]
        state.status = status
        state.final = True
        self._steps_view[step.id] = {"outputs": outputs, "status": str(status)}
        self._final_steps += 1
        await self.emit(
            status, step, error=error if status != StepStatus.SUCCEEDED else None, outputs=outputs
        )
        if status == StepStatus.FAILED:
            self._failed()
        if self._final_steps == len(self._states):
            self._wake.set()
        return True

    def _failed(self) -> None:
        if self.definition.spec.on_failure == "fail_fast":
            self._stop("failed")

    def _pump(self) -> None:
        """Start queued instances while the run's concurrency allows, at most
        _STARTS_PER_ITERATION in one loop iteration (then again in the next): a wide fan-out's
        first `running` events reach the writer, and its first instances their work, while
        the later ones are still being started (measured on W1: 1.07x and 1.20x steps/s)."""
        if not self._ready or self._pump_soon:
            return
        loop = asyncio.get_running_loop()
        starts = 0
        while self._ready and self._in_flight < self._limit and self._stop_reason is None:
            if starts == _STARTS_PER_ITERATION:
                self._pump_soon = True
                loop.call_soon(self._pump_again)
                return
            starts += 1
            instance = self._ready.popleft()
            self._in_flight += 1
            task = loop.create_task(self._run_instance(instance), name=self._task_name(instance))
            self._tasks[task] = instance
            task.add_done_callback(self._step_task_done)

    def _pump_again(self) -> None:
        self._pump_soon = False
        self._pump()

    def _step_task_done(self, task: asyncio.Task[None]) -> None:
        """Forget a finished step task and observe how it ended: an error that escaped the
        step's own handling (a bug) fails the run instead of going unnoticed."""
        self._tasks.pop(task, None)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self.env.log.error("run %s: step task %s crashed", self.run_id, task.get_name())
            self._fail_run(f"step task {task.get_name()} crashed: {_describe(error)}")

    def _task_name(self, instance: _Instance) -> str:
        suffix = "" if instance.index is None else f"[{instance.index}]"
        return f"{self.run_id}:{instance.step.id}{suffix}"

    # ------------------------------------------------------------------------------ one instance

    async def _run_instance(self, instance: _Instance) -> None:
        try:
            try:
                status, outputs, error = await self._attempts(instance)
            except (asyncio.CancelledError, StoreFailure):
                raise
            except Exception as exc:  # a fault in the step's machinery fails the step
                self.env.log.exception("run %s: step %s", self.run_id, instance.step.id)
                status, outputs, error = await self._instance_failed(
                    instance, instance.attempt, f"unexpected error: {_describe(exc)}"
                )
            finally:
                self._in_flight -= 1
                self._pump()
            if instance.commit is None:
                await self._instance_done(instance, status, outputs, error)
            else:
                await self._instance_done_committing(instance, status, outputs, error)
        except StoreFailure:
            return  # the run is stopping, failed with the store's reason (see emit)
        except asyncio.CancelledError:
            # cancelled (a fail_fast stop, a run timeout) while its final event was committing:
            # that event counts as committed (see emit), so the instance ended with it, and the
            # run reports it so instead of closing the step `cancelled`
            if instance.outcome is not None:
                self._count(instance, *instance.outcome)
            raise

    async def _instance_done_committing(
        self, instance: _Instance, status: StepStatus, outputs: Any, error: str | None
    ) -> None:
        """A single instance succeeded and its event is on its way to the store: queue the
        dependents (same transaction), then see the commit through and tell them."""
        commit, instance.commit = instance.commit, None
        assert commit is not None
        state = self._states[instance.step.id]
        committed = state.committed = asyncio.get_running_loop().create_future()
        committed.add_done_callback(_observed)
        try:
            try:
                await self._instance_done(instance, status, outputs, error)
            finally:
                await commit  # also when queuing failed or was cancelled: never left unawaited
        except asyncio.CancelledError:
            committed.cancel()
            raise
        except BaseException as exc:
            committed.set_exception(exc)
            raise
        committed.set_result(None)

    async def _instance_done(
        self, instance: _Instance, status: StepStatus, outputs: Any, error: str | None
    ) -> None:
        self._count(instance, status, outputs, error)
        state = self._states[instance.step.id]
        if state.finished == state.total and not state.final and self._stop_reason is None:
            await self._finish_step(instance.step)

    def _count(
        self, instance: _Instance, status: StepStatus, outputs: Any, error: str | None
    ) -> None:
        """Count an instance's outcome into its step's state (once)."""
        instance.outcome = None
        step = instance.step
        state = self._states[step.id]
        if instance.index is None:
            state.reported = True  # its final event covers the whole step
        state.finished += 1
        state.outputs[instance.index or 0] = outputs
        if status == StepStatus.SKIPPED:
            state.skipped += 1
        if status == StepStatus.FAILED:
            state.failed += 1
            if error:
                state.errors.append(
                    error if instance.index is None else f"[{instance.index}] {error}"
                )
            self._failed()

    async def _finish_step(self, step: CompiledStep) -> None:
        state = self._states[step.id]
        outputs = state.outputs if step.for_each is not None else state.outputs[0]
        if state.skipped == state.total and step.for_each is None:
            status, error = StepStatus.SKIPPED, "skipped by decision after a crash"
        elif state.failed:
            status = StepStatus.FAILED
            shown = state.errors[:3]
            more = f" (+{len(state.errors) - 3} more)" if len(state.errors) > 3 else ""
            error = "; ".join(shown) + more
            outputs = outputs if step.for_each is not None else None
        else:
            status, error = StepStatus.SUCCEEDED, None
        # final now, not after the commit: a run that stops meanwhile must not close it again
        state.final, state.status = True, status
        if not state.reported:
            try:
                await self.emit(status, step, outputs=outputs, error=error)
            except OutputRejected as exc:  # all items' outputs together are too large
                status, outputs = StepStatus.FAILED, None
                await self.emit(status, step, error=f"outputs: {exc}")
                self._failed()
        state.status = status
        self._steps_view[step.id] = {"outputs": outputs, "status": str(status)}
        self._final_steps += 1
        if self._final_steps == len(self._states):
            self._wake.set()
        await self._advance(self._release(step.id))

    def _params(self, instance: _Instance) -> Any:
        """Render `with:` for this instance and validate it with the agent's Params model."""
        step = instance.step
        state = self._states[step.id]
        if state.params is not None:
            return state.params
        if instance.index is None:
            env = self._env
        else:
            env = dict(self._env)
            env["item"] = instance.item
            env["index"] = instance.index
        raw = step.params.render(env)
        params = step.agent.Params.model_validate(raw)
        if not step.params_per_item:
            state.params = params  # the same for every item: render and validate once
        return params

    async def _attempts(self, instance: _Instance) -> tuple[StepStatus, Any, str | None]:
        step = instance.step
        env = self.env
        index = instance.index
        try:
            params = self._params(instance)
        except ValidationError as exc:
            return await self._instance_failed(instance, 0, _describe_validation(exc))
        except Exception as exc:  # an expression's error, or a Python error inside it
            return await self._instance_failed(instance, 0, f"with: {_describe(exc)}")
        agent = env.registry.instance(step.spec.agent)
        state = self._states[step.id]
        limiters = state.limiters
        if limiters is None:
            limiters = state.limiters = env.limits.for_step(step.spec.agent, step.spec.pool)
        monotonic = self._monotonic
        policy = step.retry or NO_RETRY
        timeout = step.timeout or env.settings.step_timeout
        clock = env.clock
        attempt = instance.first_attempt - 1
        try:
            decided_skip = instance.unknown and not await self._decide(instance, attempt)
        except StepError as exc:
            return await self._instance_failed(instance, attempt, str(exc))
        if decided_skip:
            state.reported = index is None
            instance.outcome = (StepStatus.SKIPPED, None, None)
            await self.emit(
                StepStatus.SKIPPED,
                step,
                item_index=index,
                attempt=attempt,
                error="skipped by decision after a crash",
            )
            return StepStatus.SKIPPED, None, None
        while True:
            attempt += 1
            instance.attempt = attempt
            started = monotonic()
            instance.attempt_started = started
            if instance.first_started is None:
                instance.first_started = started
            ctx = StepContext(
                run_id=self.run_id,
                step_id=step.id,
                item_index=index,
                attempt=attempt,
                workflow=self._workflow,
                clock=clock,
                deadline=started + timeout if timeout else None,
                secrets=env.secrets,
                services=env.services(self),
                logger=env.log,
                processes=_AttemptProcesses(self, step, index, attempt),
                workflow_file=self.definition.location or self.definition.file,
            )
            held = 0
            scope: asyncio.Timeout | None = None
            inside = False  # counted in self.running
            try:
                for limiter in limiters:
                    await limiter.acquire(self.run_id)
                    held += 1
                instance.started = True
                state.started += 1
                await self.emit(StepStatus.RUNNING, step, item_index=index, attempt=attempt)
                queued = state.queued
                if queued is not None:
                    await queued  # done by now (same or an earlier commit); raises its failure
                for need in step.needs:  # the needs' final events, committed by now as well
                    upstream = self._states[need].committed
                    if upstream is not None:
                        await upstream  # raises if it could not be committed
                if self._closed or not env.holds(self.run_id):
                    # The lease ran out (this process was paused, or its loop stalled) or went
                    # to another owner: start no new effect here; the new owner runs the step.
                    self.abandon("the lease ran out before a step could start")
                    raise asyncio.CancelledError
                self.running[step.spec.agent] = self.running.get(step.spec.agent, 0) + 1
                inside = True
                if timeout is None:
                    result = await agent.run(params, ctx)
                else:
                    async with asyncio.timeout(timeout) as scope:
                        result = await agent.run(params, ctx)
            except asyncio.CancelledError:
                if instance.started:
                    state.cancelled += 1
                    state.reported = index is None
                    await self.emit(
                        StepStatus.CANCELLED,
                        step,
                        item_index=index,
                        attempt=attempt,
                        duration=monotonic() - started,
                    )
                raise
            except TimeoutError as exc:
                if scope is not None and scope.expired():
                    error, retryable = f"timed out after {timeout:g}s", True
                else:
                    error, retryable = _describe(exc), agent.is_retryable(exc)
            except StoreFailure:
                raise  # not the step's failure: the run stops (see emit)
            except Exception as exc:  # an agent's failure is the step's failure, never a crash
                error, retryable = _describe(exc), agent.is_retryable(exc)
            else:
                try:
                    outputs = self._outputs(instance, result)
                except Exception as exc:  # an expression's error, or a Python error inside it
                    return await self._instance_failed(
                        instance, attempt, f"outputs: {_describe(exc)}"
                    )
                instance.outcome = (StepStatus.SUCCEEDED, outputs, None)
                succeeded = self.emit(
                    StepStatus.SUCCEEDED,
                    step,
                    item_index=index,
                    attempt=attempt,
                    outputs=outputs,
                    duration=monotonic() - started,
                )
                try:
                    if index is None and not self._renumber:
                        # Handed to the store now, awaited after the dependents are queued
                        # (`_run_instance`): their `queued` and `running` join its commit, and
                        # they act only once it has landed (`_StepState.committed`). Not while
                        # numbering waits for commits in flight (see emit): the event would not
                        # reach the store yet, nor a refusal of it come before the dependents.
                        instance.commit = _Started(succeeded)
                    else:
                        await succeeded
                except OutputRejected as exc:  # too large, or not JSON data: the store said no
                    return await self._instance_failed(instance, attempt, str(exc))
                state.reported = index is None
                return StepStatus.SUCCEEDED, outputs, None
            finally:
                if inside:
                    self.running[step.spec.agent] -= 1
                for limiter in limiters[:held]:
                    limiter.release()
            if retryable and attempt < policy.attempts:
                delay = backoff_delay(policy, attempt, env.rng)
                await self.emit(
                    StepStatus.RETRYING,
                    step,
                    item_index=index,
                    attempt=attempt,
                    error=error,
                    delay=delay,
                    duration=monotonic() - started,
                )
                await clock.sleep(delay)
                continue
            return await self._instance_failed(instance, attempt, error, monotonic() - started)

    async def _decide(self, instance: _Instance, attempt: int) -> bool:
        """An at_most_once step was running at a crash: wait for a person to say retry or skip.

        The signal is `decide.<step id>` with payload "retry" or "skip" (one per instance).
        """
        step = instance.step
        await self.emit(
            StepStatus.UNKNOWN,
            step,
            item_index=instance.index,
            attempt=attempt,
            error=f"was running when the process stopped; its effect is unknown. Send signal "
            f"decide.{step.id} with payload retry or skip",
        )
        while True:
            try:
                async with asyncio.timeout(self.env.settings.decision_timeout):
                    payload = await self.signals.receive(f"decide.{step.id}")
            except TimeoutError:
                raise StepError("no decision arrived in time") from None
            choice = payload.get("action") if isinstance(payload, dict) else payload
            if choice in ("retry", "skip"):
                return bool(choice == "retry")
            self.env.log.warning(
                "run %s: decide.%s wants retry or skip, got %r", self.run_id, step.id, payload
            )

    async def _instance_failed(
        self, instance: _Instance, attempt: int, error: str, duration: float | None = None
    ) -> tuple[StepStatus, Any, str | None]:
        self._states[instance.step.id].reported = instance.index is None
        instance.outcome = (StepStatus.FAILED, None, error)
        await self.emit(
            StepStatus.FAILED,
            instance.step,
            item_index=instance.index,
            attempt=attempt,
            error=error,
            duration=duration,
        )
        return StepStatus.FAILED, None, error

    def _outputs(self, instance: _Instance, result: Any) -> Any:
        outputs = instance.step.outputs
        if outputs is None:
            return result
        env = dict(self._env)
        env["result"] = result
        if instance.index is not None:
            env["item"] = instance.item
            env["index"] = instance.index
        return outputs.render(env)


def _observed(task: asyncio.Future[None]) -> None:
    """A `queued` commit's failure is handled inside `emit` and seen by the step's instances;
    retrieve it here too, for a run that stopped before any instance awaited it."""
    if not task.cancelled():
        task.exception()


class _Started:
    """A coroutine run at once up to its first real wait, finished when awaited (once).

    `emit` hands its event to the store before it first waits (the stores check and queue an
    event before they wait for the commit), so this commits events in the order they are made
    and raises what the store refuses at once (OutputRejected), while the wait for the commit
    can come later. The same as an eager task, without a task (Python 3.12 has those)."""

    __slots__ = ("_coro", "_done", "_first", "_result")

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._coro = coro
        self._result: Any = None
        try:
            self._first = coro.send(None)
        except StopIteration as stop:  # finished without waiting
            self._done, self._result = True, stop.value
            return
        self._done = False
        if asyncio.isfuture(self._first):
            # A future's `await` marks it as yielded to a task, and the task that takes it
            # clears the mark; no task took this one yet, and another `await` of the same
            # future (a group commit's) before this is awaited would find it marked and fail.
            self._first._asyncio_future_blocking = False

    def __await__(self) -> Generator[Any, Any, Any]:
        if self._done:
            return self._result
        coro, self._done = self._coro, True
        value = self._first
        if asyncio.isfuture(value):
            # The future the coroutine waits on: done, the coroutine goes on at once; not
            # done, it is marked as yielded by an `await` again (see __init__) for the task.
            if value.done():
                try:
                    value = coro.send(None)
                except StopIteration as stop:
                    return stop.value
            else:
                value._asyncio_future_blocking = True
        while True:  # what `yield from coro` does, from its second step on
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # thrown in by the task (a cancel)
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


def _describe(exc: BaseException) -> str:
    if isinstance(exc, MastermindError):
        return str(exc)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _describe_validation(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"])
        parts.append(f"with.{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts)


__all__ = ["RunExecution", "RunResult", "StepError"]
