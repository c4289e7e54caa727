"""The crash soak: `mastermind run`/`resume` killed with SIGKILL at random points, many times,
then every run is checked (the longer version of tests/test_resume.py)."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.core import Figure
from tests.crashes import kill_after_progress

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
EVENTS_PER_RUN = 34  # about what one run commits: kills land anywhere in a run
ROOT = Path(__file__).resolve().parent.parent


def _start(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mastermind", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


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
        db = state / "mastermind.db"
        while kills < target_kills:
            args = ("run", "-q", "--state-dir", str(state), str(flow), "-i", f"db={effects}")
            process = _start(*args)
            # kill after a random number of newly committed events, not after a wall-clock
            # delay: under load a delay may pass before the process has done anything
            while kill_after_progress(process, db, rng.randint(0, EVENTS_PER_RUN)):
                kills += 1
                process = _start("resume", "-q", "--state-dir", str(state))
        _start("resume", "-q", "--state-dir", str(state)).wait(timeout=120)
        conn = sqlite3.connect(db)
        statuses = dict(
            conn.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall()
        )
        runs = sum(statuses.values())
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
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
