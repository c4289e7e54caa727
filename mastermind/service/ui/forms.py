"""The "run with inputs" form, generated from a workflow's declared inputs, and its parsing.

Each declared type gets the control a person expects: text, a number field, a true/false
choice, or JSON for arrays and objects. An empty field means "not given" (the default applies);
the coordinator still checks the result against the declaration, as it does for the API.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mastermind.language.model import Workflow


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    type: str
    widget: str  # text | number | boolean | json
    required: bool
    description: str
    default: str  # the default, as the field shows it ("" when none)
    value: str  # what the field holds now
    step: str = ""  # number fields: "1" for integers, "any" otherwise
    error: str | None = None


def _as_text(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "string":
        return str(value)
    if kind == "boolean":
        return "true" if value else "false"
    return json.dumps(value, indent=2 if kind in ("array", "object") else None)


def form_fields(
    spec: Workflow,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> list[FormField]:
    """One field per declared input; `values` refills a form sent back with errors."""
    fields = []
    for name, declared in spec.inputs.items():
        kind = declared.type
        widget = {"integer": "number", "number": "number", "boolean": "boolean"}.get(kind)
        widget = widget or ("json" if kind in ("array", "object") else "text")
        default = _as_text(declared.default, kind)
        value = values.get(name, default) if values is not None else default
        fields.append(
            FormField(
                name,
                kind,
                widget,
                declared.required,
                declared.description,
                default,
                value,
                "1" if kind == "integer" else "any",
                (errors or {}).get(name),
            )
        )
    return fields


def parse_inputs(spec: Workflow, form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The inputs a submitted form gives, and a message per field it could not read."""
    inputs: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, declared in spec.inputs.items():
        raw = form.get(name, "")
        kind = declared.type
        if raw.strip() == "" and kind != "string":
            continue
        if raw == "" and kind == "string":
            continue
        try:
            if kind == "string":
                inputs[name] = raw
            elif kind == "integer":
                inputs[name] = int(raw)
            elif kind == "number":
                number = float(raw)
                inputs[name] = int(number) if number.is_integer() and "." not in raw else number
            elif kind == "boolean":
                if raw not in ("true", "false"):
                    raise ValueError
                inputs[name] = raw == "true"
            else:
                value = json.loads(raw)
                expected = list if kind == "array" else dict
                if not isinstance(value, expected):
                    errors[name] = f"expected a JSON {kind}"
                    continue
                inputs[name] = value
        except ValueError:
            errors[name] = {
                "integer": "expected a whole number",
                "number": "expected a number",
                "boolean": "choose true or false",
            }.get(kind, f"expected a JSON {kind}")
    return inputs, errors
