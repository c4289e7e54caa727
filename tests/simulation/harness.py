"""A deterministic fault simulation: seeded random workflows run against a store that fails,
stalls and "crashes" on a schedule drawn from the same seed, and invariants checked after.

One seed = one world: a few random workflows (fan-out, chains, conditions, retries, timeouts,
sub-workflows, signals, at_most_once steps) submitted to a Coordinator over a `FaultyStore`
(a store that survives every crash: the MemoryStore, or the real SQLite store in a file of a
temporary directory, `InlineSqliteStore`). Faults, at commit numbers drawn from the seed:
- `fail`: the commit raises (the engine fails the run with the store's reason);
- `slow`: the commit lands, but its caller hears of it only after the loop ran many times;
- `crash_after`: the event is committed, then the process "dies" before acting on it;
- `crash_before`: the process "dies" before the event is committed (what the step did before,
  e.g. its effect, happened; its record did not).
Everything runs on a `VirtualTimeLoop` (time jumps to the next timer when nothing is ready) with
no threads, so a seed plays out the same way on an idle laptop and on a loaded CI machine.
A crash abandons the coordinator (every later write is refused, its tasks are torn down, its
agents perform no more effects) and a new coordinator resumes from the store, as a restarted
daemon would. The engine's clock is a FakeClock (records' wall time, backoff sleeps).

Invariants (`check`): every accepted run ends, or says why not (a step waiting on a signal or
an `unknown` decision); every effect keyed by an idempotency key happened at least once for
every instance that succeeded and was applied once; no two attempts of one step instance were
live at once; event numbers are gapless; the fold of each run's event log equals the store's
live records and what the last coordinator reported.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
import sqlite3
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import Field

from mastermind.engine.agent import Agent, AgentRegistry, Params, StepContext
from mastermind.engine.clock import FakeClock
from mastermind.engine.coordinator import Coordinator, Settings
from mastermind.engine.run import RunResult
from mastermind.errors import EventOutOfOrder, RetryableStepError, StepError, StoreUnavailable
from mastermind.language.loader import load_text
from mastermind.store.base import RunRecord, StepRecord, Store, apply_event, fold_steps
from mastermind.store.events import Event
from mastermind.store.memory import MemoryStore
from mastermind.store.sqlite import SqliteStore, _Commit, _connect, _resolve, migrate

FAULTS = ("fail", "slow", "crash_after", "crash_before")
STORES = ("memory", "sqlite")
MAX_LIVES = 40  # coordinators per seed before the simulation calls it a livelock
LIFE_DEADLINE = 3600.0  # virtual seconds one coordinator life may take (a hang detector)


class SimulatedCrash(Exception):
    """The process running the coordinator "died": nothing it does reaches the world."""


# ------------------------------------------------------------------------------ the world


@dataclass
class World:
    """What steps did outside the store: effects, keyed by idempotency key."""

    life: int = 0  # the coordinator generation now alive; older ones are dead processes
    executions: Counter[str] = field(default_factory=Counter)  # key -> times performed
    applied: dict[str, int] = field(default_factory=dict)  # key -> attempt that applied it
    live: Counter[str] = field(default_factory=Counter)  # key -> attempts in flight
    overlaps: list[str] = field(default_factory=list)  # keys seen with two live attempts
    plans: dict[str, list[str]] = field(default_factory=dict)  # key -> what each attempt does


class SimParams(Params):
    behaviour: list[str] = Field(default_factory=list)  # per attempt: ok/fail/retryable/hang
    value: Any = None
    naps: int = 1  # fake-clock sleeps (and loop yields) inside an attempt


class SimAgent(Agent[SimParams]):
    """Performs an effect keyed by the idempotency key, as a real integration would (INSERT
    OR IGNORE on the key): executed at least once, applied once."""

    name = "sim"
    Params = SimParams
    world: ClassVar[World]
    life: ClassVar[int]

    async def run(self, params: SimParams, ctx: StepContext) -> Any:
        world, key = self.world, ctx.idempotency_key
        if world.life != self.life:
            raise SimulatedCrash("a dead process does nothing")
        world.live[key] += 1
        if world.live[key] > 1:
            world.overlaps.append(key)
        try:
            behaviour = params.behaviour or ["ok"]
            what = behaviour[min(ctx.attempt, len(behaviour)) - 1]
            for _ in range(params.naps):
                await ctx.clock.sleep(0.5)
            if what == "hang":
                await asyncio.Event().wait()  # only the step's timeout ends this
            if world.life != self.life:
                raise SimulatedCrash("a dead process does nothing")
            world.executions[key] += 1
            if what == "retryable":
                raise RetryableStepError(f"transient failure of {key}")
            if what == "fail":
                raise StepError(f"{key} failed for good")
            world.applied.setdefault(key, ctx.attempt)
            return {"key": key, "value": params.value}
        finally:
            world.live[key] -= 1


def registry_for(world: World, life: int) -> AgentRegistry:
    """The agents of one coordinator life (the sim agent bound to that life)."""
    registry = AgentRegistry(load_plugins=False)
    agent = type("SimAgentOfLife", (SimAgent,), {"world": world, "life": life})
    registry.register(agent)
    return registry


# ------------------------------------------------------------------------------ the store


@dataclass
class Faults:
    """The schedule (commit number -> fault) and what was injected, across every life."""

    schedule: dict[int, str]
    appends: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    # events the store refused as out of order with no injected refusal of an earlier event of
    # their run in the same life to explain it: the engine numbered or sent them wrong (the
    # run then fails "with the store's reason", which must not hide such a bug)
    unexplained: list[str] = field(default_factory=list)


class InlineSqliteStore(SqliteStore):
    """The real SQLite store (its schema, its group commit of every write queued meanwhile in
    one transaction, its refusals, its reads and folds) in a file, with the work of its writer
    and reader threads done on the loop's thread: a batch is committed by a callback once the
    tasks that are ready have run, so a seed plays out the same way on every machine."""

    _conn: sqlite3.Connection | None = None
    _batch: asyncio.Future[None] | None = None  # settled when `_ops` are committed
    _doomed = False  # the next batch fails as a whole (a full disk rolls the transaction back)

    def __init__(self, state_dir: str) -> None:
        super().__init__(state_dir)
        self.failed_runs: set[str] = set()  # runs with an event in a failed batch, this life

    def doom_next_batch(self) -> None:
        self._doomed = True

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._prepare_files()
        self._conn = _connect(self.path, self.synchronous)
        migrate(self._conn)
        self._reader = self._conn

    async def close(self) -> None:
        if self._conn is not None:
            self._flush()
            self._conn.close()
            self._conn = self._reader = None

    def _submit(self, kind: str, *args: Any) -> asyncio.Future[None]:
        assert self._loop is not None and self._conn is not None, "the store is not open"
        self._ops.append((kind, args))
        if self._batch is None:
            self._batch = _Commit(loop=self._loop)
            self._loop.call_soon(self._flush)
        return self._batch

    def _flush(self) -> None:
        batch, future = self._ops, self._batch
        self._ops, self._batch = [], None
        if not batch or self._conn is None or self._loop is None:
            return
        if self._doomed and future is not None:  # every write of the batch is refused
            self._doomed = False
            self.failed_runs.update(args[0][0] for kind, args in batch if kind == "event")
            error = sqlite3.OperationalError("injected: database or disk is full")
            self._loop.call_soon_threadsafe(_resolve, [future], error)
            return
        self._commit(self._conn, batch, [] if future is None else [future], self._loop)

    async def _read(self, query: Any) -> Any:
        assert self._conn is not None, "the store is not open"
        return query(self._conn)


class FaultyStore(Store):
    """One process's view of the durable store (shared by every life), behind the fault
    schedule. Once `dead`, it refuses every write for good: whatever the old coordinator still
    tries after its "crash" never reaches the store."""

    def __init__(self, inner: Store, faults: Faults) -> None:
        self.inner = inner
        self.faults = faults
        self.dead = False
        self.crashed = asyncio.Event()
        self.refused: set[str] = set()  # runs with an injected refusal in this life
        if isinstance(inner, InlineSqliteStore):
            inner.failed_runs.clear()

    def _crash(self) -> SimulatedCrash:
        self.dead = True
        self.crashed.set()
        return SimulatedCrash("the process died")

    async def create_run(self, run: RunRecord, *, claim: bool = False) -> None:
        if self.dead:
            raise SimulatedCrash("the process died")
        await self.inner.create_run(run, claim=claim)

    async def append(self, event: Event) -> None:
        if self.dead:
            raise SimulatedCrash("the process died")
        self.faults.appends += 1
        fault = self.faults.schedule.get(self.faults.appends)
        if fault is not None:
            self.faults.injected[fault] += 1
        if fault == "fail":
            self.refused.add(event.run_id)
            if not isinstance(self.inner, InlineSqliteStore):
                raise OSError(f"injected: commit {self.faults.appends} failed")
            # SQLite: the group commit holding it fails, with every write queued beside it,
            # after the engine went on (later events of the run may be numbered meanwhile)
            self.inner.doom_next_batch()
        if fault == "crash_before":
            raise self._crash()
        try:
            await self.inner.append(event)
        except EventOutOfOrder as exc:
            failed = self.inner.failed_runs if isinstance(self.inner, InlineSqliteStore) else ()
            if event.run_id not in self.refused and event.run_id not in failed:
                self.faults.unexplained.append(str(exc))
            raise
        if fault == "slow":  # the commit lands in order, its acknowledgement comes late
            for _ in range(20):
                await asyncio.sleep(0)
        if fault == "crash_after":
            raise self._crash()

    async def get_run(self, run_id: str) -> RunRecord | None:
        return await self.inner.get_run(run_id)

    async def list_runs(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RunRecord]:
        return await self.inner.list_runs(
            status=status, workflow=workflow, limit=limit, offset=offset
        )

    async def steps(self, run_id: str) -> list[StepRecord]:
        return await self.inner.steps(run_id)

    async def events(self, run_id: str, after: int = 0, limit: int = 10_000) -> list[Event]:
        return await self.inner.events(run_id, after, limit)

    async def prune(self, older_than: float) -> int:
        return await self.inner.prune(older_than)


# ------------------------------------------------------------------------------ workflows


CHILD = """
name: child
inputs: {n: {type: integer, default: 1}}
steps:
  leaf:
    agent: sim
    with: {value: "${{ inputs.n }}", naps: 1}
outputs: {n: "${{ steps.leaf.outputs.value }}"}
"""


def random_workflow(rng: random.Random, number: int) -> str:
    """A random DAG of 2-7 steps using every construct the simulation covers."""
    lines = [f"name: sim{number}", "on_failure: " + rng.choice(["fail_fast", "continue"])]
    lines.append("steps:")
    names: list[str] = []
    for index in range(rng.randint(2, 7)):
        name = f"s{index}"
        kind = rng.choices(
            ["sim", "fan", "wait", "child", "cond", "once", "timeout"],
            weights=[5, 2, 1, 1, 1, 1, 1],
        )[0]
        needs = rng.sample(names, k=min(len(names), rng.randint(0, 2)))
        step: list[str] = [f"  {name}:"]
        if needs:
            step.append(f"    needs: [{', '.join(needs)}]")
        behaviour = rng.choices(
            [[], ["retryable", "ok"], ["retryable", "retryable", "ok"], ["fail"], ["retryable"]],
            weights=[6, 3, 1, 1, 1],
        )[0]
        retry = "    retry: {attempts: 3, initial: 1s, jitter: true}"
        if kind in ("sim", "cond", "once"):
            step.append("    agent: sim")
            if behaviour:
                step.append(retry)
            if kind == "once":
                step.append("    effect: at_most_once")
            if kind == "cond" and needs:
                step.append(f"    if: ${{{{ steps.{needs[0]}.status == 'succeeded' }}}}")
            step.append(
                f"    with: {{behaviour: {behaviour}, value: {index}, naps: {rng.randint(0, 3)}}}"
            )
        elif kind == "fan":
            items = list(range(rng.randint(0, 6)))
            step.append("    agent: sim")
            step.append(f"    for_each: ${{{{ {items} }}}}")
            if behaviour:
                step.append(retry)
            step.append(f"    with: {{behaviour: {behaviour}, value: '${{{{ item }}}}'}}")
        elif kind == "timeout":
            step.append("    agent: sim")
            step.append("    timeout: 20ms")
            step.append("    retry: {attempts: 2, initial: 1s}")
            step.append(f"    with: {{behaviour: {rng.choice([['hang', 'ok'], ['hang']])}}}")
        elif kind == "wait":
            step.append("    agent: wait")
            step.append("    with: {signal: go, timeout: 60s}")
        else:  # child
            step.append("    agent: workflow")
            step.append(f"    with: {{workflow: child, inputs: {{n: {index}}}}}")
        lines.extend(step)
        names.append(name)
    last = names[-1]
    lines.append(f"outputs: {{last: '${{{{ steps.{last}.status }}}}'}}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ time


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock jumps to the next timer whenever nothing is ready to run, so
    step timeouts, backoff and every `asyncio.sleep` take no real time and fire in the same
    order on every machine, however loaded (the simulation does no real I/O)."""

    def __init__(self) -> None:
        super().__init__()
        self._now = 0.0

    def time(self) -> float:
        return self._now

    def _run_once(self) -> None:
        ready = getattr(self, "_ready")  # noqa: B009 - CPython's BaseEventLoop internals
        scheduled = getattr(self, "_scheduled")  # noqa: B009
        if not ready and scheduled:
            self._now = max(self._now, scheduled[0].when())
        super()._run_once()  # type: ignore[misc]


class _Inline(concurrent.futures.Executor):
    """Runs "blocking" chores (loading a definition on resume) at once, on the loop's thread:
    no thread may finish at a moment that depends on the machine."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


def run_seed(seed: int, store: str = "memory") -> Outcome:
    """One seed on a fresh virtual-time loop (what the tests and the benchmark call), over the
    memory store or a SQLite file in a temporary directory."""
    loop = VirtualTimeLoop()
    try:
        if store == "memory":
            return loop.run_until_complete(simulate(seed, MemoryStore()))
        with tempfile.TemporaryDirectory(prefix="mastermind-sim-") as directory:
            return loop.run_until_complete(simulate(seed, InlineSqliteStore(directory)))
    finally:
        loop.close()


# ------------------------------------------------------------------------------ one seed


@dataclass
class Outcome:
    seed: int
    runs: int = 0
    lives: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)


async def simulate(seed: int, inner: Store) -> Outcome:
    """Run one seed's world to its end over `inner` and check the invariants."""
    await inner.open()
    try:
        return await _simulate(seed, inner)
    finally:
        await inner.close()


async def _simulate(seed: int, inner: Store) -> Outcome:
    rng = random.Random(seed)
    outcome = Outcome(seed)
    world = World()
    schedule = {
        n: rng.choice(FAULTS) for n in range(1, 200) if rng.random() < 0.06
    }  # faults in the first 200 commits; the store is healthy after, so every run can end
    faults = Faults(schedule)
    store = FaultyStore(inner, faults)
    clock = FakeClock()
    texts = [random_workflow(rng, i) for i in range(rng.randint(1, 3))]
    results: dict[str, RunResult] = {}
    accepted: list[str] = []
    life = 0
    coordinator = _coordinator(world, life, store, clock, rng)
    try:
        await coordinator.__aenter__()
        definitions = [
            load_text(t, f"sim{i}.yaml", coordinator.registry) for i, t in enumerate(texts)
        ]
        for definition in definitions:
            try:
                accepted.append(await coordinator.submit(definition, {}))
            except SimulatedCrash:
                break  # the process died while accepting: that run was never accepted
            except (OSError, StoreUnavailable):
                continue  # an injected commit failure refused the run at once
        while True:
            try:
                await _drive(coordinator, store, results)
            except TimeoutError:
                outcome.violations.append(
                    f"a coordinator life did not end within {LIFE_DEADLINE:.0f} virtual seconds "
                    f"(runs {coordinator.active_runs})"
                )
                break
            unfinished = [r.run_id for r in await store.inner.unfinished_runs()]
            if not store.dead and not unfinished:
                break
            life += 1
            if life >= MAX_LIVES:
                outcome.violations.append(f"runs never ended after {life} lives: {unfinished}")
                break
            await _die(coordinator, store)
            world.life = life
            store = FaultyStore(inner, faults)
            coordinator = _coordinator(world, life, store, clock, rng)
            await coordinator.__aenter__()
            try:
                await coordinator.resume_unfinished()
            except SimulatedCrash:
                continue
    finally:
        await _die(coordinator, store)
    outcome.runs = len(await inner.list_runs(limit=10_000))
    outcome.lives = life + 1
    outcome.faults = faults.injected
    outcome.violations += [f"refused with no injected cause: {e}" for e in faults.unexplained]
    outcome.violations += await check(inner, world, results)
    return outcome


def _coordinator(
    world: World, life: int, store: FaultyStore, clock: FakeClock, rng: random.Random
) -> Coordinator:
    registry = registry_for(world, life)
    catalog = {"child": load_text(CHILD, "child.yaml", registry)}
    settings = Settings(cancel_grace=1.0, decision_timeout=60.0)
    coordinator = Coordinator(
        registry,
        store,
        settings=settings,
        clock=clock,
        rng=random.Random(rng.random()),
        catalog=catalog,
    )
    coordinator._housekeeping = _Inline()  # type: ignore[assignment]
    decisions = random.Random(rng.random())

    def answer(event: Event) -> None:
        # a person (or a system) that answers every wait and every decision request
        if event.status == "running" and event.agent == "wait":
            coordinator.signal(event.run_id, "go", {"by": "sim"})
        elif event.status == "unknown" and event.step_id is not None:
            choice = decisions.choice(["retry", "skip"])
            coordinator.signal(event.run_id, f"decide.{event.step_id}", choice)

    coordinator.subscribe(answer)
    return coordinator


async def _drive(
    coordinator: Coordinator, store: FaultyStore, results: dict[str, RunResult]
) -> None:
    """Until every active run ended or the process crashed (bounded in virtual time)."""
    async with asyncio.timeout(LIFE_DEADLINE):
        while coordinator.active_runs and not store.dead:
            waits = {
                asyncio.ensure_future(coordinator.wait(run_id)): run_id
                for run_id in coordinator.active_runs
            }
            crashed = asyncio.ensure_future(store.crashed.wait())
            try:
                await asyncio.wait([*waits, crashed], return_when=asyncio.FIRST_COMPLETED)
            finally:
                crashed.cancel()
                for waiter in waits:
                    waiter.cancel()
                await asyncio.gather(crashed, *waits, return_exceptions=True)
            for waiter, run_id in waits.items():
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    results[run_id] = waiter.result()


async def _die(coordinator: Coordinator, store: FaultyStore) -> None:
    """The process running `coordinator` dies: nothing it does afterwards reaches the store."""
    store.dead = True
    await coordinator.aclose()


# ------------------------------------------------------------------------------ invariants


async def check(store: Store, world: World, results: dict[str, RunResult]) -> list[str]:
    """Every invariant, for every run in the store; returns the violations found."""
    problems: list[str] = []
    if world.overlaps:
        problems.append(f"two live attempts of one step at once: {sorted(set(world.overlaps))}")
    for run in await store.list_runs(limit=10_000):
        events = await store.events(run.run_id, limit=1_000_000)
        seqs = [e.seq for e in events]
        if seqs != list(range(1, len(seqs) + 1)):
            problems.append(f"{run.run_id}: event numbers are not gapless: {seqs}")
        folded = RunRecord(run.run_id, "", "", "", "", {})
        steps: dict[tuple[str, int | None], StepRecord] = {}
        for event in events:
            apply_event(folded, steps, event)
        if folded.status != run.status or folded.last_seq != run.last_seq:
            problems.append(f"{run.run_id}: fold says {folded.status}, store says {run.status}")
        live = {
            (s.step_id, s.item_index): (s.status, s.attempt) for s in await store.steps(run.run_id)
        }
        if live != {k: (s.status, s.attempt) for k, s in steps.items()}:
            problems.append(f"{run.run_id}: the store's step records differ from the fold")
        if not run.finished:
            waiting = [s for s in fold_steps(events) if s.status == "unknown"]
            if not waiting:
                problems.append(f"{run.run_id}: left {run.status} with no stated reason")
        elif run.status != "succeeded" and not run.error:
            problems.append(f"{run.run_id}: {run.status} without a reason")
        succeeded = Counter(
            (e.step_id, e.item_index)
            for e in events
            if e.status == "succeeded" and e.step_id is not None
        )
        for (step_id, index), count in succeeded.items():
            if count > 1:
                problems.append(f"{run.run_id}/{step_id}[{index}] recorded succeeded {count}x")
        for event in events:
            if event.status == "succeeded" and event.agent == "sim":
                key = f"{run.run_id}/{event.step_id}"
                if event.item_index is not None:
                    key += f"/{event.item_index}"
                elif isinstance(event.outputs, list):
                    continue  # a whole fan-out step's summary, not one instance
                if key not in world.applied:
                    problems.append(f"{key}: recorded succeeded, but its effect never happened")
        result = results.get(run.run_id)
        # A run the store failed under is failed with the store's reason: what the coordinator
        # decided after the refused commit is, by definition, not all in the log.
        faulted = "the store could not record" in (run.error or "")
        if result is not None and result.status == run.status and run.finished and not faulted:
            whole = {s.step_id: s.status for s in fold_steps(events) if s.item_index is None}
            for step_id, status in result.steps.items():
                if whole.get(step_id, status) != status:
                    problems.append(
                        f"{run.run_id}/{step_id}: the coordinator said {status}, "
                        f"the log says {whole.get(step_id)}"
                    )
    for key, applied in world.applied.items():
        if world.executions[key] < 1:
            problems.append(f"{key}: applied (attempt {applied}) but never executed")
    return problems


def reproduction(seed: int, store: str = "memory") -> str:
    """The one line that runs a failing seed again."""
    return f"pytest tests/simulation -k test_seed --seed {seed} --sim-store {store}"
