"""The published JSON Schema of the workflow language (config/workflow.schema.json)."""

from __future__ import annotations

import json
from typing import Any

from mastermind.language.model import Workflow

SCHEMA_ID = "https://mastermind.dev/schemas/workflow.schema.json"


def workflow_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) generated from the pydantic models."""
    schema = Workflow.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def workflow_schema_text() -> str:
    """The schema as the exact text committed in config/."""
    return json.dumps(workflow_schema(), indent=2, sort_keys=True) + "\n"
