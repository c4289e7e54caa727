"""Run inputs are data the stores keep: non-finite numbers and integers beyond 64 bits are
refused at submission, naming the input, by the coordinator, the CLI and the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mastermind.errors import InputError, InvalidInputData
from mastermind.language.inputs import resolve_inputs
from mastermind.language.loader import load_text
from tests.daemon_harness import RunningDaemon, daemon
from tests.test_cli import mastermind


def nested(levels: int) -> list[Any]:
    """Arrays `levels` deep: [[...[]...]]."""
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


WORKFLOW = """
name: numbers
inputs:
  x: {type: number, default: 1}
  n: {type: integer, default: 1}
  data: {type: object, default: {}}
steps:
  show: {agent: noop, with: {value: "${{ inputs.x }}"}}
outputs: {x: "${{ inputs.x }}"}
"""
BAD = [
    ("x", float("inf"), "inf is not a finite number"),
    ("x", float("-inf"), "-inf is not a finite number"),
    ("x", float("nan"), "nan is not a finite number"),
    ("n", 2**63, "outside the range"),
    ("n", -(2**63) - 1, "outside the range"),
    ("data", {"deep": [1, {"v": float("nan")}]}, "data.deep[1].v: nan is not a finite number"),
    ("data", {"v": nested(128)}, "data: nested deeper than 128 levels"),
]


@pytest.fixture
def spec() -> Any:
    from mastermind.engine.agent import AgentRegistry

    return load_text(WORKFLOW, "numbers.yaml", AgentRegistry(load_plugins=False)).spec


@pytest.mark.parametrize(("name", "value", "message"), BAD)
def test_numbers_the_stores_cannot_keep_are_refused(
    spec: Any, name: str, value: Any, message: str
) -> None:
    with pytest.raises(InvalidInputData, match=f"input '{name}'") as caught:
        resolve_inputs(spec, {name: value})
    assert message in str(caught.value)
    assert isinstance(caught.value, InputError)


def test_the_edges_of_the_range_are_accepted(spec: Any) -> None:
    edges = {
        "x": 1.7976931348623157e308,
        "n": 2**63 - 1,
        "data": {"low": -(2**63), "deep": nested(127)},
    }
    assert resolve_inputs(spec, edges) == edges


@pytest.fixture
def numbers_file(tmp_path: Path) -> Path:
    path = tmp_path / "numbers.yaml"
    path.write_text(WORKFLOW)
    return path


@pytest.mark.parametrize("text", ["1e400", "NaN", "Infinity", "-Infinity", str(2**63)])
def test_cli_run_refuses_the_input_by_name(numbers_file: Path, text: str) -> None:
    name = "n" if text.isdigit() else "x"
    done = mastermind("run", str(numbers_file), "-q", "-i", f"{name}={text}")
    assert done.returncode != 0
    assert f"input '{name}'" in done.stderr, done.stderr
    assert done.stdout == ""  # nothing printed, certainly not `Infinity`


@pytest.mark.parametrize("levels", [129, 5000])
def test_cli_refuses_absurd_nesting_by_name(numbers_file: Path, levels: int) -> None:
    # 5000 levels: json's C scanner raised RecursionError, a traceback from run and submit;
    # 129..254 reached orjson in the store ("TypeError: Recursion limit reached")
    text = "data=" + "[" * levels + "]" * levels
    for args in (
        ("run", str(numbers_file), "-q"),
        ("submit", "numbers", "--url", "http://127.0.0.1:9"),
    ):
        done = mastermind(*args, "-i", text)
        assert done.returncode == 1, done.stderr
        assert "input 'data'" in done.stderr and "nested" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and done.stdout == ""


def test_a_deep_input_the_stores_keep_runs(numbers_file: Path, tmp_path: Path) -> None:
    deep = json.dumps({"v": nested(127)})
    done = mastermind(
        "run", str(numbers_file), "-q", "--state-dir", str(tmp_path / "s"), "-i", f"data={deep}"
    )
    assert done.returncode == 0, done.stderr


def test_cli_submit_refuses_before_sending() -> None:
    # no daemon listens there: the refusal comes first, from the client
    done = mastermind("submit", "numbers", "--url", "http://127.0.0.1:9", "-i", "x=1e400")
    assert done.returncode != 0
    assert "input 'x'" in done.stderr and "not a finite number" in done.stderr, done.stderr


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    root = tmp_path_factory.mktemp("served")
    folder = root / "workflows"
    folder.mkdir()
    (folder / "numbers.yaml").write_text(WORKFLOW)
    with daemon(root, folder) as running:
        yield running


@pytest.mark.parametrize(
    ("raw_value", "name"),
    [
        ("1e400", "x"),
        ("NaN", "x"),
        ("-Infinity", "x"),
        (str(2**63), "n"),
        ("[1e999]", "data"),
        # before: 500, orjson's "Recursion limit reached" in the store
        pytest.param("[" * 300 + "]" * 300, "data", id="nested-300"),
    ],
)
def test_api_answers_400_naming_the_input(served: RunningDaemon, raw_value: str, name: str) -> None:
    if name == "data":
        raw_value = '{"v": ' + raw_value + "}"
    body = '{"workflow": "numbers", "inputs": {"' + name + '": ' + raw_value + "}}"
    status, answer = served.call("POST", "/api/v1/runs", raw=body.encode())
    assert status == 400, answer
    assert f"input '{name}'" in answer["error"]
    status, runs = served.call("GET", "/api/v1/runs")
    assert status == 200 and runs["runs"] == []  # nothing was stored (as null or otherwise)


@pytest.mark.parametrize("default", [".inf", "-.inf", ".nan", str(2**63)])
def test_a_default_the_stores_cannot_keep_is_a_load_error(default: str) -> None:
    from mastermind.engine.agent import AgentRegistry
    from mastermind.errors import WorkflowError

    text = WORKFLOW.replace(
        "x: {type: number, default: 1}", f"x: {{type: number, default: {default}}}"
    )
    with pytest.raises(WorkflowError, match=r"numbers.yaml:4:\d+: error: inputs.x.default"):
        load_text(text, "numbers.yaml", AgentRegistry(load_plugins=False))
