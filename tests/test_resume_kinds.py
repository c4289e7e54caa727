"""Every kind of run resumes: runs started by a webhook or a cron trigger, and sub-workflow
runs (rejoined by their resumed parent step), after a SIGKILL of a real process."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mastermind.engine.agent import AgentRegistry
from mastermind.engine.clock import FakeClock
from mastermind.engine.coordinator import Coordinator
from mastermind.language.loader import load_text
from mastermind.service.triggers import CronEntry, CronScheduler, delivery_headers
from mastermind.store.sqlite import DB_NAME, MIGRATIONS, SqliteStore
from tests.agents_for_tests import GateAgent
from tests.daemon_harness import ROOT, RunningDaemon, daemon


def wait_until(check: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def steps(d: RunningDaemon, run_id: str) -> dict[str, str]:
    status, body = d.call("GET", f"/api/v1/runs/{run_id}")
    assert status == 200, body
    return {s["step_id"]: s["status"] for s in body["steps"]} | {"": body["run"]["status"]}


def test_a_webhook_run_resumes_after_the_daemon_is_killed(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "hooked.yaml").write_text(
        "name: hooked\nsteps:\n"
        "  hold: {agent: wait, with: {signal: go, timeout: 10m}}\n"
        "  after: {agent: noop, needs: [hold], with: {value: done}}\n"
        "outputs: {after: '${{ steps.after.outputs }}'}\n"
        "triggers: [{webhook: {secret: hook_key}}]\n"
    )
    state = tmp_path / "state"
    extra = "secrets: {hook_key: s3cret}\n"
    body = b"{}"
    with daemon(tmp_path, folder, state=state, extra=extra) as d:
        headers = delivery_headers("s3cret", body, now=time.time())
        status, answer = d.call(
            "POST", "/api/v1/hooks/hooked", raw=body, token=None, headers=headers
        )
        assert status == 201, answer
        run_id = answer["run_id"]
        wait_until(lambda: steps(d, run_id).get("hold") == "running", "the step to wait")
        d.process.send_signal(signal.SIGKILL)
        d.process.wait(timeout=30)
    with daemon(tmp_path, folder, state=state, extra=extra) as d:
        wait_until(lambda: steps(d, run_id).get("hold") == "running", "the resumed step")
        assert d.call("POST", f"/api/v1/runs/{run_id}/signals/go", {})[0] == 202
        wait_until(lambda: steps(d, run_id)[""] == "succeeded", "the resumed run to succeed")
        _, run = d.call("GET", f"/api/v1/runs/{run_id}")
    assert run["run"]["trigger"] == "webhook" and run["run"]["parent"] is None
    assert run["run"]["outputs"] == {"after": "done"}


CRON = """
name: tick
steps: {hold: {agent: gate, with: {gate: tick}}}
triggers: [{cron: "*/5 * * * *"}]
"""


async def test_a_cron_run_resumes_in_the_next_coordinator(
    tmp_path: Path, registry: AgentRegistry
) -> None:
    definition = load_text(CRON, "tick.yaml", registry)
    clock = FakeClock(start=1_767_268_800.0)  # 2026-01-01 12:00 UTC
    entry = CronEntry("tick", 0, "*/5 * * * *", {})
    async with Coordinator(registry, SqliteStore(tmp_path), clock=clock) as first:
        await CronScheduler(first, lambda: {"tick": definition}).fire(entry, clock.time())
        [run_id] = first.active_runs
        gate = first.registry.instance("gate")
        assert isinstance(gate, GateAgent)
        await gate.started["tick"].wait()
    # the first coordinator stopped (as a crash or a drain would): the run is unfinished
    async with Coordinator(registry, SqliteStore(tmp_path), clock=clock) as second:
        resumed, skipped = await second.resume_unfinished()
        assert resumed == [run_id], skipped
        gate = second.registry.instance("gate")  # closing the first coordinator closed agents
        assert isinstance(gate, GateAgent)
        gate.gates["tick"].set()
        result = await second.wait(run_id)
        record = await second.store.get_run(run_id)
    assert result.ok
    assert record is not None and record.parent is None
    assert record.trigger == f"cron:tick:0:{clock.time():.0f}"


PARENT = """
name: parent
inputs: {dir: {type: string}}
steps:
  call:
    agent: workflow
    with: {workflow: child.yaml, inputs: {dir: "${{ inputs.dir }}"}}
outputs: {child: "${{ steps.call.outputs }}"}
"""
CHILD = """
name: child
inputs: {dir: {type: string}}
steps:
  hold: {agent: python, with: {function: "tests.effects:hold", args: ["${{ inputs.dir }}"]}}
outputs: {held: "${{ steps.hold.outputs }}"}
"""


def test_a_sub_workflow_step_rejoins_its_resumed_child_after_sigkill(tmp_path: Path) -> None:
    (tmp_path / "parent.yaml").write_text(PARENT)
    (tmp_path / "child.yaml").write_text(CHILD)
    flags = tmp_path / "flags"
    flags.mkdir()
    state = ["--state-dir", str(tmp_path / "state")]
    command = [sys.executable, "-m", "mastermind"]
    run = subprocess.Popen(
        [*command, "run", str(tmp_path / "parent.yaml"), "-q", "-i", f"dir={flags}", *state],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: (flags / "started").exists() or run.poll() is not None, "the child")
        assert run.poll() is None, run.communicate()
        run.send_signal(signal.SIGKILL)
    finally:
        run.communicate(timeout=30)
    (flags / "go").touch()
    resumed = subprocess.run(
        [*command, "resume", "-q", *state], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert json.loads(resumed.stdout) == {"child": {"held": "released"}}
    db = sqlite3.connect(tmp_path / "state" / DB_NAME)
    statuses = dict(db.execute("SELECT workflow, status FROM runs").fetchall())
    assert statuses == {"parent": "succeeded", "child": "succeeded"}


def test_trigger_runs_stored_with_a_parent_are_migrated(tmp_path: Path) -> None:
    """Version 1 stored trigger-started runs as parent 'webhook' / 'cron:...'."""
    db = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    db.executescript(MIGRATIONS[0] + ";PRAGMA user_version=1;")
    for run_id, parent in [("w", "webhook"), ("c", "cron:tick:0:60"), ("s", "r1/call")]:
        db.execute(
            "INSERT INTO runs (run_id, workflow, digest, definition, file, inputs, status,"
            " created_at, parent) VALUES (?, 'x', 'd', 'name: x', '/x.yaml', '{}', 'running',"
            " 1, ?)",
            (run_id, parent),
        )
    db.close()

    async def read() -> dict[str, tuple[str | None, str | None]]:
        store = SqliteStore(tmp_path)
        await store.open()
        try:
            runs = await store.list_runs()
        finally:
            await store.close()
        return {r.run_id: (r.parent, r.trigger) for r in runs}

    assert asyncio.run(read()) == {
        "w": (None, "webhook"),
        "c": (None, "cron:tick:0:60"),
        "s": ("r1/call", None),
    }


async def test_postgres_migrates_trigger_runs_stored_with_a_parent() -> None:
    import asyncpg

    from mastermind.store.postgres import MIGRATIONS as PG_MIGRATIONS
    from mastermind.store.postgres import PostgresStore
    from tests.pg import PG_DSN, new_schema

    schema = new_schema()
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}; SET search_path TO {schema}")
        await conn.execute(PG_MIGRATIONS[0])
        await conn.execute("CREATE TABLE schema_version (version integer NOT NULL)")
        await conn.execute("INSERT INTO schema_version VALUES (1)")
        for run_id, parent in [("w", "webhook"), ("c", "cron:tick:0:60"), ("s", "r1/call")]:
            await conn.execute(
                "INSERT INTO runs (run_id, workflow, digest, definition, file, inputs, status,"
                " created_at, parent) VALUES ($1, 'x', 'd', 'name: x', '/x.yaml', '{}',"
                " 'running', 1, $2)",
                run_id,
                parent,
            )
        store = PostgresStore(PG_DSN, schema=schema)
        await store.open()
        try:
            runs = {r.run_id: (r.parent, r.trigger) for r in await store.list_runs()}
        finally:
            await store.close()
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()
    assert runs == {"w": (None, "webhook"), "c": (None, "cron:tick:0:60"), "s": ("r1/call", None)}


SHELL_HOLD = """
name: shellhold
inputs: {dir: {type: string}}
steps:
  hold:
    agent: shell
    with:
      shell: true
      command: touch started; while [ ! -e go ]; do sleep 0.02; done; echo released
      cwd: "${{ inputs.dir }}"
outputs: {held: "${{ steps.hold.outputs.stdout }}"}
"""


def test_sigterm_leaves_a_cli_run_resumable(tmp_path: Path) -> None:
    """Only Ctrl-C (an explicit cancel) cancels `mastermind run`; SIGTERM (a shutdown) stops it
    without writing (its process is killed), exit 143, and `mastermind resume` finishes it."""
    (tmp_path / "hold.yaml").write_text(SHELL_HOLD)
    flags = tmp_path / "flags"
    flags.mkdir()
    state = ["--state-dir", str(tmp_path / "state")]
    command = [sys.executable, "-m", "mastermind"]
    run = subprocess.Popen(
        [*command, "run", str(tmp_path / "hold.yaml"), "-q", "-i", f"dir={flags}", *state],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: (flags / "started").exists() or run.poll() is not None, "the step")
        assert run.poll() is None, run.communicate()
        run.send_signal(signal.SIGTERM)
    finally:
        _, err = run.communicate(timeout=60)
    assert run.returncode == 143, err
    db = sqlite3.connect(tmp_path / "state" / DB_NAME)
    assert db.execute("SELECT status FROM runs").fetchall() == [("running",)]
    (flags / "go").touch()
    resumed = subprocess.run(
        [*command, "resume", "-q", *state], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert json.loads(resumed.stdout) == {"held": "released\n"}
