"""The command line's manners: run ids up front, prefixes, reasons on failure, a closed pipe,
deciding an in-doubt step without a daemon, python steps beside their workflow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.daemon_harness import TOKEN, daemon
from tests.test_resume import crash_during_charge

ROOT = Path(__file__).resolve().parent.parent


def mastermind(*args: str, state: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mastermind", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MASTERMIND_STATE_DIR": str(state), "PYTHONPATH": str(ROOT)},
    )


def test_run_id_first_then_any_unique_prefix(tmp_path: Path) -> None:
    done = mastermind("run", "workflows/hello.yaml", state=tmp_path)
    assert done.returncode == 0, done.stderr
    first = done.stderr.splitlines()[0]
    assert first.startswith("mastermind: run ") and "started" in first
    run_id = first.split()[2]
    listed = json.loads(mastermind("runs", "list", "--format", "json", state=tmp_path).stdout)
    assert [r["run_id"] for r in listed] == [run_id]
    shown = mastermind("runs", "show", run_id[:6], "--format", "json", state=tmp_path)
    assert json.loads(shown.stdout)["run"]["run_id"] == run_id
    again = mastermind("resume", run_id[:8], state=tmp_path)
    assert again.returncode == 1 and "already succeeded" in again.stderr

    assert mastermind("run", "-q", "workflows/hello.yaml", state=tmp_path).returncode == 0
    ambiguous = mastermind("runs", "show", "0", state=tmp_path)
    assert ambiguous.returncode == 1 and "ambiguous" in ambiguous.stderr
    missing = mastermind("runs", "show", "zz", state=tmp_path)
    assert missing.returncode == 1 and "no run zz" in missing.stderr


def test_quiet_failed_run_says_why_and_keeps_outputs(tmp_path: Path) -> None:
    done = mastermind("run", "-q", "workflows/resilient.yaml", state=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("mastermind: run ")  # -q: no progress, no start line
    assert "failed: failed steps: doomed" in done.stderr
    assert "doomed: the upstream service said no" in done.stderr
    outputs = json.loads(done.stdout)  # what the failed run could compute
    assert outputs["flaky"]["calls"] == 3


def test_closed_stdout_is_not_a_traceback(tmp_path: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written (`| head -0`)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "mastermind", "schema"],
            cwd=ROOT,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    finally:
        os.close(write)
    assert done.returncode == 141, done.stderr
    assert done.stderr == ""


def test_decide_an_in_doubt_step_without_a_daemon(tmp_path: Path) -> None:
    state, run_id = crash_during_charge(tmp_path)
    waiting = mastermind("resume", run_id[:10], state=state)
    assert waiting.returncode == 1
    assert "charge (effect: at_most_once)" in waiting.stderr
    assert f"mastermind runs decide {run_id[:12]} charge retry" in waiting.stderr
    everything = mastermind("resume", state=state)  # the others go on; this one is left
    assert everything.returncode == 0 and "runs decide" in everything.stderr
    assert "1 run(s) wait for a decision" in everything.stderr, everything.stderr
    assert "nothing to resume" not in everything.stderr
    wrong = mastermind("runs", "decide", run_id[:10], "prepare", "skip", state=state)
    assert wrong.returncode == 1 and "steps waiting: charge" in wrong.stderr
    decided = mastermind("runs", "decide", run_id[:10], "charge", "skip", "-q", state=state)
    assert decided.returncode == 0, decided.stderr
    assert json.loads(decided.stdout) == {"after": None}
    shown = json.loads(mastermind("runs", "show", run_id, "--format", "json", state=state).stdout)
    steps = {s["step_id"]: s["status"] for s in shown["steps"]}
    assert steps["charge"] == "skipped" and shown["run"]["status"] == "succeeded"


def test_python_steps_import_from_the_workflow_folder(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "local_helpers_for_test.py").write_text("def double(x):\n    return 2 * x\n")
    (folder / "flow.yaml").write_text(
        "name: local\nsteps:\n  d:\n    agent: python\n"
        '    with: {function: "local_helpers_for_test:double", args: [21]}\n'
        "outputs: {d: '${{ steps.d.outputs }}'}\n"
    )
    done = mastermind("run", "-q", str(folder / "flow.yaml"), state=tmp_path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"d": 42}


def test_daemon_status_accepts_a_prefix(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "hello.yaml").write_text((ROOT / "workflows" / "hello.yaml").read_text())
    with daemon(tmp_path, folder) as d:
        status, body = d.call("POST", "/api/v1/runs", {"workflow": "hello"})
        assert status == 201, body
        run_id = body["run_id"]
        done = subprocess.run(
            [sys.executable, "-m", "mastermind", "status", run_id[:10]],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "MASTERMIND_URL": d.url, "MASTERMIND_TOKEN": TOKEN},
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["run"]["run_id"] == run_id
        assert d.call("POST", "/api/v1/runs", {"workflow": "hello"})[0] == 201
        assert d.call("GET", "/api/v1/runs/0")[0] == 409  # both ids start with 0: ambiguous
        assert d.call("GET", "/api/v1/runs/zz")[0] == 404
