"""Dispatch on a durable store: a step's `queued` event shares a commit with its first
`running` event, yet nothing acts before both are committed, and the log stays in seq order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from mastermind.engine.agent import Agent, AgentRegistry, NoParams, StepContext
from mastermind.engine.coordinator import Coordinator
from mastermind.language.loader import Definition
from mastermind.store.events import Event
from mastermind.store.memory import MemoryStore
from mastermind.store.sqlite import SqliteStore

Load = Callable[[str], Definition]


class SlowCommitStore(MemoryStore):
    """A memory store whose commits take a few loop iterations, like a real one's round trip.
    It records the order events were handed to it and the events committed so far."""

    def __init__(self) -> None:
        super().__init__()
        self.handed: list[int] = []
        self.committed: list[Event] = []

    async def append(self, event: Event) -> None:
        self.handed.append(event.seq)
        for _ in range(3):
            await asyncio.sleep(0)
        await super().append(event)
        self.committed.append(event)


class WitnessAgent(Agent[NoParams]):
    """Records, when it starts, which of its own step's transitions are committed."""

    name = "witness"
    store: ClassVar[SlowCommitStore | None] = None
    seen: ClassVar[list[tuple[str, int | None, set[str]]]] = []

    async def run(self, params: NoParams, ctx: StepContext) -> Any:
        assert self.store is not None
        mine = {
            e.status
            for e in self.store.committed
            if e.step_id == ctx.step_id and e.item_index in (None, ctx.item_index)
        }
        self.seen.append((ctx.step_id, ctx.item_index, mine))
        return ctx.item_index


FLOW = """
name: witness
steps:
  a: {agent: witness}
  b: {agent: witness, needs: [a], for_each: "${{ [1, 2, 3] }}"}
  c: {agent: witness, needs: [a]}
  d: {agent: witness, needs: [b, c]}
"""


async def test_no_step_runs_before_its_queued_and_running_events_are_committed(
    registry: AgentRegistry, load: Load
) -> None:
    registry.register(WitnessAgent)
    store = SlowCommitStore()
    WitnessAgent.store, WitnessAgent.seen = store, []
    async with Coordinator(registry, store) as coordinator:
        result = await coordinator.run(load(FLOW))
    assert result.ok, result.error
    assert len(WitnessAgent.seen) == 6  # a, b[0..2], c, d
    for step_id, index, committed in WitnessAgent.seen:
        assert {"queued", "running"} <= committed, (step_id, index, committed)
    # every event reached the store in seq order, with no gap (followers read "after seq N")
    assert store.handed == list(range(1, len(store.handed) + 1))


def _chain(n: int) -> str:
    lines = ["name: chain", "steps:", "  s0: {agent: noop}"]
    lines += [f"  s{i}: {{agent: noop, needs: [s{i - 1}]}}" for i in range(1, n)]
    return "\n".join(lines) + "\n"


async def test_a_chain_on_sqlite_commits_queued_with_running(
    registry: AgentRegistry, load: Load, tmp_path: Path
) -> None:
    steps = 40
    store = SqliteStore(tmp_path)
    async with Coordinator(registry, store) as coordinator:
        result = await coordinator.run(load(_chain(steps)))
        assert result.ok, result.error
        events = await store.events(result.run_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    # per step: queued, running, succeeded; they used to take three commits (one each) and
    # now take two. The bound leaves room for the writer to split a few pairs on a busy machine.
    assert len(events) == 3 * steps + 2
    assert store.commits <= 2.5 * steps, store.commits
