"""`python`: call `module:function` in-process: coroutines awaited, plain functions in a thread
(or, with `inline: true`, called directly on the event loop).

The module is imported from the environment, else from the workflow file's folder (so a
`helpers.py` beside `flow.yaml` works as `function: "helpers:fn"` without installing anything).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePath
from typing import Any

from pydantic import Field

from mastermind.engine.agent import Agent, Params, StepContext, import_callable
from mastermind.language.model import empty_dict, empty_list


class PythonParams(Params):
    function: str = Field(
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$", description="module:function to call"
    )
    args: list[Any] = Field(default_factory=empty_list)
    kwargs: dict[str, Any] = Field(default_factory=empty_dict)
    context: bool = Field(
        False, description="pass context={run_id, step_id, item_index, attempt, idempotency_key}"
    )
    inline: bool = Field(
        False,
        description="call a plain function on the event loop, without a thread hop. It must "
        "not block: every step, the API and the timers wait while it runs, and a timeout "
        "cannot interrupt it. For functions that return in microseconds.",
    )


_PLAIN = frozenset({bool, int, float, str, list, dict})  # results that are surely not awaitable
_MAX_RESOLVED = 4096  # distinct module:function references remembered per process


class PythonAgent(Agent[PythonParams]):
    """Returns whatever the function returns (it must be JSON-able data).

    A plain function runs in a worker thread so the event loop never blocks; note that a thread
    cannot be stopped, so a timed-out sync function finishes in the background. For CPU-heavy
    work use the `cpu` agent, which runs in a process pool and can be stopped. `inline: true`
    skips the thread for functions that return at once (the hop costs far more than they do).
    """

    name = "python"
    examples = ({"function": "mypackage.tasks:fetch", "args": ["${{ item }}"], "context": True},)
    Params = PythonParams
    # what a network or a busy service says when another attempt may well succeed
    retryable_errors = (ConnectionError, TimeoutError)

    def __init__(self, threads: int = 64) -> None:
        # Its own threads: sync steps must not queue up the loop's default executor, which the
        # coordinator and other agents use for short housekeeping calls.
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="mm-python")
        # (module:function, workflow file) → (the callable, whether it is a coroutine
        # function): resolved once, not once per item of a fan-out (an import lookup, a
        # getattr chain and the file's folder each time).
        self._resolved: dict[tuple[str, str], tuple[Callable[..., Any], bool]] = {}

    def resolve(self, reference: str, workflow_file: str = "") -> tuple[Callable[..., Any], bool]:
        """The callable `reference` names (from the environment, else from the folder of
        `workflow_file`), and whether it is a coroutine function (cached)."""
        key = (reference, workflow_file)
        found = self._resolved.get(key)
        if found is None:
            # a failure is not cached: it may be fixed
            folder = str(PurePath(workflow_file).parent) if workflow_file else None
            function = import_callable(reference, folder)
            found = (function, inspect.iscoroutinefunction(function))
            if len(self._resolved) < _MAX_RESOLVED:
                self._resolved[key] = found
        return found

    async def run(self, params: PythonParams, ctx: StepContext) -> Any:
        function, is_coroutine = self.resolve(params.function, ctx.workflow_file)
        kwargs = params.kwargs
        if params.context:
            kwargs = dict(kwargs)
            kwargs["context"] = {
                "run_id": ctx.run_id,
                "step_id": ctx.step_id,
                "item_index": ctx.item_index,
                "attempt": ctx.attempt,
                "idempotency_key": ctx.idempotency_key,
            }
        if is_coroutine:
            return await function(*params.args, **kwargs)
        if params.inline:
            result = function(*params.args, **kwargs)
        else:
            loop = asyncio.get_running_loop()
            call = functools.partial(
                contextvars.copy_context().run, function, *params.args, **kwargs
            )
            result = await loop.run_in_executor(self._threads, call)
        if result is None or type(result) in _PLAIN or not inspect.isawaitable(result):
            return result
        return await result

    async def aclose(self) -> None:
        # running calls cannot be interrupted; do not wait for them
        self._threads.shutdown(wait=False, cancel_futures=True)
