"""The daemon under faults it did not cause: broken workflow files, failing chores, slow or
hostile clients, more work than it takes. Real daemon subprocesses where a signal or a socket
matters; the Daemon object in this process where a fault has to be planted."""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import model_validator

from mastermind.engine.agent import Agent, Params, StepContext
from mastermind.service.config import Config
from mastermind.service.daemon import Daemon
from mastermind.store.base import RunRecord
from mastermind.store.sqlite import DB_NAME, SqliteStore
from tests.daemon_harness import ROOT, RunningDaemon, daemon

HELLO = (ROOT / "workflows" / "hello.yaml").read_text()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "hello.yaml").write_text(HELLO)
    (workflows / "gated.yaml").write_text(
        "name: gated\nsteps:\n"
        "  hold: {agent: wait, with: {signal: go, timeout: 10m}}\n"
        "  after: {agent: noop, needs: [hold], with: {value: done}}\n"
        "outputs: {after: '${{ steps.after.outputs }}'}\n"
    )
    return workflows


def wait_until(check: Any, what: str, timeout: float = 60) -> Any:
    """Poll `check()` until it returns something truthy (progress, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def run_status(d: RunningDaemon, run_id: str) -> tuple[str, list[dict[str, Any]]]:
    status, body = d.call("GET", f"/api/v1/runs/{run_id}")
    assert status == 200, body
    return body["run"]["status"], body["steps"]


def step_running(d: RunningDaemon, run_id: str, step: str) -> bool:
    return any(s["step_id"] == step and s["status"] == "running" for s in run_status(d, run_id)[1])


def metric(d: RunningDaemon, name: str) -> float:
    _, text = d.call("GET", "/metrics", token=None)
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def long_sum_file(folder: Path) -> Path:
    """A 4999-term `1+1+...` expression: it used to raise RecursionError out of the loader."""
    path = folder / "bad.yaml"
    path.write_text(
        "name: bad\nsteps:\n  a: {agent: noop, with: {value: '${{ "
        + "+".join(["1"] * 4999)
        + " }}'}}\n"
    )
    return path


def test_a_pathological_workflow_file_does_not_stop_serve(tmp_path: Path, folder: Path) -> None:
    long_sum_file(folder)
    with daemon(tmp_path, folder) as d:
        status, body = d.call("GET", "/api/v1/workflows")
        assert status == 200
        assert [w["name"] for w in body["workflows"]] == ["gated", "hello"]
        assert [Path(p["file"]).name for p in body["broken"]] == ["bad.yaml"]
        assert body["broken"][0]["message"]
        assert d.call("POST", "/api/v1/runs", {"workflow": "hello"})[0] == 201
        _, metrics = d.call("GET", "/metrics", token=None)
        assert "mastermind_workflows_broken 1.0" in metrics
        d.process.send_signal(signal.SIGTERM)
        assert d.process.wait(timeout=30) == 0
        output = d.process.communicate(timeout=30)[0]
    assert "bad.yaml" in output and "workflow not loaded" in output


class ExplodingParams(Params):
    value: Any = None

    @model_validator(mode="after")
    def explode(self) -> ExplodingParams:
        raise RuntimeError("the validator has a bug")  # not a ValueError: pydantic re-raises it


class ExplodingAgent(Agent[ExplodingParams]):
    name = "exploding"
    Params = ExplodingParams

    async def run(self, params: ExplodingParams, ctx: StepContext) -> Any:
        return None


async def test_any_exception_from_loading_one_file_is_a_broken_file(
    tmp_path: Path, folder: Path
) -> None:
    (folder / "boom.yaml").write_text("name: boom\nsteps: {a: {agent: exploding}}\n")
    config = Config.model_validate({"workflows": folder, "store": {"state_dir": tmp_path}})
    daemon_ = Daemon(config)
    daemon_.registry.register(ExplodingAgent)
    await daemon_.load_workflows()
    assert sorted(daemon_.catalog) == ["gated", "hello"]
    [problem] = daemon_.broken
    assert Path(problem.file).name == "boom.yaml"
    assert "RuntimeError: the validator has a bug" in problem.message
    assert daemon_.metrics.workflows_broken._value.get() == 1
    # a reload keeps the last good version of a file that breaks this way
    shutil.copy(folder / "boom.yaml", folder / "hello.yaml")
    await daemon_.load_workflows()
    assert sorted(daemon_.catalog) == ["gated", "hello"] and len(daemon_.broken) == 2


def prune_refusing_state(state: Path) -> sqlite3.Connection:
    """A state directory whose store refuses to prune once the test says so: a finished run
    from long ago that retention keeps trying to delete, and a trigger that aborts the delete
    (sqlite3.IntegrityError out of the retention chore) while `refuse_prune` has a row."""

    async def create() -> None:
        store = SqliteStore(state)
        await store.open()
        await store.create_run(RunRecord("old", "old", "d", "name: old\n", "/old.yaml", {}))
        await store.close()

    asyncio.run(create())
    db = sqlite3.connect(state / DB_NAME, isolation_level=None, timeout=30)
    db.executescript(
        """
        UPDATE runs SET status = 'succeeded', finished_at = 1 WHERE run_id = 'old';
        CREATE TABLE refuse_prune (x);
        CREATE TRIGGER keep_old BEFORE DELETE ON runs WHEN OLD.run_id = 'old' BEGIN
            SELECT CASE WHEN EXISTS (SELECT 1 FROM refuse_prune)
                THEN RAISE(ABORT, 'pruning is refused') ELSE RAISE(IGNORE) END;
        END;
        """
    )
    return db


def test_a_failing_chore_is_restarted_and_no_run_is_cancelled(tmp_path: Path, folder: Path) -> None:
    state = tmp_path / "state"
    db = prune_refusing_state(state)
    with daemon(tmp_path, folder, state=state, store="retention: 1s") as d:
        status, body = d.call("POST", "/api/v1/runs", {"workflow": "gated"})
        assert status == 201, body
        run_id = body["run_id"]
        wait_until(lambda: step_running(d, run_id, "hold"), "the step to wait for its signal")
        db.execute("INSERT INTO refuse_prune VALUES (1)")  # the retention chore now raises
        restarts = 'mastermind_chore_restarts_total{chore="retention"}'
        wait_until(
            lambda: d.process.poll() is not None or metric(d, restarts) >= 2,
            "two restarts of the retention chore",
        )
        if d.process.poll() is not None:
            stored = db.execute("SELECT status FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            output = d.process.communicate(timeout=30)[0]
            raise AssertionError(f"the daemon exited; the run is {stored}:\n{output[-3000:]}")
        assert d.call("GET", "/readyz", token=None)[0] == 200
        assert d.call("POST", f"/api/v1/runs/{run_id}/signals/go", {})[0] == 202
        wait_until(lambda: run_status(d, run_id)[0] == "succeeded", "the run to succeed")
        d.process.send_signal(signal.SIGTERM)
        assert d.process.wait(timeout=30) == 0
        output = d.process.communicate(timeout=30)[0]
    assert "background chore retention failed" in output
    assert "sqlite3.IntegrityError: pruning is refused" in output  # with its traceback
