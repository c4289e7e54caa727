"""The command line, run as users run it: a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


STATE = tempfile.mkdtemp(prefix="mastermind-cli-tests-")
ENV = {**os.environ, "MASTERMIND_STATE_DIR": STATE, "PYTHONUNBUFFERED": "1"}


def mastermind(
    *args: str, cwd: Path = ROOT, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mastermind", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


def test_validate_shipped_workflows() -> None:
    done = mastermind("validate", "workflows/")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 invalid" in done.stderr


def test_validate_reports_in_compiler_format() -> None:
    done = mastermind("validate", "tests/broken/cycle.yaml", "tests/broken/unknown_need.yaml")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines == [
        "tests/broken/cycle.yaml:4:27: error: steps.a.needs: steps form a cycle: a -> b -> c -> a",
        "tests/broken/unknown_need.yaml:7:13: error: steps.b.needs[0]: no step named 'fetchh' "
        "(did you mean 'fetch'?)",
    ]


def test_validate_json() -> None:
    done = mastermind("validate", "--format", "json", "tests/broken/python_tag.yaml")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["valid"] is False
    assert report["problems"][0]["line"] == 5
    assert report["problems"][0]["field"] == "steps.a.with"


def test_validate_usage_errors_exit_2() -> None:
    assert mastermind("validate", "no/such/dir").returncode == 2
    assert mastermind("validate").returncode == 2
    assert mastermind("frobnicate").returncode == 2


def test_schema_matches_committed_file() -> None:
    done = mastermind("schema")
    assert done.returncode == 0
    assert done.stdout == (ROOT / "config" / "workflow.schema.json").read_text()


@pytest.mark.parametrize("fmt", ["mermaid", "dot"])
def test_graph(fmt: str) -> None:
    done = mastermind("graph", "workflows/pipeline.yaml", "--format", fmt)
    assert done.returncode == 0
    if fmt == "mermaid":
        assert done.stdout.startswith("flowchart TD")
        assert "stats -.-> headline" in done.stdout
    else:
        assert done.stdout.startswith('digraph "pipeline"')
        assert '"lengths" -> "merge";' in done.stdout


def test_run_prints_outputs_as_json() -> None:
    done = mastermind("run", "workflows/hello.yaml", "-i", '["Ada", "Linus"]'.join(["names=", ""]))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"greetings": ["Hello, Ada!", "Hello, Linus!"], "count": 2}
    assert "run succeeded" in done.stderr


def test_run_with_inputs_file(tmp_path: Path) -> None:
    inputs = tmp_path / "in.json"
    inputs.write_text('{"names": ["Grace"]}')
    done = mastermind("run", "-q", "workflows/hello.yaml", "--inputs", str(inputs))
    assert done.returncode == 0
    assert json.loads(done.stdout)["count"] == 1
    assert done.stderr == ""


def test_run_failure_exits_1() -> None:
    done = mastermind("run", "workflows/resilient.yaml")
    assert done.returncode == 1
    assert "doomed FAILED" in done.stderr
    assert "report_failure ok" in done.stderr


def test_bad_inputs_are_a_clear_error() -> None:
    done = mastermind("run", "workflows/hello.yaml", "-i", "names=not-json")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "mastermind: error: input 'names' is of type array; 'not-json' is not JSON"
    )
    assert "Traceback" not in done.stderr


def test_invalid_workflow_is_reported_not_run() -> None:
    done = mastermind("run", "tests/broken/cycle.yaml")
    assert done.returncode == 1
    assert done.stderr.startswith("tests/broken/cycle.yaml:4:27: error:")


def test_ctrl_c_cancels_the_run_and_exits_130(tmp_path: Path) -> None:
    flow = tmp_path / "slow.yaml"
    flow.write_text(
        "name: slow\nsteps:\n"
        "  nap: {agent: sleep, with: {duration: 60s}}\n"
        "  naps: {agent: sleep, for_each: '${{ [1, 2] }}', with: {duration: 60s}}\n"
        "  after: {agent: noop, needs: [nap]}\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "mastermind", "run", str(flow)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert process.stderr is not None
    seen = ""
    while "naps started" not in seen or "nap started" not in seen:
        line = process.stderr.readline()
        assert line, f"mastermind exited early: {seen}"
        seen += line
    process.send_signal(signal.SIGINT)
    # ends well before the 60 s naps would (no wall-clock bound: the machine may be loaded)
    _, rest = process.communicate(timeout=45)
    assert process.returncode == 130
    assert "nap cancelled" in rest
    assert "naps cancelled" in rest
    assert "after cancelled" in rest
    assert "run cancelled" in rest


def test_runs_are_recorded_and_listed() -> None:
    done = mastermind("run", "-q", "workflows/hello.yaml")
    assert done.returncode == 0
    listed = mastermind("runs", "list", "--format", "json", "--workflow", "hello")
    runs = json.loads(listed.stdout)
    assert runs and runs[0]["status"] == "succeeded"
    shown = mastermind("runs", "show", runs[0]["run_id"])
    assert shown.returncode == 0
    assert "greet[2]" in shown.stdout and "succeeded" in shown.stdout
    assert mastermind("runs", "show", "no-such-run").returncode == 1


def test_resume_with_nothing_to_do() -> None:
    done = mastermind("resume", "--state-dir", tempfile.mkdtemp())
    assert done.returncode == 0
    assert "nothing to resume" in done.stderr


def test_prune_keeps_recent_runs(tmp_path: Path) -> None:
    state = str(tmp_path)
    assert mastermind("run", "-q", "--state-dir", state, "workflows/hello.yaml").returncode == 0
    kept = mastermind("runs", "prune", "--older-than", "1d", "--state-dir", state)
    assert kept.stdout.strip() == "pruned 0 finished run(s)"
    gone = mastermind("runs", "prune", "--older-than", "0s", "--state-dir", state)
    assert gone.stdout.strip() == "pruned 1 finished run(s)"
    assert mastermind("runs", "prune", "--older-than", "soon", "--state-dir", state).returncode == 1
