"""The daemon under faults it did not cause: broken workflow files, failing chores, slow or
hostile clients, more work than it takes. Real daemon subprocesses where a signal or a socket
matters; the Daemon object in this process where a fault has to be planted."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path
from typing import Any

import pytest
from pydantic import model_validator

from mastermind.engine.agent import Agent, Params, StepContext
from mastermind.service.config import Config
from mastermind.service.daemon import Daemon
from tests.daemon_harness import ROOT, daemon

HELLO = (ROOT / "workflows" / "hello.yaml").read_text()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "hello.yaml").write_text(HELLO)
    return workflows


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
        assert [w["name"] for w in body["workflows"]] == ["hello"]
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
    assert sorted(daemon_.catalog) == ["hello"]
    [problem] = daemon_.broken
    assert Path(problem.file).name == "boom.yaml"
    assert "RuntimeError: the validator has a bug" in problem.message
    assert daemon_.metrics.workflows_broken._value.get() == 1
    # a reload keeps the last good version of a file that breaks this way
    shutil.copy(folder / "boom.yaml", folder / "hello.yaml")
    await daemon_.load_workflows()
    assert sorted(daemon_.catalog) == ["hello"] and len(daemon_.broken) == 2
