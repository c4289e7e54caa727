"""`wait`: pause a step until a named signal reaches the run, or a timeout passes."""

from __future__ import annotations

import asyncio
from typing import Any

from mastermind.engine.agent import Agent, Params, StepContext
from mastermind.errors import StepError
from mastermind.language.identifiers import SignalName
from mastermind.language.model import Duration


class WaitParams(Params):
    signal: SignalName
    timeout: Duration  # required: every wait has a deadline


class WaitAgent(Agent[WaitParams]):
    """Waits for `signal`; outputs `{signal, payload}` (payload is what the sender attached)."""

    name = "wait"
    examples = ({"signal": "approve", "timeout": "10m"},)
    Params = WaitParams

    async def run(self, params: WaitParams, ctx: StepContext) -> Any:
        try:
            async with asyncio.timeout(params.timeout):
                payload = await ctx.services.signals.receive(params.signal)
        except TimeoutError:
            raise StepError(
                f"no {params.signal!r} signal within {params.timeout:g}s", retryable=False
            ) from None
        return {"signal": params.signal, "payload": payload}
