"""A paused owner (SIGSTOP past its lease) that wakes after another worker took its run over
starts no new effect. Every attempt of every step appends time marks to one file; the steps
form a chain, so no two attempts may ever overlap. What each test guards, checked by disabling
it (several runs each):
- a shell step working while its owner is paused: the new owner on this machine kills it before
  running the step again (without that kill: overlap, 6 of 6; the test waits until the old
  attempt is gone or has marked time beside the new one, so the overlap always shows);
- a paused owner woken during a retry delay: its next attempt's `running` commit is refused
  (stale epoch) and its lease keeper gives the run up; either one is enough (with the keeper's
  give-up and the lease check both disabled it still passes: fencing);
- a paused owner's in-process step: the owner cancels it as soon as it wakes, its lease lost
  (LeaseKeeper giving up; without it: the old attempt never ends, 3 of 3);
- no step starts once the lease has run out by the owner's own clock (the lease check before
  every step; without it, `test_no_step_starts_once_the_lease_has_run_out` fails, 3 of 3). The
  SIGSTOP tests cannot show that check alone: on waking, the lease keeper gives the run up
  before a step's `running` commit returns (2/3 of the lease comes before the check's 90%), and
  after a takeover that commit is refused (stale epoch) anyway.
"""

from __future__ import annotations

import asyncio
import signal
import socket
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
            # wake the paused owner only once the new owner's attempt is at work, and the old
            # attempt is either gone (killed by the new owner) or has marked time since (an
            # overlap, made sure to show: its marks are 50 ms apart, the window may be shorter)
            wait_until(lambda: set(intervals(marks)) - before, "the new owner's attempt")
            spans = intervals(marks)
            started = min(spans[pid][0] for pid in set(spans) - before)

            def settled() -> bool:
                latest = intervals(marks)
                return all(not pid_alive(int(p)) or latest[p][1] > started for p in before)

            wait_until(settled, "the old attempt ended, or worked on beside the new one")
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


IN_PROCESS_FLOW = """
name: in_process
inputs: {port: {type: integer}}
steps:
  wait:
    agent: python
    with: {function: "tests.effects:await_word", args: ["${{ inputs.port }}"]}
"""


async def submit_in_process(schema: str, port: int) -> str:
    definition = load_text(IN_PROCESS_FLOW, "in_process.yaml", AgentRegistry(load_plugins=False))
    store = PostgresStore(PG_DSN, schema=schema, owner="submitter")
    await store.open()
    try:
        record = RunRecord(
            "inproc", "in_process", definition.digest, definition.text, definition.file, {}
        )
        record.inputs = {"port": port}
        await store.create_run(record)
    finally:
        await store.close()
    return "inproc"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_paused_owner_stops_its_in_process_step_when_it_wakes(schema: str) -> None:
    """An in-process step (a coroutine on the owner's loop) pauses with its owner, so nobody
    can kill it from outside: on waking, the owner must find its lease lost and cancel it,
    before it does anything more. The step waits on the test, never on a timer, so the order is
    the test's: the old attempt must end (its connection closes) with no word sent to it, while
    the new owner's attempt is still waiting for its own."""
    asyncio.run(prepare(schema))
    workers = [start_worker(schema), start_worker(schema)]
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(60)  # each wait is for progress; the bound only catches hangs
    connections: list[socket.socket] = []

    def attempt() -> tuple[socket.socket, int]:
        """The next attempt's connection and the pid of the worker running it."""
        conn, _ = server.accept()
        connections.append(conn)
        conn.settimeout(60)
        with conn.makefile() as lines:
            return conn, int(lines.readline())

    try:
        run_id = asyncio.run(submit_in_process(schema, server.getsockname()[1]))
        old, pid = attempt()
        paused = next(w for w in workers if w.pid == pid)
        other = next(w for w in workers if w is not paused)
        paused.send_signal(signal.SIGSTOP)
        try:
            new, runner = attempt()  # the other worker took over (lease expired) and runs it
            assert runner == other.pid
        finally:
            paused.send_signal(signal.SIGCONT)
        try:
            assert old.recv(1) == b"", "the old attempt got a word"  # it ended: closed
        except TimeoutError:
            pytest.fail("the woken owner did not stop its in-process step (lease lost)")
        new.sendall(b"go\n")
        deadline = time.monotonic() + 60
        while asyncio.run(statuses(schema))[run_id][0] != "succeeded":
            assert time.monotonic() < deadline, asyncio.run(statuses(schema))
            time.sleep(0.05)
        assert asyncio.run(statuses(schema))[run_id][1] == owner_of(other)
    finally:
        for conn in [*connections, server]:
            conn.close()
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.communicate(timeout=60)


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
