"""Durability: kill -9 the process at random points, resume, and check that nothing was lost
and every effect was recorded once; at_most_once steps wait for a person after a crash."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from mastermind.engine.agent import AgentRegistry
from mastermind.engine.coordinator import Coordinator
from mastermind.engine.run import RunResult
from mastermind.store.base import fold_steps
from mastermind.store.events import Event
from mastermind.store.sqlite import DB_NAME, SqliteStore
from tests.crashes import kill_after_progress

ROOT = Path(__file__).resolve().parent.parent

CHAOS = """
name: chaos
inputs: {db: {type: string}}
steps:
  first:
    agent: python
    with: {function: "tests.effects:record", args: ["${{ inputs.db }}", 0.01], context: true}
  fan:
    agent: python
    needs: [first]
    for_each: ${{ [0, 1, 2, 3, 4, 5, 6, 7] }}
    with: {function: "tests.effects:record", args: ["${{ inputs.db }}", 0.02], context: true}
  side:
    agent: python
    with: {function: "tests.effects:record", args: ["${{ inputs.db }}", 0.05], context: true}
  last:
    agent: python
    needs: [fan, side]
    with: {function: "tests.effects:record", args: ["${{ inputs.db }}", 0.01], context: true}
outputs:
  keys: ${{ len(steps.fan.outputs) }}
"""
INSTANCES = ["first", *(f"fan/{i}" for i in range(8)), "side", "last"]


def mastermind(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mastermind", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def quiet(*args: str, log: Path) -> subprocess.Popen[bytes]:
    """A mastermind process whose output goes to a file (nobody reads pipes while it runs)."""
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "mastermind", *args],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=sink,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


KILLS = 20
EVENTS_PER_RUN = 32  # about what one CHAOS run commits: kills land anywhere in a run


@pytest.mark.slow
@pytest.mark.timeout(600)  # each kill waits for progress, however slow the machine is
def test_kill_nine_at_random_points_loses_nothing(tmp_path: Path) -> None:
    """Each kill lands after a random number of newly committed events (not after a wall-clock
    delay, which on a loaded machine may pass before the process has done anything)."""
    flow = tmp_path / "chaos.yaml"
    flow.write_text(CHAOS)
    state = tmp_path / "state"
    db = state / DB_NAME
    effects = tmp_path / "effects.db"
    log = tmp_path / "stderr.log"
    rng = random.Random(20261125)
    kills = 0
    runs = 0
    while kills < KILLS:
        runs += 1
        args = ("run", "-q", "--state-dir", str(state), str(flow), "-i", f"db={effects}")
        process = quiet(*args, log=log)
        while kill_after_progress(process, db, rng.randint(0, EVENTS_PER_RUN)):
            kills += 1
            process = quiet("resume", "-q", "--state-dir", str(state), log=log)
    # whatever is left unfinished, finish it without interference
    final = mastermind("resume", "-q", "--state-dir", str(state))
    out, err = final.communicate(timeout=60)

    conn = sqlite3.connect(db)
    statuses = conn.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall()
    # a run killed before it was stored was never accepted; every accepted run completed
    assert [s for s, _ in statuses] == ["succeeded"], (statuses, out, err, log.read_text())
    assert 0 < statuses[0][1] <= runs
    for (run_id,) in conn.execute("SELECT run_id FROM runs"):
        events = [
            Event.from_dict(json.loads(data))
            for (data,) in conn.execute(
                "SELECT data FROM events WHERE run_id=? ORDER BY seq", (run_id,)
            )
        ]
        stuck = [s for s in fold_steps(events) if s.status not in ("succeeded", "skipped")]
        assert not stuck, (run_id, stuck)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    run_ids = [r[0] for r in conn.execute("SELECT run_id FROM runs")]
    seqs = conn.execute("SELECT run_id, group_concat(seq) FROM events GROUP BY run_id").fetchall()
    for run_id, joined in seqs:  # the event log of every run is gapless
        numbers = sorted(int(n) for n in joined.split(","))
        assert numbers == list(range(1, len(numbers) + 1)), run_id

    recorded = sqlite3.connect(effects)
    keys = sorted(r[0] for r in recorded.execute("SELECT key FROM effects"))
    expected = sorted(f"{run_id}/{name}" for run_id in run_ids for name in INSTANCES)
    assert keys == expected  # every effect once, under the step's stable key
    executions = recorded.execute("SELECT count(*) FROM executions").fetchone()[0]
    assert executions >= len(expected)  # at-least-once: some steps ran again after a kill


AT_MOST_ONCE = """
name: careful
steps:
  prepare: {agent: noop, with: {value: ready}}
  charge:
    agent: wait
    needs: [prepare]
    effect: at_most_once
    with: {signal: go, timeout: 60s}
  after: {agent: noop, needs: [charge], with: {value: "${{ steps.charge.status }}"}}
outputs: {after: "${{ steps.after.outputs }}"}
"""


def crash_during_charge(tmp_path: Path) -> tuple[Path, str]:
    flow = tmp_path / "careful.yaml"
    flow.write_text(AT_MOST_ONCE)
    state = tmp_path / "state"
    process = mastermind("run", "--state-dir", str(state), str(flow))
    assert process.stderr is not None
    seen = ""
    while "charge started" not in seen:
        line = process.stderr.readline()
        assert line, seen
        seen += line
    process.send_signal(signal.SIGKILL)
    process.communicate()
    run_id = sqlite3.connect(state / DB_NAME).execute("SELECT run_id FROM runs").fetchone()[0]
    return state, run_id


async def resume_and_decide(
    state: Path, run_id: str, decision: str
) -> tuple[RunResult, list[Event]]:
    registry = AgentRegistry(load_plugins=False)
    async with Coordinator(registry, SqliteStore(state)) as coordinator:
        events: list[Event] = []
        unknown = asyncio.Event()

        def listen(event: Event) -> None:
            events.append(event)
            if event.status == "unknown":
                unknown.set()

        coordinator.subscribe(listen)
        await coordinator.resume(run_id)
        await unknown.wait()
        coordinator.signal(run_id, "decide.charge", decision)
        if decision == "retry":
            coordinator.signal(run_id, "go")  # lets the retried charge finish
        result = await coordinator.wait(run_id)
    return result, events


async def test_at_most_once_step_waits_for_a_decision_then_retries(tmp_path: Path) -> None:
    state, run_id = await asyncio.to_thread(crash_during_charge, tmp_path)
    result, events = await resume_and_decide(state, run_id, "retry")
    assert result.ok, result.error
    assert result.outputs == {"after": "succeeded"}
    charge = [(e.status, e.attempt) for e in events if e.step_id == "charge"]
    assert charge[0] == ("queued", 0)
    assert charge[1][0] == "unknown"
    assert ("running", 1) in charge and ("succeeded", 1) in charge
    assert not any(e.step_id == "prepare" and e.status == "running" for e in events)


async def test_at_most_once_step_can_be_skipped(tmp_path: Path) -> None:
    state, run_id = await asyncio.to_thread(crash_during_charge, tmp_path)
    result, events = await resume_and_decide(state, run_id, "skip")
    assert result.ok
    assert result.steps["charge"] == "skipped"
    assert result.steps["after"] == "skipped"
    assert not any(e.step_id == "charge" and e.status == "running" for e in events)


def test_runs_show_after_a_crash(tmp_path: Path) -> None:
    state, run_id = crash_during_charge(tmp_path)
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "mastermind",
            "runs",
            "show",
            run_id,
            "--state-dir",
            str(state),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(shown.stdout)
    assert data["run"]["status"] == "running"
    steps = {(s["step_id"], s["item_index"]): s["status"] for s in data["steps"]}
    assert steps[("prepare", None)] == "succeeded"
    assert steps[("charge", None)] == "running"


async def test_a_run_another_live_process_holds_is_not_resumed(tmp_path: Path) -> None:
    flow = tmp_path / "careful.yaml"
    flow.write_text(AT_MOST_ONCE)
    state = tmp_path / "state"
    process = await asyncio.to_thread(mastermind, "run", "--state-dir", str(state), str(flow))
    try:
        assert process.stderr is not None
        seen = ""
        while "charge started" not in seen:
            line = await asyncio.to_thread(process.stderr.readline)
            assert line, seen
            seen += line
        async with Coordinator(
            AgentRegistry(load_plugins=False), SqliteStore(state)
        ) as coordinator:
            resumed, skipped = await coordinator.resume_unfinished()
        assert resumed == []
        assert [why.startswith("being run by") for why in skipped.values()] == [True]
    finally:
        process.kill()
        await asyncio.to_thread(process.communicate)
