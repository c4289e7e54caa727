"""The API's bodies are the pydantic models the OpenAPI document is generated from: requests
are validated with them, and real responses fit the document."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mastermind.service.openapi import document
from tests.daemon_harness import ROOT, RunningDaemon, daemon

DOCUMENT = document()


def check_response(path: str, method: str, status: int, body: Any) -> None:
    """`body` fits what the document promises for that operation and status."""
    operation = DOCUMENT["paths"][path][method]
    schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    jsonschema.validate(body, {**schema, "components": DOCUMENT["components"]})


@pytest.fixture
def served(tmp_path: Path) -> Any:
    folder = tmp_path / "workflows"
    folder.mkdir()
    shutil.copy(ROOT / "workflows" / "hello.yaml", folder)
    shutil.copy(ROOT / "workflows" / "approval.yaml", folder)
    with daemon(tmp_path, folder) as d:
        yield d


def test_responses_fit_the_document(served: RunningDaemon) -> None:
    d = served
    status, accepted = d.call("POST", "/api/v1/runs", {"workflow": "hello"})
    check_response("/api/v1/runs", "post", status, accepted)
    status, listed = d.call("GET", "/api/v1/runs")
    check_response("/api/v1/runs", "get", status, listed)
    status, detail = d.call("GET", f"/api/v1/runs/{accepted['run_id']}")
    check_response("/api/v1/runs/{run_id}", "get", status, detail)
    status, workflows = d.call("GET", "/api/v1/workflows")
    check_response("/api/v1/workflows", "get", status, workflows)
    status, valid = d.call("POST", "/api/v1/workflows/validate", {"text": "name: x\nsteps: {}\n"})
    assert status == 400 and not valid["valid"]  # the JSON body is documented and read
    check_response("/api/v1/workflows/validate", "post", status, valid)
    text = (ROOT / "workflows" / "hello.yaml").read_text()
    status, valid = d.call("POST", "/api/v1/workflows/validate", {"text": text})
    check_response("/api/v1/workflows/validate", "post", status, valid)
    assert valid == {"valid": True, "name": "hello", "steps": 2}
    status, missing = d.call("GET", "/api/v1/runs/nope")
    check_response("/api/v1/runs/{run_id}", "get", status, missing)
    status, health = d.call("GET", "/healthz", token=None)
    check_response("/healthz", "get", status, health)


def test_request_bodies_are_validated(served: RunningDaemon) -> None:
    d = served
    status, error = d.call("POST", "/api/v1/runs", {"workflow": "hello", "inptus": {}})
    assert status == 422 and "inptus" in error["error"]
    status, error = d.call("POST", "/api/v1/runs", {"inputs": {}})
    assert status == 422 and "workflow" in error["error"]
    status, error = d.call("POST", "/api/v1/workflows/validate", {"txt": "name: x"})
    assert status == 422 and "txt" in error["error"]
    status, accepted = d.call(
        "POST", "/api/v1/runs", {"workflow": "approval", "inputs": {"change": "x"}}
    )
    assert status == 201
    signals = f"/api/v1/runs/{accepted['run_id']}/signals/approve"
    status, error = d.call("POST", signals, {"by": "curl"})  # the payload must be wrapped
    assert status == 422 and "by" in error["error"], error
    status, sent = d.call("POST", signals, {"payload": {"by": "curl"}})
    assert status == 202, sent
    check_response("/api/v1/runs/{run_id}/signals/{name}", "post", status, sent)
