"""Dispatch on a durable store: a step's `queued` event shares a commit with its first
`running` event (and with the `succeeded` of the step that released it), yet nothing acts
before they are committed, and the log stays in seq order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from mastermind.engine.agent import Agent, AgentRegistry, NoParams, StepContext
from mastermind.engine.coordinator import Coordinator
from mastermind.engine.run import _Started
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
    # per step: queued, running, succeeded; they used to take three commits (one each), then
    # two, and now one: a step's `succeeded` shares its commit with the next step's `queued`
    # and `running`. The bound leaves room for the writer to split a few on a busy machine.
    assert len(events) == 3 * steps + 2
    assert store.commits <= 1.5 * steps, store.commits


async def test_a_commit_handed_over_early_shares_its_future_with_later_waits() -> None:
    """`_Started` runs `emit` up to its wait on the group commit's future; other events of the
    same commit are awaited meanwhile (a dependent's `queued`), then it is awaited."""
    loop = asyncio.get_running_loop()
    commit: asyncio.Future[None] = loop.create_future()

    async def wait(value: int) -> int:
        await commit
        return value

    early = _Started(wait(1))
    loop.call_soon(commit.set_result, None)
    assert await wait(2) == 2  # another waiter first (it found the future marked, and failed)
    assert await early == 1
    done = _Started(wait(3))  # the future is done already: finished when awaited
    assert await done == 3


async def test_a_cancel_reaches_a_commit_handed_over_early() -> None:
    loop = asyncio.get_running_loop()
    commit: asyncio.Future[None] = loop.create_future()
    seen: list[str] = []

    async def wait() -> None:
        try:
            await commit
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    early = _Started(wait())

    async def waiter() -> None:
        await early

    task = loop.create_task(waiter())
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.wait([task])
    assert task.cancelled() and seen == ["cancelled"]


async def test_listeners_see_each_runs_events_in_seq_order_on_sqlite(
    registry: AgentRegistry, load: Load, tmp_path: Path
) -> None:
    """Batches are committed by the writer thread or, small ones, on the loop: either way a
    batch's waiters (and the listeners after them) come after every earlier batch's."""
    lines = ["name: mix", "inputs: {items: {type: array}}", "steps:"]
    lines.append('  fan: {agent: noop, for_each: "${{ inputs.items }}"}')
    lines.append("  c0: {agent: noop}")
    lines += [f"  c{i}: {{agent: noop, needs: [c{i - 1}]}}" for i in range(1, 40)]
    definition = load("\n".join(lines) + "\n")
    seen: dict[str, list[int]] = {}
    async with Coordinator(registry, SqliteStore(tmp_path)) as coordinator:
        coordinator.subscribe(lambda e: seen.setdefault(e.run_id, []).append(e.seq))
        run_ids = [
            await coordinator.submit(definition, {"items": list(range(n))}) for n in (300, 7, 60)
        ]
        for run_id in run_ids:
            assert (await coordinator.wait(run_id)).ok
    for run_id in run_ids:
        assert seen[run_id] == list(range(1, len(seen[run_id]) + 1)), run_id
