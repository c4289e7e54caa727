"""Property tests: whatever an editor does to a valid workflow, the loader answers with a
WorkflowError (or a Definition), never another exception, and quickly."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mastermind.engine.agent import AgentRegistry
from mastermind.errors import WorkflowError
from mastermind.language.loader import Definition, load_text

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "workflows").glob("*.yaml"))
TEXTS = [p.read_text() for p in EXAMPLES]
REGISTRY = AgentRegistry(load_plugins=False)
YAMLISH = st.sampled_from([*":-[]{},&*!|>'\"#%@` \n\t$", "${{", "}}", "!!python/object", "<<"])


def check(text: str) -> None:
    started = time.thread_time()  # CPU time: other processes' load does not count
    try:
        result = load_text(text, "mutant.yaml", REGISTRY)
        assert isinstance(result, Definition)
    except WorkflowError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.file == "mutant.yaml" and problem.line >= 0
    assert time.thread_time() - started < 1.0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(0, max(len(TEXTS) - 1, 0)),
    edits=st.lists(
        st.tuples(st.floats(0, 1), st.sampled_from(["insert", "delete", "replace"]), YAMLISH),
        min_size=1,
        max_size=8,
    ),
)
def test_text_mutations_only_raise_workflow_errors(
    index: int, edits: list[tuple[float, str, str]]
) -> None:
    text = TEXTS[index]
    for where, how, piece in edits:
        at = int(where * len(text))
        if how == "insert":
            text = text[:at] + piece + text[at:]
        elif how == "delete":
            text = text[:at] + text[at + len(piece) :]
        else:
            text = text[:at] + piece + text[at + 1 :]
    check(text)


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 10**6)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["${{ inputs.x }}", "${{ steps.a.outputs }}", "${{ item }}", "5s", "noop"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found.extend(paths(value, (*prefix, key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.extend(paths(value, (*prefix, index)))
    return found


@settings(max_examples=300, deadline=None)
@given(index=st.integers(0, max(len(TEXTS) - 1, 0)), choice=st.floats(0, 1), value=JSONISH)
def test_structural_mutations_only_raise_workflow_errors(
    index: int, choice: float, value: Any
) -> None:
    data = yaml.safe_load(TEXTS[index])
    places = paths(data)[1:]
    path = places[int(choice * (len(places) - 1))]
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    check(yaml.safe_dump(data))
