"""The step tasks in flight in this process, with what they are: run, step, item, attempt.

Each `RunExecution` keeps its step tasks with the instance each runs (`_tasks`, task →
instance, also how it cancels them), and the instance records its attempt and when it started;
this module is the process-wide view over the coordinator's active runs. Nothing is added to a
step's hot path: the registry is the bookkeeping the run does anyway. The inspector
(`service/inspector.py`) reads it to show every step's live coroutine stack, and the loop watch
(`engine/loop_watch.py`) reads it from its own thread to name the step that blocks the event loop
(plain dict reads, safe under the GIL).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mastermind.engine.run import RunExecution


@dataclass(frozen=True, slots=True)
class StepTask:
    """One step instance in flight, as the inspector shows it."""

    task: asyncio.Task[Any]
    run_id: str
    workflow: str
    step_id: str
    item_index: int | None
    item: Any
    agent: str
    attempt: int  # 0: no attempt started yet (waiting for a decision after a crash, say)
    first_started: float | None  # clock.monotonic() of its first attempt in this process
    attempt_started: float | None  # ... and of the current attempt

    @property
    def label(self) -> str:
        """`run/step[item]`, as logs and the inspector name it."""
        suffix = "" if self.item_index is None else f"[{self.item_index}]"
        return f"{self.run_id}/{self.step_id}{suffix}"


class InFlight:
    """Step tasks in flight across the runs `executions()` returns."""

    def __init__(
        self,
        executions: Callable[[], Iterable[RunExecution]],
        monotonic: Callable[[], float],
    ) -> None:
        self._executions = executions
        self.monotonic = monotonic  # the clock the runs stamp attempts with

    def steps(self, run_id: str | None = None) -> list[StepTask]:
        """Step tasks in flight (of one run), oldest attempt first."""
        found = [
            _view(execution, task, instance)
            for execution in list(self._executions())
            if run_id is None or execution.run_id == run_id
            for task, instance in execution.step_tasks()
        ]
        return sorted(found, key=lambda s: (s.first_started is None, s.first_started or 0.0))

    def get(self, task: asyncio.Task[Any] | None) -> StepTask | None:
        """The step a task runs, if it is a step task (callable from another thread)."""
        if task is None:
            return None
        for execution in list(self._executions()):
            instance = execution.instance_of(task)
            if instance is not None:
                return _view(execution, task, instance)
        return None

    def __len__(self) -> int:
        return sum(len(execution.step_tasks()) for execution in list(self._executions()))


def _view(execution: RunExecution, task: asyncio.Task[Any], instance: Any) -> StepTask:
    step = instance.step
    return StepTask(
        task,
        execution.run_id,
        execution.definition.name,
        step.id,
        instance.index,
        instance.item,
        step.spec.agent,
        instance.attempt,
        instance.first_started,
        instance.attempt_started,
    )
