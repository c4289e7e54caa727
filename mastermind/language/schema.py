"""The published JSON Schema of the workflow language (config/workflow.schema.json).

Generated from the pydantic models, with one branch per agent: `agent:` is one of the known
names (plug-ins included when `mastermind schema` runs), and `with:` is checked against that
agent's own parameter model, so editors (yaml-language-server) complete and check parameters.
Wherever a parameter may be computed, a whole `${{ expression }}` is accepted in its place;
parameters an agent wants literal (`literal_fields`) are not.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from mastermind.language.catalog import AgentCatalog
from mastermind.language.model import Workflow

SCHEMA_ID = "https://mastermind.dev/schemas/workflow.schema.json"
EXPRESSION = "Expression"
_EXPRESSION_SCHEMA = {
    "type": "string",
    "pattern": r"^\s*\$\{\{[\s\S]*\}\}\s*$",
    "description": "a ${{ expression }}, evaluated when the step starts",
    "examples": ["${{ inputs.name }}", "${{ steps.fetch.outputs.body }}"],
}


def workflow_schema(catalog: AgentCatalog | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12): the language's shape, and each agent's parameters
    when `catalog` is given (without it, `with:` is any mapping)."""
    schema = Workflow.model_json_schema(by_alias=True, mode="validation")
    _shape_rules(schema)
    if catalog is not None:
        _add_agents(schema, catalog)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def workflow_schema_text(catalog: AgentCatalog | None = None) -> str:
    """The schema as the exact text committed in config/."""
    return json.dumps(workflow_schema(catalog), indent=2, sort_keys=True) + "\n"


_JSON_TYPES = ("string", "integer", "number", "boolean", "array", "object")


def _shape_rules(schema: dict[str, Any]) -> None:
    """What the models' validators check beyond their types, said in JSON Schema too, so an
    editor rejects what `mastermind validate` rejects wherever the problem is one of shape."""
    _closed_keys(schema)
    definitions = schema["$defs"]
    definitions["Step"]["properties"]["needs"]["uniqueItems"] = True
    definitions["Trigger"]["oneOf"] = [
        {"required": ["cron"], "not": {"required": ["webhook"]}},
        {"required": ["webhook"], "not": {"required": ["cron"]}},
    ]
    rules: list[dict[str, Any]] = [
        {  # a required input has no default
            "if": {"properties": {"required": {"const": True}}, "required": ["required"]},
            "then": {"properties": {"default": {"type": "null"}}},
        }
    ]
    for kind in _JSON_TYPES:  # the default has the declared type (string if none is declared)
        declared: dict[str, Any] = {"properties": {"type": {"const": kind}}}
        if kind != "string":
            declared["required"] = ["type"]
        rules.append(
            {"if": declared, "then": {"properties": {"default": {"type": [kind, "null"]}}}}
        )
    definitions["InputSpec"]["allOf"] = rules


def _closed_keys(node: Any) -> None:
    """Mappings whose keys must match a pattern (step ids, input names) take no other keys."""
    if isinstance(node, dict):
        if "patternProperties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _closed_keys(value)
    elif isinstance(node, list):
        for value in node:
            _closed_keys(value)


def _add_agents(schema: dict[str, Any], catalog: AgentCatalog) -> None:
    definitions = schema["$defs"]
    definitions[EXPRESSION] = _EXPRESSION_SCHEMA
    step = definitions["Step"]
    names = catalog.names()
    choices: list[dict[str, Any]] = []
    branches: list[dict[str, Any]] = []
    for name in names:
        agent = catalog.get(name)
        summary = _summary(agent)
        choices.append({"const": name, "description": summary} if summary else {"const": name})
        key = f"with.{name}"
        params = agent.Params.model_json_schema(
            by_alias=True, mode="validation", ref_template=f"#/$defs/{key}.{{model}}"
        )
        for inner, definition in params.pop("$defs", {}).items():
            definitions[f"{key}.{inner}"] = _computable(definition, ())
        params = _computable(params, tuple(agent.literal_fields))
        params["description"] = f"parameters of the `{name}` agent" + (
            f": {summary}" if summary else ""
        )
        examples = list(getattr(agent, "examples", ()))
        if examples:
            params["examples"] = examples
        params.pop("title", None)
        definitions[key] = params
        branches.append(
            {
                "if": {"properties": {"agent": {"const": name}}, "required": ["agent"]},
                "then": {"properties": {"with": {"$ref": f"#/$defs/{key}"}}},
            }
        )
    agent_field = step["properties"]["agent"]
    step["properties"]["agent"] = {
        "description": agent_field.get("description", ""),
        "anyOf": choices,
    }
    step["allOf"] = branches


def _summary(agent: Any) -> str:
    doc = inspect.getdoc(agent) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def _computable(schema: dict[str, Any], literal: tuple[str, ...]) -> dict[str, Any]:
    """`schema` with a whole expression accepted wherever a value may be computed."""
    schema = dict(schema)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        schema["properties"] = {
            key: _literal(value) if key in literal else _or_expression(value)
            for key, value in properties.items()
        }
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            schema[key] = _or_expression(schema[key])
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        if isinstance(schema.get(key), list):
            schema[key] = [_computable(s, ()) if isinstance(s, dict) else s for s in schema[key]]
    return schema


def _literal(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter that must be written out: no `${{` anywhere in it."""
    return {**schema, "not": {"type": "string", "pattern": r"\$\{\{"}}


def _or_expression(schema: dict[str, Any]) -> dict[str, Any]:
    if not schema or (schema.get("type") == "string" and set(schema) <= {"type", "title"}):
        return schema  # any value, or any string: an expression is one already
    inner = _computable(schema, ())
    outer: dict[str, Any] = {
        k: inner.pop(k) for k in ("title", "description", "default") if k in inner
    }
    return {**outer, "anyOf": [inner, {"$ref": f"#/$defs/{EXPRESSION}"}]}
