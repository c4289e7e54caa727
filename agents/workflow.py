"""`workflow`: run another workflow as a step (a sub-run) and return its outputs."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from mastermind.agent import Agent, Params, StepContext
from mastermind.coordinator import child_run_id
from mastermind.errors import StepError

MAX_DEPTH = 16


class WorkflowParams(Params):
    workflow: str = Field(
        description="a workflow name known to the coordinator, or a file path "
        "relative to the calling workflow's file"
    )
    inputs: dict[str, Any] = Field(default_factory=dict)


class WorkflowAgent(Agent[WorkflowParams]):
    """Starts the sub-run, waits for it, and outputs its `outputs`; cancelling cancels it too."""

    name = "workflow"
    Params = WorkflowParams

    async def run(self, params: WorkflowParams, ctx: StepContext) -> Any:
        coordinator = ctx.service("coordinator")
        parent = ctx.service("run")
        if parent.depth >= MAX_DEPTH:
            raise StepError(f"sub-workflows nest deeper than {MAX_DEPTH} levels")
        definition = await coordinator.resolve_workflow(params.workflow, parent.definition.file)
        run_id = child_run_id(f"{ctx.idempotency_key}#{ctx.attempt}")
        existing = await coordinator.store.get_run(run_id)
        if existing is None:
            await coordinator.submit(
                definition,
                params.inputs,
                run_id=run_id,
                parent=ctx.idempotency_key,
                depth=parent.depth + 1,
            )
        try:
            result = await coordinator.wait(run_id)
        except asyncio.CancelledError:
            coordinator.cancel(run_id)
            raise
        if not result.ok:
            raise StepError(
                f"sub-run {run_id} of {definition.name} {result.status}: {result.error}"
            )
        return result.outputs
