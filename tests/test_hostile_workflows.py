"""Workflows written to hurt: every one is a positioned problem (FILE:LINE:COL), never a crash,
from the loader, `mastermind validate` and `POST /api/v1/workflows/validate` alike."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mastermind.engine.agent import AgentRegistry
from mastermind.errors import WorkflowError
from mastermind.language.loader import load_file, load_text
from tests.daemon_harness import RunningDaemon, daemon
from tests.test_cli import mastermind


def _value(expression: str, inputs: str = "inputs: {}\n") -> str:
    step = '  a: {agent: noop, with: {value: "${{ ' + expression + ' }}"}}\n'
    return f"name: x\n{inputs}steps:\n{step}"


DEEP_JSON = "[" * 5000 + "]" * 5000
HOSTILE = {
    "long_sum": _value("+".join(["1"] * 4999)),
    "long_literal": _value("9" * 5000),
    "float_literal": _value("1e400"),
    "integer_literal": _value(str(2**63)),
    "member_chain": _value("inputs" + ".a" * 3000, "inputs: {a: {type: object}}\n"),
    "index_chain": _value("inputs.x" + "[0]" * 3300, "inputs: {x: {type: array}}\n"),
    "json_in_expression": _value(DEEP_JSON),
    "json_in_fromjson": _value(f"fromJSON('{DEEP_JSON}')"),
    "unary_chain": _value("-" * 3000 + "1"),
    "not_chain": _value("not " * 2000 + "true"),
    "parentheses": _value("(" * 3000 + "1" + ")" * 3000),
    "product_chain": _value("*".join(["2"] * 3000)),
}
POSITIONED = re.compile(r"^\S+\.yaml:\d+:\d+: error: steps\.a\.with\.value: bad expression: ")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    for name, text in HOSTILE.items():
        (folder / f"{name}.yaml").write_text(text)
    return folder


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_the_loader_reports_a_positioned_problem(corpus: Path, name: str) -> None:
    with pytest.raises(WorkflowError) as caught:
        load_file(corpus / f"{name}.yaml", AgentRegistry(load_plugins=False))
    (problem,) = caught.value.problems
    assert POSITIONED.match(str(problem)), str(problem)
    assert (problem.line, problem.column) == (4, 34)


def test_mastermind_validate_reports_each_file(corpus: Path) -> None:
    done = mastermind("validate", str(corpus))
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len(HOSTILE), done.stdout + done.stderr
    assert all(POSITIONED.match(line) for line in lines), lines
    assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    root = tmp_path_factory.mktemp("served")
    folder = root / "workflows"
    folder.mkdir()
    with daemon(root, folder) as running:
        yield running


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_the_api_answers_400_with_the_position(served: RunningDaemon, name: str) -> None:
    status, body = served.call(
        "POST",
        "/api/v1/workflows/validate",
        raw=HOSTILE[name].encode(),
        content_type="text/yaml",
    )
    assert status == 400, body
    (problem,) = body["problems"]
    assert (problem["line"], problem["column"], problem["field"]) == (4, 34, "steps.a.with.value")
    assert problem["message"].startswith("bad expression: ")


class BrokenCatalog:
    """A plug-in catalog with a bug: the loader must still answer with a positioned problem."""

    def get(self, name: str) -> Any:
        raise RecursionError("maximum recursion depth exceeded")

    def names(self) -> list[str]:
        return ["noop"]


def test_an_unexpected_error_is_still_a_positioned_problem() -> None:
    with pytest.raises(WorkflowError) as caught:
        load_text("name: x\nsteps: {a: {agent: noop}}\n", "bug.yaml", BrokenCatalog())
    assert str(caught.value) == (
        "bug.yaml:1:1: error: cannot load this file: RecursionError: maximum recursion depth "
        "exceeded"
    )
