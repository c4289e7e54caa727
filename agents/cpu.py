"""`cpu`: run `module:function` in the shared process pool (or on a Dask cluster), so the event
loop never blocks."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from mastermind.engine.agent import Agent, Params, StepContext
from mastermind.language.model import empty_dict, empty_list

Executor = Literal["local", "dask"]


class CpuParams(Params):
    function: str = Field(
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$", description="module:function to call"
    )
    args: list[Any] = Field(default_factory=empty_list)
    kwargs: dict[str, Any] = Field(default_factory=empty_dict)
    executor: Executor | None = Field(
        None,
        description="local: this machine's process pool; dask: a Dask cluster "
        "(default: the agent's setting, else local)",
    )
    scheduler: str | None = Field(
        None,
        pattern=r"^[a-z]+://\S+$",
        description="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (implies executor dask)",
    )

    @model_validator(mode="after")
    def _scheduler_needs_dask(self) -> CpuParams:
        if self.scheduler is not None and self.executor == "local":
            raise ValueError("`scheduler` is for executor dask, not local")
        return self


class CpuAgent(Agent[CpuParams]):
    """Returns what the function returns (picklable, JSON-able data).

    Local pool: a worker that dies fails the attempt with a retryable error and is replaced; a
    step that is cancelled or times out has its worker killed and replaced, so no core stays
    busy for it. Dask: the call is a task keyed by the step's idempotency key and attempt,
    recorded (key and scheduler) before it is submitted, so that a resume or takeover stops it
    before the step runs again; a worker lost mid-step is the same retryable error, and a
    cancelled or timed-out step cancels its future and stops the worker thread running it.

    Daemon config: `agents: {cpu: {executor: dask, scheduler: "tcp://host:8786"}}` makes Dask
    the default for every cpu step; a step's own `executor`/`scheduler` win.
    """

    name = "cpu"
    examples = (
        {"function": "agents.examples:word_stats", "args": ["${{ steps.fetch.outputs.body }}"]},
    )
    Params = CpuParams
    cpu_bound = True

    def __init__(self, executor: Executor = "local", scheduler: str | None = None) -> None:
        if executor not in ("local", "dask"):
            raise ValueError(f"agents.cpu.executor is local or dask, not {executor!r}")
        self.executor = executor
        self.scheduler = scheduler

    async def run(self, params: CpuParams, ctx: StepContext) -> Any:
        executor = params.executor or ("dask" if params.scheduler else self.executor)
        if executor == "dask":
            key = f"{ctx.idempotency_key}#{ctx.attempt}"

            async def submitting(scheduler: str) -> None:  # recorded before it is submitted
                await ctx.processes.task(key, scheduler)

            return await ctx.services.cluster.run(
                params.function,
                params.args,
                params.kwargs,
                key=key,
                scheduler=params.scheduler or self.scheduler,
                submitting=submitting,
            )

        async def started(pid: int) -> None:  # recorded before the worker gets the call
            await ctx.processes.started(pid, group=False)

        pool = ctx.services.process_pool
        return await pool.run(params.function, params.args, params.kwargs, started=started)
