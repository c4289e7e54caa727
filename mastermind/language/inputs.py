"""Run inputs: check what a run was given against what the workflow declares."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mastermind.errors import InputError, InvalidInputData
from mastermind.language.expressions import data_problem
from mastermind.language.model import Workflow, matches_type


def resolve_inputs(spec: Workflow, given: Mapping[str, Any]) -> dict[str, Any]:
    """Declared inputs with defaults filled in; InputError listing every mismatch."""
    problems: list[str] = []
    for name, value in given.items():
        problem = data_problem(value, name)
        if problem is not None:
            problems.append(f"input {name!r}: {problem}")
    if problems:  # no store keeps these numbers: refused before anything else is checked
        raise InvalidInputData("; ".join(problems))
    for name in given:
        if name not in spec.inputs:
            names = ", ".join(sorted(spec.inputs)) or "none"
            problems.append(f"unknown input {name!r} (declared inputs: {names})")
    resolved: dict[str, Any] = {}
    for name, declared in spec.inputs.items():
        if name in given:
            value = given[name]
            if not matches_type(value, declared.type):
                problems.append(f"input {name!r} must be of type {declared.type}, got {value!r}")
            resolved[name] = value
        elif declared.required:
            problems.append(f"input {name!r} is required")
        else:
            resolved[name] = declared.default
    if problems:
        raise InputError("; ".join(problems))
    return resolved


def parse_cli_input(spec: Workflow, assignment: str) -> tuple[str, Any]:
    """`key=value` from the command line; the value is read as JSON unless the input is a string."""
    name, sep, text = assignment.partition("=")
    if not sep or not name:
        raise InputError(f"expected key=value, found {assignment!r}")
    declared = spec.inputs.get(name)
    if declared is None or declared.type == "string":
        return name, text
    try:
        return name, json.loads(text)
    except RecursionError:  # json's C scanner recurses: deeper than the stores keep anyway
        raise InvalidInputData(f"input {name!r}: nested too deeply to read") from None
    except ValueError:
        raise InputError(
            f"input {name!r} is of type {declared.type}; {text!r} is not JSON"
        ) from None
