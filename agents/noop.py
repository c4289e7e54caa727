"""`noop` returns its `value` (default null); `fail` always fails. Both are for tests and demos."""

from __future__ import annotations

from typing import Any

from mastermind.engine.agent import Agent, Params, StepContext
from mastermind.errors import StepError


class NoopParams(Params):
    value: Any = None


class NoopAgent(Agent[NoopParams]):
    """Returns `value` unchanged: the cheapest possible step."""

    name = "noop"
    examples = ({"value": "${{ inputs.names }}"},)
    Params = NoopParams

    async def run(self, params: NoopParams, ctx: StepContext) -> Any:
        return params.value


class FailParams(Params):
    message: str = "failed on purpose"
    retryable: bool = False


class FailAgent(Agent[FailParams]):
    """Fails with `message`; retryable if asked, so retry policies can be tried out."""

    name = "fail"
    examples = ({"message": "the upstream service said no", "retryable": True},)
    Params = FailParams

    async def run(self, params: FailParams, ctx: StepContext) -> Any:
        raise StepError(params.message, retryable=params.retryable)
