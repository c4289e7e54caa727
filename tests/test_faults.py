"""Faults nobody planned for: a Python error inside a step's machinery fails the step, a failing
store fails the run with its reason, and nothing is left `running` or unobserved.

The store faults come from real stores (memory and SQLite) that refuse the Nth commit, not from
mocks of the engine's internals."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from mastermind.engine.agent import AgentRegistry
from mastermind.engine.coordinator import Coordinator
from mastermind.errors import MastermindError
from mastermind.language.loader import Definition
from mastermind.store.base import Store
from mastermind.store.events import STEP_FINAL, Event, RunStatus
from mastermind.store.memory import MemoryStore
from mastermind.store.sqlite import SqliteStore

Load = Callable[[str], Definition]
HANG_GUARD = 20.0  # a run that never ends fails the test here instead of at the harness deadline


class InjectedFault(OSError):
    """What a disk or a network does to a store now and then."""


class FailingMemoryStore(MemoryStore):
    """A memory store whose `append` raises on the Nth call (and, if `dead`, on every later one)."""

    def __init__(self, fail_at: int, *, dead: bool = False) -> None:
        super().__init__()
        self.fail_at, self.dead, self.appends = fail_at, dead, 0

    async def append(self, event: Event) -> None:
        self.appends += 1
        if self.appends == self.fail_at or (self.dead and self.appends > self.fail_at):
            raise InjectedFault(f"injected fault on append {self.appends}")
        await super().append(event)


class FailingSqliteStore(SqliteStore):
    """The embedded store, refusing the Nth commit the way a full disk would."""

    def __init__(self, path: Path, fail_at: int) -> None:
        super().__init__(path)
        self.fail_at, self.appends = fail_at, 0

    async def append(self, event: Event) -> None:
        self.appends += 1
        if self.appends == self.fail_at:
            raise MastermindError("the store could not commit: database or disk is full")
        await super().append(event)


def _balanced_product(levels: int) -> str:
    """(10**18) multiplied 2**levels times, as a balanced tree: 4600 digits for 8 levels."""
    if levels == 0:
        return "1000000000000000000"
    half = _balanced_product(levels - 1)
    return f"({half}*{half})"


PYTHON_ERRORS = {
    # 1e308 * 10 overflows to infinity, used as an index
    "overflow": ("[1, 2][1e308 * 10]", "finite"),
    # a NaN an agent returned (YAML `.nan`), used as an index
    "nan": ("[1, 2][steps.src.outputs]", "nan"),
    # an integer far over Python's 4300-digit text limit (interpolated into text by `with:`)
    "huge_integer": (_balanced_product(8), "integer"),
}


@pytest.mark.parametrize("case", sorted(PYTHON_ERRORS))
async def test_python_errors_in_expressions_fail_the_step(
    registry: AgentRegistry, load: Load, case: str
) -> None:
    expression, words = PYTHON_ERRORS[case]
    definition = load(
        f"""
name: py
on_failure: continue
steps:
  src: {{agent: probe, with: {{value: .nan}}}}
  with_params: {{agent: noop, needs: [src], with: {{value: "v=${{{{ {expression} }}}}"}}}}
  in_outputs: {{agent: noop, needs: [src], outputs: {{v: "${{{{ {expression} }}}}"}}}}
  in_if: {{agent: noop, needs: [src], if: "${{{{ {expression} }}}}"}}
  in_for_each: {{agent: noop, needs: [src], for_each: "${{{{ {expression} }}}}"}}
  after: {{agent: noop, needs: [with_params]}}
"""
    )
    async with Coordinator(registry) as coordinator:
        events: list[Event] = []
        coordinator.subscribe(events.append)
        async with asyncio.timeout(HANG_GUARD):
            result = await coordinator.run(definition)
    assert result.status == RunStatus.FAILED
    assert result.steps == {
        "src": "succeeded",
        "with_params": "failed",
        "in_outputs": "failed",
        "in_if": "failed",
        "in_for_each": "failed",
        "after": "skipped",
    }
    errors = {e.step_id: e.error or "" for e in events if e.status == "failed" and e.step_id}
    for step in ("with_params", "in_outputs", "in_if", "in_for_each"):
        assert words in errors[step], (step, errors[step])


def _workflow(load: Load) -> Definition:
    return load(
        """
name: chain
steps:
  a: {agent: noop, with: {value: 1}}
  b: {agent: noop, needs: [a], for_each: "${{ [1, 2] }}", with: {value: "${{ item }}"}}
  c: {agent: flaky, needs: [b], with: {failures: 1}, retry: {attempts: 2, initial: 1ms}}
outputs: {c: "${{ steps.c.outputs }}"}
"""
    )


async def _events_in_a_clean_run(registry: AgentRegistry, definition: Definition) -> int:
    store = FailingMemoryStore(fail_at=0)
    async with Coordinator(registry, store) as coordinator:
        assert (await coordinator.run(definition)).ok
    return store.appends


async def test_a_store_fault_at_any_commit_fails_the_run_with_its_reason(
    registry: AgentRegistry, load: Load
) -> None:
    """Fail each commit of a run in turn: every time the run ends `failed` with the store's
    reason (recorded, since the store recovers), no step task's error goes unobserved, and
    nothing stays active."""
    definition = _workflow(load)
    total = await _events_in_a_clean_run(registry, definition)
    assert total > 10
    for fail_at in range(1, total + 1):
        store = FailingMemoryStore(fail_at)
        async with Coordinator(registry, store) as coordinator:
            async with asyncio.timeout(HANG_GUARD):
                result = await coordinator.run(definition)
            assert coordinator.active_runs == []
            stored = await store.get_run(result.run_id)
        repro = f"fail_at={fail_at} of {total}"
        assert result.status == RunStatus.FAILED, repro
        assert "store" in (result.error or "") and "injected fault" in (result.error or ""), repro
        assert stored is not None and stored.status == "failed", repro
        assert stored.error == result.error, repro


async def test_a_dead_store_gives_the_waiter_a_clear_error(
    registry: AgentRegistry, load: Load
) -> None:
    """The store fails and stays failed: even the run's end cannot be recorded. The waiter gets
    a clear error, the coordinator forgets the run, and a later wait says the same."""
    definition = _workflow(load)
    total = await _events_in_a_clean_run(registry, definition)
    for fail_at in (1, 2, total // 2, total):
        store = FailingMemoryStore(fail_at, dead=True)
        async with Coordinator(registry, store) as coordinator:
            run_id = await coordinator.submit(definition)
            with pytest.raises(MastermindError, match="store") as caught:
                async with asyncio.timeout(HANG_GUARD):
                    await coordinator.wait(run_id)
            assert "injected fault" in str(caught.value), fail_at
            assert coordinator.active_runs == [], fail_at
            with pytest.raises(MastermindError, match="injected fault"):
                await coordinator.wait(run_id)


async def test_sqlite_commit_failure_fails_the_run(
    registry: AgentRegistry, load: Load, tmp_path: Path
) -> None:
    definition = _workflow(load)
    store: Store = FailingSqliteStore(tmp_path, fail_at=4)
    async with Coordinator(registry, store) as coordinator:
        async with asyncio.timeout(HANG_GUARD):
            result = await coordinator.run(definition)
        stored = await store.get_run(result.run_id)
    assert result.status == RunStatus.FAILED
    assert "disk is full" in (result.error or "")
    assert stored is not None and stored.status == "failed"


async def test_a_nan_output_fails_the_step_on_a_durable_store(
    registry: AgentRegistry, load: Load, tmp_path: Path
) -> None:
    """SQLite (orjson) would write NaN as null: the step fails, saying why, instead."""
    definition = load("name: nan\nsteps:\n  a: {agent: probe, with: {value: [1, .nan]}}\n")
    async with Coordinator(registry, SqliteStore(tmp_path)) as coordinator:
        events: list[Event] = []
        coordinator.subscribe(events.append)
        result = await coordinator.run(definition)
    assert result.status == RunStatus.FAILED
    (failed,) = [e for e in events if e.step_id == "a" and e.status == "failed"]
    assert failed.error == "outputs[1]: nan is not a finite number"


class HeldAckStore(MemoryStore):
    """Commits every event at once, but the caller of the first one `held` picks hears of it
    only when the test lets go (a slow acknowledgement, as of a loaded database); with
    `before`, that event is held before it is committed, and not committed if its caller is
    cancelled meanwhile (as when a group commit holding it fails)."""

    def __init__(self, held: Callable[[Event], bool], *, before: bool = False) -> None:
        super().__init__()
        self.held, self.before = held, before
        self.holding = asyncio.Event()
        self.let_go = asyncio.Event()

    async def append(self, event: Event) -> None:
        hold = not self.holding.is_set() and self.held(event)
        if not (hold and self.before):
            await super().append(event)
        if hold:
            self.holding.set()
            await self.let_go.wait()
            if self.before:
                await super().append(event)


@pytest.mark.parametrize(("failures", "status"), [(1, "failed"), (0, "succeeded")])
async def test_a_step_stopped_while_its_end_commits_ends_as_committed(
    registry: AgentRegistry, load: Load, failures: int, status: str
) -> None:
    """fail_fast stops the run while step a's final event is committed but not yet
    acknowledged: a ended as its committed event says, not `cancelled` (only an explicit cancel
    may cancel), and nothing closes it a second time (the simulation's seeds 8372 and 8963:
    before, the run reported a `cancelled` whose log said `failed`)."""
    definition = load(
        f"""
name: stopped_while_committing
on_failure: fail_fast
steps:
  a: {{agent: flaky, with: {{failures: {failures}, retryable: false}}}}
  c: {{agent: gate}}
  b: {{agent: crash, needs: [c]}}
"""
    )
    store = HeldAckStore(lambda e: e.step_id == "a" and e.status == status)
    async with Coordinator(registry, store) as coordinator:
        run_id = await coordinator.submit(definition)
        async with asyncio.timeout(HANG_GUARD):
            await store.holding.wait()
            registry.instance("gate").gates["default"].set()  # type: ignore[attr-defined]
            result = await coordinator.wait(run_id)
        events = await store.events(run_id)
    finals = [e.status for e in events if e.step_id == "a" and e.status in STEP_FINAL]
    assert finals == [status]
    assert (result.status, result.steps["a"], result.steps["b"]) == ("failed", status, "failed")
    failed_steps = "a, b" if status == "failed" else "b"
    assert result.error == f"failed steps: {failed_steps}"


async def test_a_cancelled_commit_that_did_not_land_leaves_no_hole(
    registry: AgentRegistry, load: Load
) -> None:
    """Step a's `running` commit is in flight, not yet written, when fail_fast cancels a; the
    run counts it landed (the durable stores finish what they started), but it never lands.
    The store refuses the next event (it does not follow), says which number it holds last,
    and the run numbers on from there: its end is recorded, the log gapless. Before, the run
    kept numbering after the lost event: every later commit was refused, the end too, and the
    waiter got a StoreFailure with the run left `running` in the store."""
    definition = load(
        """
name: lost_commit
on_failure: fail_fast
steps:
  a: {agent: probe}
  c: {agent: gate}
  b: {agent: crash, needs: [c]}
"""
    )
    store = HeldAckStore(lambda e: e.step_id == "a" and e.status == "running", before=True)
    async with Coordinator(registry, store) as coordinator:
        run_id = await coordinator.submit(definition)
        async with asyncio.timeout(HANG_GUARD):
            await store.holding.wait()
            registry.instance("gate").gates["default"].set()  # type: ignore[attr-defined]
            result = await coordinator.wait(run_id)
        events = await store.events(run_id)
        stored = await store.get_run(run_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert all(not (e.step_id == "a" and e.status == "running") for e in events)
    assert result.status == "failed" and stored is not None and stored.status == "failed"
    assert events[-1].step_id is None and events[-1].status == "failed"
