"""Scripted agents for coordinator tests: they record what happened and wait on events."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from mastermind.engine.agent import Agent, AgentRegistry, Params, StepContext
from mastermind.errors import StepError


class ProbeParams(Params):
    value: Any = None
    yields: int = 3  # how often to hand the loop over, so instances overlap


class ProbeAgent(Agent[ProbeParams]):
    """Records starts, ends and the peak number of instances in flight."""

    name = "probe"
    Params = ProbeParams

    def __init__(self) -> None:
        self.in_flight = 0
        self.peak = 0
        self.log: list[tuple[str, str, int | None]] = []
        self.contexts: list[StepContext] = []

    async def run(self, params: ProbeParams, ctx: StepContext) -> Any:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        self.log.append(("start", ctx.step_id, ctx.item_index))
        self.contexts.append(ctx)
        try:
            for _ in range(params.yields):
                await asyncio.sleep(0)
        finally:
            self.in_flight -= 1
            self.log.append(("end", ctx.step_id, ctx.item_index))
        return params.value


class GateParams(Params):
    gate: str = "default"


class GateAgent(Agent[GateParams]):
    """Blocks until the test opens its gate; records starts and cancellations."""

    name = "gate"
    Params = GateParams

    def __init__(self) -> None:
        self.gates: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.started: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.running = 0
        self.cancelled: list[str] = []
        self._changed = asyncio.Event()

    async def until_running(self, count: int) -> None:
        """Wait until `count` instances are inside run()."""
        while self.running < count:
            self._changed.clear()
            await self._changed.wait()

    async def run(self, params: GateParams, ctx: StepContext) -> Any:
        self.running += 1
        self._changed.set()
        self.started[params.gate].set()
        try:
            await self.gates[params.gate].wait()
        except asyncio.CancelledError:
            self.cancelled.append(ctx.idempotency_key)
            raise
        finally:
            self.running -= 1
        return params.gate


class FlakyParams(Params):
    failures: int = 1
    retryable: bool = True


class FlakyAgent(Agent[FlakyParams]):
    """Fails the first `failures` attempts, then returns the attempt number."""

    name = "flaky"
    Params = FlakyParams

    def __init__(self) -> None:
        self.keys: list[tuple[str, int]] = []

    async def run(self, params: FlakyParams, ctx: StepContext) -> Any:
        self.keys.append((ctx.idempotency_key, ctx.attempt))
        if ctx.attempt <= params.failures:
            raise StepError(f"attempt {ctx.attempt} failed", retryable=params.retryable)
        return {"attempt": ctx.attempt}


class CrashParams(Params):
    kind: str = "value"


class CrashAgent(Agent[CrashParams]):
    """Raises a plain Python exception, as a buggy plug-in would."""

    name = "crash"
    Params = CrashParams
    retryable_errors = (ConnectionError,)

    async def run(self, params: CrashParams, ctx: StepContext) -> Any:
        if params.kind == "connection":
            raise ConnectionError("peer went away")
        raise ValueError("bug in agent")


def register_all(registry: AgentRegistry) -> AgentRegistry:
    for agent in (ProbeAgent, GateAgent, FlakyAgent, CrashAgent):
        registry.register(agent)
    return registry
