"""The crash soak: `mastermind run`/`resume` killed with SIGKILL at random points, many times,
then every run is checked (the longer version of tests/test_resume.py)."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.core import Figure

FLOW = """
name: soak
inputs: {db: {type: string}}
steps:
  first:
    agent: python
    with: {function: "tests.effects:record", args: ["${{ inputs.db }}", 0.01], context: true}
  fan:
    agent: python
    needs: [first]
    for_each: ${{ [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }}
    with: {function: "tests.effects:record", args: ["${{ inputs.db }}", 0.02], context: true}
  last:
    agent: python
    needs: [fan]
    with: {function: "tests.effects:record", args: ["${{ inputs.db }}", 0.01], context: true}
"""
INSTANCES = 12
ROOT = Path(__file__).resolve().parent.parent


def _start(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mastermind", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _startup(folder: str) -> float:
    """How long this machine takes to start `mastermind run` and finish a trivial run now: kill
    points are drawn after it, so a loaded machine does not kill every run before it starts."""
    trivial = Path(folder, "trivial.yaml")
    trivial.write_text("name: trivial\nsteps: {a: {agent: noop}}\n")
    began = time.perf_counter()
    _start("run", "-q", "--ephemeral", str(trivial)).wait(timeout=120)
    return time.perf_counter() - began


def soak(quick: bool) -> list[Figure]:
    target_kills = 20 if quick else 300
    rng = random.Random(1)
    kills = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        flow, state, effects = (
            Path(folder, "soak.yaml"),
            Path(folder, "state"),
            Path(folder, "fx.db"),
        )
        flow.write_text(FLOW)
        startup = _startup(folder)
        while kills < target_kills:
            process = _start(
                "run", "-q", "--state-dir", str(state), str(flow), "-i", f"db={effects}"
            )
            while True:
                try:
                    process.wait(timeout=startup + rng.uniform(0.05, 0.6))
                    break
                except subprocess.TimeoutExpired:
                    process.send_signal(signal.SIGKILL)
                    process.wait()
                    kills += 1
                    process = _start("resume", "-q", "--state-dir", str(state))
        _start("resume", "-q", "--state-dir", str(state)).wait(timeout=120)
        db = sqlite3.connect(state / "mastermind.db")
        statuses = dict(db.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall())
        runs = sum(statuses.values())
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        keys = sqlite3.connect(effects).execute("SELECT count(*) FROM effects").fetchone()[0]
        executions = (
            sqlite3.connect(effects).execute("SELECT count(*) FROM executions").fetchone()[0]
        )
    elapsed = time.perf_counter() - started
    ok = statuses == {"succeeded": runs} and integrity == "ok" and keys == runs * INSTANCES
    note = json.dumps(
        {
            "runs": runs,
            "statuses": statuses,
            "effects": keys,
            "executions": executions,
            "integrity": integrity,
            "all_ok": ok,
        }
    )
    if not ok:
        raise SystemExit(f"soak found a problem: {note}")
    return [
        Figure(
            f"crash soak: {kills} SIGKILLs, {runs} runs, all complete, effects once",
            kills / elapsed,
            "kills/s",
            note=note,
        ),
        Figure("crash soak: re-executed steps (at-least-once)", executions - keys, "steps"),
    ]
