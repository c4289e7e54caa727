"""A paused owner (SIGSTOP past its lease) that wakes after another worker took its run over
starts no new effect: it checks its lease before every step starts, and what it had started is
killed by the new owner on this machine. Every attempt of every step appends time marks to one
file; the steps form a chain, so no two attempts may ever overlap."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from mastermind.engine.agent import AgentRegistry
from mastermind.engine.coordinator import Coordinator
from mastermind.language.loader import load_text
from mastermind.store.base import RunRecord
from mastermind.store.events import Event, RunStatus
from mastermind.store.memory import MemoryStore
from mastermind.store.postgres import PostgresStore
from tests.agents_for_tests import ProbeAgent
from tests.pg import PG_DSN, drop_schema, new_schema
from tests.test_orphans import assert_no_overlap, intervals, pid_alive, wait_until
from tests.test_postgres import owner_of, prepare, start_worker, statuses

STEP = """
    agent: shell
    with:
      shell: true
      env: {DIR: "${{ inputs.dir }}"}
      command: >-
        mark() { echo "$$ $1 $(date +%s.%N)" >> "$DIR/marks"; };
        mark start; i=0; while [ $i -lt 10 ]; do mark tick; sleep 0.05; i=$((i+1)); done;
        mark end
"""
# Step one's first attempt marks time for minutes, but times out after 3 s and is retried after
# 2 s; later attempts are short. The owner is paused either while that first attempt works (the
# new owner must kill it) or during the retry delay (when it wakes, its next move would be to
# start an attempt of a step another worker has taken over).
FIRST = """
    agent: shell
    timeout: 3s
    retry: {attempts: 3, initial: 2s, jitter: false}
    with:
      shell: true
      kill_grace: 100ms
      env: {DIR: "${{ inputs.dir }}"}
      command: >-
        n=10; if [ ! -e "$DIR/first" ]; then touch "$DIR/first"; n=2400; fi;
        mark() { echo "$$ $1 $(date +%s.%N)" >> "$DIR/marks"; };
        mark start; i=0; while [ $i -lt $n ]; do mark tick; sleep 0.05; i=$((i+1)); done;
        mark end
"""
FLOW = (
    "name: chain\ninputs: {dir: {type: string}}\nsteps:\n"
    f"  one:{FIRST}  two:\n    needs: [one]{STEP}  three:\n    needs: [two]{STEP}"
)


async def retrying(schema: str, run_id: str) -> bool:
    conn = await asyncpg.connect(PG_DSN)
    try:
        found = await conn.fetchval(
            f"SELECT count(*) FROM {schema}.events WHERE run_id = $1"
            " AND data->>'status' = 'retrying'",
            run_id,
        )
    finally:
        await conn.close()
    return bool(found)


@pytest.fixture
def schema() -> Iterator[str]:
    name = new_schema()
    yield name
    drop_schema(name)


async def submit(schema: str, folder: Path) -> str:
    definition = load_text(FLOW, "chain.yaml", AgentRegistry(load_plugins=False))
    store = PostgresStore(PG_DSN, schema=schema, owner="submitter")
    await store.open()
    try:
        record = RunRecord(
            "paused", "chain", definition.digest, definition.text, definition.file, {}
        )
        record.inputs = {"dir": str(folder)}
        await store.create_run(record)
    finally:
        await store.close()
    return "paused"


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("when", ["while a step works", "during a retry delay"])
def test_a_paused_owner_starts_nothing_after_a_takeover(
    schema: str, tmp_path: Path, when: str
) -> None:
    asyncio.run(prepare(schema))
    workers = [start_worker(schema), start_worker(schema)]
    marks = tmp_path / "marks"
    try:
        run_id = asyncio.run(submit(schema, tmp_path))
        if when == "while a step works":
            wait_until(lambda: marks.exists() and "tick" in marks.read_text(), "step one works")
        else:
            wait_until(lambda: asyncio.run(retrying(schema, run_id)), "step one's retry is due")
        owner = asyncio.run(statuses(schema))[run_id][1]
        paused = next(w for w in workers if owner_of(w) == owner)
        other = next(w for w in workers if w is not paused)
        paused.send_signal(signal.SIGSTOP)
        before = set(intervals(marks))
        try:
            wait_until(
                lambda: asyncio.run(statuses(schema))[run_id][1] == owner_of(other),
                "the other worker took the run over after the lease expired",
            )
            # wake the paused owner only once the new owner's attempt is at work
            wait_until(lambda: set(intervals(marks)) - before, "the new owner's attempt")
        finally:
            paused.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 120
        while asyncio.run(statuses(schema))[run_id][0] != "succeeded":
            assert time.monotonic() < deadline, asyncio.run(statuses(schema))
            time.sleep(0.05)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.communicate(timeout=60)
    spans = intervals(marks)
    # step one's long first attempt (ended by the new owner, or by its timeout), then one
    # attempt of each step by the new owner: the paused owner started none after waking
    assert len(spans) == 4, spans
    assert_no_overlap(spans)  # and the paused owner's attempts, if any, ended before
    assert not any(pid_alive(int(pid)) for pid in spans)


class LeaseRunsOut(MemoryStore):
    """A store whose lease, by the local clock, runs out once step `a` has succeeded."""

    def __init__(self) -> None:
        super().__init__()
        self.held = True

    async def append(self, event: Event) -> None:
        await super().append(event)
        if event.step_id == "a" and event.status == "succeeded":
            self.held = False

    def holds(self, run_id: str) -> bool:
        return self.held


async def test_no_step_starts_once_the_lease_has_run_out(registry: AgentRegistry) -> None:
    definition = load_text(
        "name: w\nsteps:\n  a: {agent: probe}\n  b: {agent: probe, needs: [a]}\n",
        "w.yaml",
        registry,
    )
    store = LeaseRunsOut()
    async with Coordinator(registry, store) as coordinator:
        result = await coordinator.run(definition)
        probe = coordinator.registry.instance("probe")
    assert isinstance(probe, ProbeAgent)
    assert [step for kind, step, _ in probe.log if kind == "start"] == ["a"]
    assert result.status == RunStatus.RUNNING and "lease" in (result.error or "")
    stored = await store.get_run(result.run_id)
    assert stored is not None and stored.status == "running"  # left for the new owner
