"""`sleep`: wait for a duration (on the coordinator's clock, so tests need not wait)."""

from __future__ import annotations

from typing import Any

from mastermind.engine.agent import Agent, Params, StepContext
from mastermind.language.model import Duration


class SleepParams(Params):
    duration: Duration


class SleepAgent(Agent[SleepParams]):
    """Sleeps for `duration`; outputs `{slept: seconds}`."""

    name = "sleep"
    examples = ({"duration": "500ms"},)
    Params = SleepParams

    async def run(self, params: SleepParams, ctx: StepContext) -> Any:
        await ctx.clock.sleep(params.duration)
        return {"slept": params.duration}
