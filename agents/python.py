"""`python`: call `module:function` in-process: coroutines awaited, plain functions in a thread."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from pydantic import Field

from mastermind.agent import Agent, Params, StepContext, import_callable


class PythonParams(Params):
    function: str = Field(
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$", description="module:function to call"
    )
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    context: bool = Field(
        False, description="pass context={run_id, step_id, item_index, attempt, idempotency_key}"
    )


class PythonAgent(Agent[PythonParams]):
    """Returns whatever the function returns (it must be JSON-able data).

    A plain function runs in a worker thread so the event loop never blocks; note that a thread
    cannot be stopped, so a timed-out sync function finishes in the background. For CPU-heavy
    work use the `cpu` agent, which runs in a process pool and can be stopped.
    """

    name = "python"
    Params = PythonParams

    async def run(self, params: PythonParams, ctx: StepContext) -> Any:
        function = import_callable(params.function)
        kwargs = dict(params.kwargs)
        if params.context:
            kwargs["context"] = {
                "run_id": ctx.run_id,
                "step_id": ctx.step_id,
                "item_index": ctx.item_index,
                "attempt": ctx.attempt,
                "idempotency_key": ctx.idempotency_key,
            }
        if inspect.iscoroutinefunction(function):
            return await function(*params.args, **kwargs)
        result = await asyncio.to_thread(function, *params.args, **kwargs)
        if inspect.isawaitable(result):
            return await result
        return result
