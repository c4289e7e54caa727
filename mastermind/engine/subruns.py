"""Sub-runs: a step that runs another workflow as a child run and waits for it.

The child's run id is derived from the calling step's idempotency key and attempt, so a resumed
parent rejoins the child it started instead of starting another: an unfinished child is resumed
here (or, if another process holds it, waited for in the store).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mastermind.engine.agent import SubRunOutcome
from mastermind.errors import RunNotFound, StepError, StoreFailure

if TYPE_CHECKING:
    from mastermind.engine.coordinator import Coordinator
    from mastermind.engine.run import RunExecution, RunResult

MAX_DEPTH = 16  # sub-workflows nest at most this deep
ELSEWHERE_POLL = 1.0  # seconds between looks at a child another process runs


class CoordinatorSubRuns:
    """The `SubRuns` service of one run: children go through the same coordinator."""

    def __init__(self, coordinator: Coordinator, parent: RunExecution) -> None:
        self.coordinator = coordinator
        self.parent = parent

    async def run_child(
        self, workflow: str, inputs: Mapping[str, Any], *, key: str, attempt: int
    ) -> SubRunOutcome:
        """Start (or rejoin) the child of attempt `attempt` of step instance `key` (its
        idempotency key), wait for it; cancelling cancels it."""
        coordinator, parent = self.coordinator, self.parent
        if parent.depth >= MAX_DEPTH:
            raise StepError(f"sub-workflows nest deeper than {MAX_DEPTH} levels")
        definition = await coordinator.resolve_workflow(workflow, parent.definition.file)
        run_id = child_run_id(f"{key}#{attempt}")  # one child per attempt, stable on resume
        depth = parent.depth + 1
        if await coordinator.store.get_run(run_id) is None:
            await coordinator.submit(definition, inputs, run_id=run_id, parent=key, depth=depth)
        try:
            result = await self._join(run_id, depth)
        except asyncio.CancelledError:
            if not parent.abandoned:  # an abandoned parent resumes later and rejoins the child
                coordinator.cancel(run_id)
            raise
        return SubRunOutcome(run_id, definition.name, result.status, result.outputs, result.error)

    async def _join(self, run_id: str, depth: int) -> RunResult:
        """Wait for the child to end; resume it first if it was interrupted (a crash, a drain)."""
        coordinator = self.coordinator
        while True:
            if run_id not in coordinator.active_runs:
                record = await coordinator.store.get_run(run_id)
                if record is not None and not record.finished:
                    # held by another process (a live lease): wait for it there instead
                    with contextlib.suppress(RunNotFound):
                        await coordinator.resume(run_id, depth=depth)
            try:
                return await coordinator.wait(run_id)
            except RunNotFound:
                await coordinator.clock.sleep(ELSEWHERE_POLL)
            except StoreFailure as exc:
                # the child's store failure is this step's failure, not this run's: left as a
                # StoreFailure, the parent's step took it for its own and ended without a word
                raise StepError(f"sub-run {run_id} stopped: {exc}") from None


def child_run_id(idempotency_key: str) -> str:
    """The run id a sub-workflow step uses: stable across restarts of the same attempt."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "mastermind:" + idempotency_key).hex
