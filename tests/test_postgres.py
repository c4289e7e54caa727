"""Scale-out on the real PostgreSQL server: leases, fencing, takeover, and three daemons
sharing work while one of them is killed over and over."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from mastermind.engine.agent import AgentRegistry
from mastermind.engine.coordinator import Coordinator, new_run_id
from mastermind.errors import StaleLease
from mastermind.language.loader import load_text
from mastermind.store.base import RunRecord, fold_steps
from mastermind.store.events import Event
from mastermind.store.postgres import PostgresStore
from tests.pg import PG_DSN, drop_schema, new_schema

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def schema() -> Iterator[str]:
    name = new_schema()
    yield name
    drop_schema(name)


def record(run_id: str) -> RunRecord:
    return RunRecord(run_id, "w", "d", "name: w\n", "/w.yaml", {}, created_at=time.time())


async def test_a_stale_epoch_cannot_write(schema: str) -> None:
    a = PostgresStore(PG_DSN, schema=schema, owner="a", lease_seconds=0.3)
    b = PostgresStore(PG_DSN, schema=schema, owner="b", lease_seconds=0.3)
    await a.open()
    await b.open()
    try:
        await a.create_run(record("r1"))
        assert await a.claim(10) == ["r1"]
        await a.append(Event(run_id="r1", seq=1, at=1.0, status="running"))
        assert await b.claim(10) == []  # a holds a valid lease
        deadline = time.monotonic() + 5
        claimed: list[str] = []
        while not claimed and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # real time must pass for the lease to expire
            claimed = await b.claim(10)
        assert claimed == ["r1"] and b.epochs["r1"] == a.epochs["r1"] + 1
        with pytest.raises(StaleLease):
            await a.append(Event(run_id="r1", seq=2, at=2.0, status="queued", step_id="x"))
        assert await a.renew() == {"r1"}  # a learns it lost the run
        await b.append(Event(run_id="r1", seq=2, at=2.0, status="queued", step_id="x"))
        assert [e.seq for e in await b.events("r1")] == [1, 2]
    finally:
        await a.close()
        await b.close()


async def test_a_coordinator_runs_a_workflow_on_postgres(schema: str) -> None:
    registry = AgentRegistry(load_plugins=False)
    definition = load_text(
        "name: pg\nsteps:\n"
        "  a: {agent: noop, for_each: '${{ [1, 2, 3] }}', with: {value: '${{ item }}'}}\n"
        "outputs: {a: '${{ steps.a.outputs }}'}\n",
        "pg.yaml",
        registry,
    )
    store = PostgresStore(PG_DSN, schema=schema)
    async with Coordinator(registry, store) as coordinator:
        result = await coordinator.run(definition)
        stored = await store.get_run(result.run_id)
        steps = await store.steps(result.run_id)
    assert result.ok and result.outputs == {"a": [1, 2, 3]}
    assert (
        stored is not None and stored.status == "succeeded" and stored.outputs == {"a": [1, 2, 3]}
    )
    assert {(s.step_id, s.item_index) for s in steps} == {("a", None), ("a", 0), ("a", 1), ("a", 2)}


FLOW = """
name: shared
inputs: {db: {type: string}}
steps:
  first:
    agent: python
    with: {function: "tests.effects_pg:record", args: ["${{ inputs.db }}", 0.3], context: true}
  fan:
    agent: python
    needs: [first]
    for_each: ${{ [0, 1, 2, 3, 4] }}
    with: {function: "tests.effects_pg:record", args: ["${{ inputs.db }}", 0.4], context: true}
  last:
    agent: python
    needs: [fan]
    with: {function: "tests.effects_pg:record", args: ["${{ inputs.db }}", 0.3], context: true}
"""
INSTANCES = ["first", *(f"fan/{i}" for i in range(5)), "last"]
LEASE = 1.0


def start_worker(schema: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mastermind",
            "worker",
            "--dsn",
            PG_DSN,
            "--schema",
            schema,
            "--lease",
            f"{LEASE}s",
            "--poll",
            "100ms",
            "--capacity",
            "50",
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    assert "ready" in process.stderr.readline()
    return process


async def submit(schema: str, count: int, effects: Path) -> list[str]:
    registry = AgentRegistry(load_plugins=False)
    definition = load_text(FLOW, "shared.yaml", registry)
    store = PostgresStore(PG_DSN, schema=schema, owner="submitter")
    await store.open()
    ids = []
    try:
        for _ in range(count):
            run_id = new_run_id()
            await store.create_run(
                RunRecord(
                    run_id,
                    definition.name,
                    definition.digest,
                    definition.text,
                    definition.file,
                    {"db": str(effects)},
                    created_at=time.time(),
                )
            )
            ids.append(run_id)
    finally:
        await store.close()
    return ids


async def statuses(schema: str) -> dict[str, tuple[str, str | None]]:
    conn = await asyncpg.connect(PG_DSN)
    try:
        rows = await conn.fetch(f"SELECT run_id, status, owner FROM {schema}.runs")
    finally:
        await conn.close()
    return {row["run_id"]: (row["status"], row["owner"]) for row in rows}


async def prepare(schema: str) -> None:
    """Create the schema once, before three daemons race to."""
    store = PostgresStore(PG_DSN, schema=schema, owner="setup")
    await store.open()
    await store.close()


def owner_of(process: subprocess.Popen[str]) -> str:
    import socket

    return f"{socket.gethostname()}:{process.pid}"


async def committed(schema: str) -> int:
    conn = await asyncpg.connect(PG_DSN)
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {schema}.events"))
    finally:
        await conn.close()


KILLS = 5
TAKEOVER_BOUND = LEASE + 30.0  # the lease, then a claim poll and a resume on a loaded machine


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_three_daemons_share_work_while_one_is_killed(schema: str, tmp_path: Path) -> None:
    """Each kill lands on a worker that holds unfinished runs, after the store has shown
    progress since the previous kill (committed events), never after a wall-clock delay."""
    effects = tmp_path / "effects.db"
    asyncio.run(prepare(schema))
    workers = [start_worker(schema) for _ in range(3)]
    rng = random.Random(7)
    kill_log: list[tuple[float, set[str]]] = []
    run_ids: list[str] = []
    try:
        while len(kill_log) < KILLS:
            now = asyncio.run(statuses(schema))
            if all(status == "succeeded" for status, _ in now.values()):
                run_ids += asyncio.run(submit(schema, 12, effects))  # always work to kill
                continue
            progress = asyncio.run(committed(schema)) + rng.randint(1, 20)
            while asyncio.run(committed(schema)) < progress:
                if all(s == "succeeded" for s, _ in asyncio.run(statuses(schema)).values()):
                    break  # the work ran out before that much progress: submit more
                time.sleep(0.02)
            now = asyncio.run(statuses(schema))
            held = [
                sum(o == owner_of(w) and s != "succeeded" for s, o in now.values()) for w in workers
            ]
            if not any(held):
                continue
            victim = max(range(3), key=lambda i: held[i])
            owner = owner_of(workers[victim])
            workers[victim].send_signal(signal.SIGKILL)
            killed_at = time.time()
            workers[victim].communicate()
            orphans = {
                run
                for run, (status, o) in asyncio.run(statuses(schema)).items()
                if o == owner and status not in ("succeeded", "failed", "cancelled")
            }
            kill_log.append((killed_at, orphans))
            workers[victim] = start_worker(schema)
        while not all(
            s in ("succeeded", "failed") for s, _ in asyncio.run(statuses(schema)).values()
        ):
            time.sleep(0.1)  # until every run ended (the test's timeout bounds this)
        final = {run: status for run, (status, _) in asyncio.run(statuses(schema)).items()}
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.communicate(timeout=60)
    assert set(final) == set(run_ids)
    assert all(status == "succeeded" for status in final.values()), final

    db = sqlite3.connect(effects)
    keys = sorted(r[0] for r in db.execute("SELECT key FROM effects"))
    assert keys == sorted(f"{run}/{name}" for run in run_ids for name in INSTANCES)
    # no two live attempts of one step: executions of a key never overlap in time
    rows = db.execute(
        "SELECT key, started, finished FROM executions ORDER BY key, started"
    ).fetchall()
    for (key_a, _, end_a), (key_b, start_b, _) in itertools.pairwise(rows):
        if key_a == key_b:
            assert start_b >= end_a, (key_a, end_a, start_b)

    # every event log is gapless and every step finished
    async def logs() -> None:
        store = PostgresStore(PG_DSN, schema=schema, owner="reader")
        await store.open()
        try:
            logs = {run_id: await store.events(run_id, limit=100_000) for run_id in run_ids}
            for events in logs.values():
                assert [e.seq for e in events] == list(range(1, len(events) + 1))
                assert all(s.status == "succeeded" for s in fold_steps(events))
            # takeover: the first event written for an orphaned run after its daemon died
            for killed_at, orphans in kill_log:
                for run_id in orphans:
                    after = [e.at for e in logs[run_id] if e.at > killed_at]
                    takeovers.append(min(after) - killed_at)
        finally:
            await store.close()

    takeovers: list[float] = []
    asyncio.run(logs())
    assert takeovers, "no kill caught a run in flight"
    assert max(takeovers) <= TAKEOVER_BOUND, takeovers  # a dead daemon's work moves on
