"""Agents that exist only to be measured."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from mastermind.engine.agent import Agent, AgentRegistry, Params, StepContext


class StampParams(Params):
    pass


class StampAgent(Agent[StampParams]):
    """Records when each step starts and ends (perf_counter), for dispatch latency."""

    name = "stamp"
    Params = StampParams

    def __init__(self) -> None:
        self.starts: dict[str, float] = {}
        self.ends: dict[str, float] = {}

    async def run(self, params: StampParams, ctx: StepContext) -> Any:
        self.starts[ctx.step_id] = time.perf_counter()
        self.ends[ctx.step_id] = time.perf_counter()
        return None


class NapParams(Params):
    seconds: float = 1.0


class NapAgent(Agent[NapParams]):
    """An I/O-bound step: asyncio.sleep on the real loop."""

    name = "nap"
    Params = NapParams

    async def run(self, params: NapParams, ctx: StepContext) -> Any:
        await asyncio.sleep(params.seconds)
        return None


def bench_registry() -> AgentRegistry:
    registry = AgentRegistry(load_plugins=False)
    registry.register(StampAgent)
    registry.register(NapAgent)
    return registry
