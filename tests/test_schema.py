"""The published JSON Schema is current and accepts every shipped example."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from mastermind.language.schema import workflow_schema, workflow_schema_text

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "workflows").glob("*.yaml"))


def test_committed_schema_is_current() -> None:
    committed = (ROOT / "config" / "workflow.schema.json").read_text()
    assert committed == workflow_schema_text(), (
        "run: mastermind schema > config/workflow.schema.json"
    )


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(workflow_schema())


def test_there_are_at_least_five_examples() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_schema_accepts_example(path: Path) -> None:
    text = path.read_text()
    assert text.startswith("# yaml-language-server: $schema=../config/workflow.schema.json")
    jsonschema.validate(yaml.safe_load(text), workflow_schema())


def test_schema_rejects_unknown_fields() -> None:
    bad = {"name": "x", "steps": {"a": {"agent": "noop", "agnet": "noop"}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, workflow_schema())


def test_schema_rejects_bad_durations() -> None:
    bad = {"name": "x", "steps": {"a": {"agent": "noop", "timeout": "30sec"}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, workflow_schema())


def test_examples_use_every_construct() -> None:
    texts = "\n".join(p.read_text() for p in EXAMPLES)
    docs = [yaml.safe_load(p.read_text()) for p in EXAMPLES]
    top = {key for doc in docs for key in doc}
    step_keys = {key for doc in docs for step in doc["steps"].values() for key in step}
    assert {
        "name",
        "description",
        "inputs",
        "concurrency",
        "timeout",
        "retry",
        "on_failure",
        "outputs",
        "triggers",
        "steps",
    } <= top
    assert {
        "agent",
        "description",
        "needs",
        "if",
        "for_each",
        "with",
        "retry",
        "timeout",
        "pool",
        "outputs",
        "effect",
    } <= step_keys
    for construct in ("cron:", "webhook:", "failure()", "always()", "item", "index", "result."):
        assert construct in texts, construct
    assert json.dumps(docs)  # examples are plain data
