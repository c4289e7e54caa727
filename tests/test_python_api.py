"""The public Python API (`import mastermind`), run as docs/python-api.md shows it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mastermind
from mastermind import StepContext
from tests.markdown_blocks import Block, blocks

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "python-api.md"
EXAMPLES = [b for b in blocks(DOC, "python") if b.file_name]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "MASTERMIND_STATE_DIR": ""}


def test_the_doc_has_examples() -> None:
    assert {b.file_name for b in EXAMPLES} >= {
        "run_hello.py",
        "script.py",
        "function_agent.py",
        "class_agent.py",
    }


@pytest.mark.parametrize("block", EXAMPLES, ids=lambda b: b.file_name)
def test_every_example_runs(block: Block, tmp_path: Path) -> None:
    script = tmp_path / str(block.file_name)
    script.write_text(block.text)
    env = {**ENV, "MASTERMIND_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, f"{DOC.name}:{block.line}\n{done.stdout}{done.stderr}"


@pytest.mark.slow
def test_examples_pass_mypy_strict(tmp_path: Path) -> None:
    """A user's code type-checks against the installed package: py.typed is shipped, and an
    agent subclass of `Params` / `Agent` is not 'a subclass of Any'."""
    for block in EXAMPLES:
        (tmp_path / str(block.file_name)).write_text(block.text)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir",
            os.devnull,
            *sorted(p.name for p in tmp_path.glob("*.py")),
        ],
        cwd=tmp_path,  # not the repository: mastermind is found as an installed package
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (ROOT / "mastermind" / "py.typed").is_file()


def test_import_is_lazy() -> None:
    code = "import sys, mastermind; print(sorted(m for m in sys.modules if 'mastermind.' in m))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=ENV, check=True
    )
    assert json.loads(done.stdout.replace("'", '"')) == []


async def test_failed_run_keeps_what_it_computed() -> None:
    flow = mastermind.loads(
        """
name: half
steps:
  good: {agent: noop, with: {value: 42}}
  bad: {agent: fail, with: {message: boom}}
  after: {agent: noop, needs: [bad], with: {value: never}}
outputs:
  good: ${{ steps.good.outputs }}
  bad: ${{ steps.bad.outputs }}
  deep: ${{ steps.after.outputs.field }}
"""
    )
    async with mastermind.Coordinator(memory=True) as coordinator:
        result = await coordinator.run(flow)
    assert result.status == "failed"
    assert result.error == "failed steps: bad"
    assert result.outputs == {"good": 42, "bad": None, "deep": None}
    assert result.steps == {"good": "succeeded", "bad": "failed", "after": "skipped"}


async def test_state_dir_keeps_runs(tmp_path: Path) -> None:
    async with mastermind.Coordinator(state_dir=tmp_path) as coordinator:
        result = await coordinator.run(ROOT / "workflows" / "hello.yaml", {"names": ["Ada"]})
    assert result.ok
    async with mastermind.Coordinator(state_dir=tmp_path) as coordinator:
        record = await coordinator.engine.store.get_run(result.run_id)
    assert record is not None and record.outputs == result.outputs


def test_function_agents_are_checked_at_load_time() -> None:
    @mastermind.agent("api_test_add")
    async def add(a: int, b: int = 1, *, ctx: StepContext) -> int:
        return a + b

    with pytest.raises(mastermind.WorkflowError, match=r"with\.b: .*integer"):
        mastermind.loads("name: x\nsteps:\n  s: {agent: api_test_add, with: {a: 1, b: two}}\n")
    with pytest.raises(mastermind.WorkflowError, match=r"with: .*a"):
        mastermind.loads("name: x\nsteps:\n  s: {agent: api_test_add, with: {b: 2}}\n")
    with pytest.raises(TypeError, match="async def"):

        @mastermind.agent()  # type: ignore[type-var]
        def sync(a: int) -> int:
            return a


def test_store_choice_is_exclusive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="choose one store"):
        mastermind.Coordinator(state_dir=tmp_path, memory=True)


async def test_run_refuses_inside_a_loop() -> None:
    with pytest.raises(mastermind.MastermindError, match="own loop"):
        mastermind.run(ROOT / "workflows" / "hello.yaml", memory=True)
