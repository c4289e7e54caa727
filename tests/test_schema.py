"""The published JSON Schema is current and accepts every shipped example."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from mastermind.engine.agent import AgentRegistry
from mastermind.language.schema import workflow_schema as schema_for
from mastermind.language.schema import workflow_schema_text

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "workflows").glob("*.yaml"))
SCHEMA_FILE = ROOT / "config" / "workflow.schema.json"
BROKEN = sorted((ROOT / "tests" / "broken").glob("*.yaml"))
# Broken files whose problem is not one of shape: expressions, references between steps and
# inputs, the graph. JSON Schema cannot see these; only `mastermind validate` can.
SEMANTIC = {
    "bad_expression",
    "c_style_and",
    "cycle",
    "item_outside_for_each",
    "not_upstream",
    "result_outside_outputs",
    "self_need",
    "status_function_in_with",
    "step_field_not_outputs",
    "trigger_undeclared_input",
    "unclosed_expression",
    "undeclared_input",
    "unknown_function",
    "unknown_need",
    "unknown_variable",
}


def workflow_schema() -> dict[str, object]:
    """The committed schema: the built-in agents, no plug-ins."""
    return schema_for(AgentRegistry(load_plugins=False))


def test_committed_schema_is_current() -> None:
    committed = (ROOT / "config" / "workflow.schema.json").read_text()
    assert committed == workflow_schema_text(AgentRegistry(load_plugins=False)), (
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


def check_jsonschema(paths: list[Path]) -> dict[str, bool]:
    """Run check-jsonschema (what editors' users run) on files: file stem → accepted."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--schemafile",
            str(SCHEMA_FILE),
            "--output-format",
            "json",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
    )
    report = json.loads(done.stdout)
    bad = {Path(e["filename"]).stem for e in report["errors"] + report["parse_errors"]}
    return {path.stem: path.stem not in bad for path in paths}


def test_check_jsonschema_agrees_with_validate_on_shape() -> None:
    """Every broken file is rejected by `mastermind validate`; check-jsonschema rejects exactly
    those whose problem is one of shape, and accepts every shipped example."""
    validate = subprocess.run(
        [sys.executable, "-m", "mastermind", "validate", "--format", "json", *map(str, BROKEN)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    rejected = {Path(p["file"]).stem for p in json.loads(validate.stdout)["problems"]}
    assert rejected == {p.stem for p in BROKEN}
    assert rejected >= SEMANTIC
    verdicts = check_jsonschema([*BROKEN, *EXAMPLES])
    wrong = {
        stem: "accepted" if ok else "rejected"
        for stem, ok in verdicts.items()
        if ok != (stem in SEMANTIC or stem in {p.stem for p in EXAMPLES})
    }
    assert not wrong, wrong


def test_with_is_checked_per_agent_and_expressions_fit_anywhere() -> None:
    schema = workflow_schema()

    def check(step: dict[str, object]) -> None:
        jsonschema.validate({"name": "x", "steps": {"s": step}}, schema)

    check({"agent": "sleep", "with": {"duration": "${{ inputs.pause }}"}})
    check({"agent": "http", "with": {"url": "http://x", "expect": ["${{ inputs.code }}"]}})
    wrong: list[dict[str, object]] = [
        {"agent": "nope"},
        {"agent": "noop", "with": {"valeu": 2}},
        {"agent": "sleep", "with": {"duration": 30}},
        {"agent": "wait", "with": {"signal": "go"}},
        {"agent": "shell", "with": {"shell": True, "command": "echo ${{ inputs.x }}"}},
    ]
    for bad in wrong:
        with pytest.raises(jsonschema.ValidationError):
            check(bad)


def test_editors_get_descriptions_and_examples() -> None:
    definitions = workflow_schema()["$defs"]
    assert isinstance(definitions, dict)
    http = definitions["with.http"]
    assert http["examples"] and "description" in http
    assert http["properties"]["timeout"]["description"] == "limit on the request itself"
    agents = definitions["Step"]["properties"]["agent"]["anyOf"]
    assert {"const": "wait"} in [{"const": a["const"]} for a in agents]
    assert all(a.get("description") for a in agents)


def test_plugin_and_function_agents_join_the_schema() -> None:
    import mastermind

    @mastermind.agent("schema_test_resize")
    async def resize(width: int, height: int = 100) -> dict[str, int]:
        """Resize an image."""
        return {"width": width, "height": height}

    schema = schema_for(mastermind.registry())
    branch = schema["$defs"]["with.schema_test_resize"]
    assert set(branch["properties"]) == {"width", "height"}
    assert branch["required"] == ["width"]
    assert "Resize an image." in branch["description"]
