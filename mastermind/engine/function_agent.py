"""Agents written as plain `async def` functions: the signature becomes the parameter model.

`function_agent(fetch)` builds an `Agent` class whose `Params` is a pydantic model made from the
function's parameters (their annotations and defaults), so a step's `with:` is checked at load
time like any built-in agent's, and the JSON Schema offers the same completion. A parameter
annotated `StepContext` (or named `ctx`) receives the step's context instead of a `with:` value.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import Field, create_model

from mastermind.engine.agent import Agent, Params, StepContext

AsyncFunction = Callable[..., Awaitable[Any]]


def function_agent(
    function: AsyncFunction,
    name: str | None = None,
    *,
    retry_on: tuple[type[BaseException], ...] = (),
) -> type[Agent[Any]]:
    """An Agent class that calls `function(**with)`; its name defaults to the function's."""
    if not inspect.iscoroutinefunction(function):
        raise TypeError(f"{function.__qualname__} must be an `async def` function")
    agent_name = name or function.__name__
    hints = typing.get_type_hints(function)
    fields: dict[str, Any] = {}
    context_parameter: str | None = None
    for parameter in inspect.signature(function).parameters.values():
        annotation = hints.get(parameter.name, Any)
        if annotation is StepContext or parameter.name == "ctx":
            context_parameter = parameter.name
            continue
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(f"{function.__qualname__}: *args and **kwargs cannot be parameters")
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise TypeError(f"{function.__qualname__}: positional-only parameter {parameter.name}")
        default = ... if parameter.default is parameter.empty else parameter.default
        fields[parameter.name] = (annotation, Field(default))
    model: type[Params] = create_model(
        f"{_camel(agent_name)}Params",
        __base__=Params,
        __doc__=inspect.getdoc(function) or f"Parameters of the `{agent_name}` agent.",
        __module__=function.__module__,
        **fields,
    )
    names = tuple(fields)

    async def run(self: Agent[Any], params: Params, ctx: StepContext) -> Any:
        arguments = {field: getattr(params, field) for field in names}
        if context_parameter is not None:
            arguments[context_parameter] = ctx
        return await function(**arguments)

    namespace: dict[str, Any] = {
        "name": agent_name,
        "Params": model,
        "retryable_errors": retry_on,
        "run": run,
        "__doc__": inspect.getdoc(function),
        "__module__": function.__module__,
        "function": staticmethod(function),
    }
    return type(f"{_camel(agent_name)}Agent", (Agent,), namespace)


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_")) or "Function"
