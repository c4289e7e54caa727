"""`workflow`: run another workflow as a step (a sub-run) and return its outputs."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mastermind.engine.agent import Agent, Params, StepContext
from mastermind.errors import StepError
from mastermind.language.model import empty_dict


class WorkflowParams(Params):
    workflow: str = Field(
        description="a workflow name known to the coordinator, or a file path "
        "relative to the calling workflow's file"
    )
    inputs: dict[str, Any] = Field(default_factory=empty_dict)


class WorkflowAgent(Agent[WorkflowParams]):
    """Starts the sub-run, waits for it, and outputs its `outputs`; cancelling cancels it too."""

    name = "workflow"
    examples = ({"workflow": "hello.yaml", "inputs": {"names": ["Ada"]}},)
    Params = WorkflowParams

    async def run(self, params: WorkflowParams, ctx: StepContext) -> Any:
        result = await ctx.services.subruns.run_child(
            params.workflow, params.inputs, key=ctx.idempotency_key, attempt=ctx.attempt
        )
        if not result.ok:
            raise StepError(
                f"sub-run {result.run_id} of {result.workflow} {result.status}: {result.error}"
            )
        return result.outputs
