"""`python`: call `module:function` in-process: coroutines awaited, plain functions in a thread."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import Field

from mastermind.engine.agent import Agent, Params, StepContext, import_callable


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

    def __init__(self, threads: int = 64) -> None:
        # Its own threads: sync steps must not queue up the loop's default executor, which the
        # coordinator and other agents use for short housekeeping calls.
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="mm-python")

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
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, function, *params.args, **kwargs)
        result = await loop.run_in_executor(self._threads, call)
        if inspect.isawaitable(result):
            return await result
        return result

    async def aclose(self) -> None:
        # running calls cannot be interrupted; do not wait for them
        self._threads.shutdown(wait=False, cancel_futures=True)
