"""PostgreSQL scale-out: the same backlog of runs drained by 1 and by 3 worker daemons."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid

import asyncpg

from bench.core import Figure
from mastermind.engine.agent import AgentRegistry
from mastermind.engine.coordinator import new_run_id
from mastermind.language.loader import load_text
from mastermind.store.base import RunRecord
from mastermind.store.postgres import PostgresStore

DSN = os.environ.get("MASTERMIND_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
FLOW = """
name: backlog
steps:
  work: {agent: noop, for_each: "${{ [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }}"}
  done: {agent: noop, needs: [work]}
"""
STEPS_PER_RUN = 11


async def _backlog(schema: str, runs: int) -> None:
    definition = load_text(FLOW, "backlog.yaml", AgentRegistry(load_plugins=False))
    store = PostgresStore(DSN, schema=schema, owner="bench")
    await store.open()
    try:
        for _ in range(runs):
            await store.create_run(
                RunRecord(
                    new_run_id(),
                    definition.name,
                    definition.digest,
                    definition.text,
                    definition.file,
                    {},
                    created_at=time.time(),
                )
            )
    finally:
        await store.close()


async def _unfinished(schema: str) -> int:
    conn = await asyncpg.connect(DSN)
    try:
        count: int = await conn.fetchval(
            f"SELECT count(*) FROM {schema}.runs WHERE status <> 'succeeded'"
        )
        return count
    finally:
        await conn.close()


async def _drop(schema: str) -> None:
    conn = await asyncpg.connect(DSN)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await conn.close()


def _drain(daemons: int, runs: int) -> float:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_backlog(schema, runs))
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mastermind",
                "worker",
                "--dsn",
                DSN,
                "--schema",
                schema,
                "--poll",
                "50ms",
                "--capacity",
                "200",
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(daemons)
    ]
    try:
        for worker in workers:
            assert worker.stderr is not None and "ready" in worker.stderr.readline()
        started = time.perf_counter()
        while asyncio.run(_unfinished(schema)):
            time.sleep(0.05)
        return time.perf_counter() - started
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.communicate(timeout=60)
        asyncio.run(_drop(schema))


def scaleout(quick: bool) -> list[Figure]:
    runs = 20 if quick else 300
    one = _drain(1, runs)
    three = _drain(3, runs)
    steps = runs * STEPS_PER_RUN
    return [
        Figure(
            f"PostgreSQL, 1 daemon: {runs} runs x {STEPS_PER_RUN} steps", steps / one, "steps/s"
        ),
        Figure(
            f"PostgreSQL, 3 daemons: {runs} runs x {STEPS_PER_RUN} steps",
            steps / three,
            "steps/s",
            steps / one,
            "1 daemon",
            note="3 processes on 2 cores, sharing the machine with PostgreSQL",
        ),
    ]
