"""`cpu`: run `module:function` in the shared process pool, so the event loop never blocks."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mastermind.engine.agent import Agent, Params, StepContext


class CpuParams(Params):
    function: str = Field(
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$", description="module:function to call"
    )
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)


class CpuAgent(Agent[CpuParams]):
    """Returns what the function returns (picklable, JSON-able data).

    A worker that dies fails the attempt with a retryable error and is replaced; a step that is
    cancelled or times out has its worker killed and replaced, so no core stays busy for it.
    """

    name = "cpu"
    Params = CpuParams
    cpu_bound = True

    async def run(self, params: CpuParams, ctx: StepContext) -> Any:
        pool = ctx.services.process_pool
        return await pool.run(params.function, params.args, params.kwargs)
