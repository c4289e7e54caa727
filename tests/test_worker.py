"""`mastermind worker` and `mastermind run --dsn` against the real PostgreSQL server, as real
processes: the README's flow, leases the CLI keeps alive, and an owner that loses its database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

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
