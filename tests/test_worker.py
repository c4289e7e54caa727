"""`mastermind worker` and `mastermind run --dsn` against the real PostgreSQL server, as real
processes: the README's flow, leases the CLI keeps alive, and an owner that loses its database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from mastermind.engine.agent import AgentRegistry
from mastermind.engine.coordinator import new_run_id
from mastermind.language.loader import load_text
from mastermind.store.base import RunRecord
from mastermind.store.postgres import PostgresStore
from tests.pg import PG_DSN, drop_schema, new_schema

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def schema() -> Iterator[str]:
    name = new_schema()
    yield name
    drop_schema(name)


def mastermind(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mastermind", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


def test_worker_reads_the_dsn_from_the_environment(schema: str) -> None:
    worker = mastermind("worker", "--schema", schema, env={"MASTERMIND_DSN": PG_DSN})
    try:
        assert worker.stderr is not None
        first = worker.stderr.readline()
        assert "ready" in first, first + worker.stderr.read()
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)
    assert worker.returncode == 0


ONE_LONG_STEP = """
name: long
inputs: {db: {type: string}}
steps:
  slow:
    agent: python
    with: {function: "tests.effects_pg:record", args: ["${{ inputs.db }}", 4.0], context: true}
outputs: {key: "${{ steps.slow.outputs.key }}"}
"""


def test_run_with_dsn_beside_a_worker_keeps_its_run(schema: str, tmp_path: Path) -> None:
    """The README's flow: a worker runs; `mastermind run --dsn` runs its own run to the end,
    renewing its lease (1 s) for the 4 s step, and the worker never takes the run over."""
    flow = tmp_path / "long.yaml"
    flow.write_text(ONE_LONG_STEP)
    effects = tmp_path / "effects.db"
    store = ["--dsn", PG_DSN, "--schema", schema]
    worker = mastermind("worker", *store, "--lease", "1s", "--poll", "100ms")
    try:
        assert worker.stderr is not None
        assert "ready" in worker.stderr.readline()
        run = mastermind("run", "-q", str(flow), "-i", f"db={effects}", *store, "--lease", "1s")
        out, err = run.communicate(timeout=120)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker_err = worker.communicate(timeout=60)[1]
    assert run.returncode == 0, err + worker_err
    key = json.loads(out)["key"]
    db = sqlite3.connect(effects)
    executions = db.execute("SELECT key FROM executions").fetchall()
    assert executions == [(key,)], executions  # one attempt: the worker never took it over

    async def owner() -> str | None:
        conn = await asyncpg.connect(PG_DSN)
        try:
            value: str | None = await conn.fetchval(f"SELECT owner FROM {schema}.runs")
            return value
        finally:
            await conn.close()

    assert asyncio.run(owner()) == f"{socket.gethostname()}:{run.pid}"


class Proxy:
    """A TCP proxy to PostgreSQL that the test can cut: then every connection through it drops
    and new ones are refused, as when a network link or a database host goes away."""

    def __init__(self, port: int = 5432) -> None:
        self.target = ("127.0.0.1", port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.cut_off = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # cut
            upstream = socket.create_connection(self.target)
            with self.lock:
                if self.cut_off:
                    client.close()
                    upstream.close()
                    return
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self.lock:
            self.cut_off = True
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def processes_with(argv: list[str]) -> list[int]:
    """Pids of live processes whose command line is exactly `argv`."""
    wanted = "\0".join(argv).encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "cmdline").read_bytes() == wanted:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


async def lease_state(schema: str) -> tuple[bool, str]:
    """Is the run's lease still valid by the database's clock, and its stored status."""
    conn = await asyncpg.connect(PG_DSN)
    try:
        row = await conn.fetchrow(
            f"SELECT lease_until > extract(epoch from clock_timestamp()) AS valid, status"
            f" FROM {schema}.runs"
        )
    finally:
        await conn.close()
    assert row is not None
    return bool(row["valid"]), str(row["status"])


async def create_sleeping_run(schema: str, argv: list[str]) -> None:
    registry = AgentRegistry(load_plugins=False)
    text = f"name: nap\nsteps:\n  nap: {{agent: shell, with: {{argv: {json.dumps(argv)}}}}}\n"
    definition = load_text(text, "nap.yaml", registry)
    store = PostgresStore(PG_DSN, schema=schema, owner="submitter")
    await store.open()
    try:
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


def test_a_worker_cut_off_from_its_database_kills_its_steps_before_the_lease_ends(
    schema: str,
) -> None:
    proxy = Proxy()
    argv = ["sleep", f"{600 + random.Random(schema).random():.6f}"]  # this test's own process
    asyncio.run(prepare(schema))
    through_proxy = f"postgresql://postgres@127.0.0.1:{proxy.port}/test"
    worker = mastermind(
        "worker", "--dsn", through_proxy, "--schema", schema, "--lease", "3s", "--poll", "100ms"
    )
    try:
        assert worker.stderr is not None
        assert "ready" in worker.stderr.readline()
        asyncio.run(create_sleeping_run(schema, argv))
        deadline = time.monotonic() + 60
        while not processes_with(argv) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert processes_with(argv), "the step's process never started"
        proxy.cut()
        deadline = time.monotonic() + 60
        while processes_with(argv) and time.monotonic() < deadline:
            time.sleep(0.01)
        valid, status = asyncio.run(lease_state(schema))  # right after the process ended
        assert not processes_with(argv), "the step's process outlived the worker's lease"
        assert valid, "the process was still running when the lease expired"
        assert status == "running"  # left to resume elsewhere, never marked cancelled
        assert worker.poll() is None  # the worker itself keeps going
    finally:
        worker.kill()
        worker.communicate(timeout=30)
        proxy.cut()
        for pid in processes_with(argv):
            os.kill(pid, signal.SIGKILL)


async def prepare(schema: str) -> None:
    store = PostgresStore(PG_DSN, schema=schema, owner="setup")
    await store.open()
    await store.close()


async def step_running(schema: str) -> bool:
    conn = await asyncpg.connect(PG_DSN)
    try:
        count: int = await conn.fetchval(
            f"SELECT count(*) FROM {schema}.events WHERE data->>'status' = 'running'"
            " AND data->>'step_id' = 'slow'"
        )
    finally:
        await conn.close()
    return count > 0


async def create_run(schema: str, text: str, inputs: dict[str, str]) -> None:
    definition = load_text(text, "flow.yaml", AgentRegistry(load_plugins=False))
    store = PostgresStore(PG_DSN, schema=schema, owner="submitter")
    await store.open()
    try:
        record = RunRecord(
            new_run_id(),
            definition.name,
            definition.digest,
            definition.text,
            definition.file,
            inputs,
            created_at=time.time(),
        )
        await store.create_run(record)
    finally:
        await store.close()


def test_a_draining_worker_keeps_its_leases_until_its_steps_end(
    schema: str, tmp_path: Path
) -> None:
    """SIGTERM: the worker lets running steps finish (grace 30 s) and keeps renewing their
    leases meanwhile, so a second worker never starts the same step beside it."""
    effects = tmp_path / "effects.db"
    asyncio.run(prepare(schema))
    store = ["--dsn", PG_DSN, "--schema", schema, "--lease", "1s", "--poll", "100ms"]
    first = mastermind("worker", *store, "--grace", "30s")
    second: subprocess.Popen[str] | None = None
    try:
        assert first.stderr is not None
        assert "ready" in first.stderr.readline()
        flow = ONE_LONG_STEP.replace("4.0", "6.0")
        asyncio.run(create_run(schema, flow, {"db": str(effects)}))
        deadline = time.monotonic() + 60
        while not asyncio.run(step_running(schema)) and time.monotonic() < deadline:
            time.sleep(0.05)
        second = mastermind("worker", *store)
        assert second.stderr is not None
        assert "ready" in second.stderr.readline()
        first.send_signal(signal.SIGTERM)  # drains: the step has seconds left, leases are 1 s
        assert first.wait(timeout=60) == 0
    finally:
        for worker in (first, second):
            if worker is not None:
                worker.send_signal(signal.SIGTERM)
                worker.communicate(timeout=60)
    rows = sqlite3.connect(effects).execute("SELECT key FROM executions").fetchall()
    assert len(rows) == 1, rows  # before: the second worker ran the step again meanwhile
    assert asyncio.run(lease_state(schema))[1] == "succeeded"
