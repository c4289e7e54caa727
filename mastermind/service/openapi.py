"""The OpenAPI 3.1 document of the HTTP API (served at /api/v1/openapi.json).

Request and response bodies are the pydantic models of service/bodies.py, which the handlers
validate with: the document is generated from them and cannot drift from the server.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from mastermind import __version__
from mastermind.service.bodies import (
    REQUESTS,
    RESPONSES,
    Accepted,
    Cancelling,
    Health,
    Hook,
    RunDetail,
    RunList,
    Signal,
    SignalSent,
    SubmitRun,
    ValidateText,
    Validation,
    WorkflowList,
)

_ERROR = {
    "description": "an error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(description: str, model: type[BaseModel] | None = None) -> dict[str, Any]:
    """A JSON response; without a model (the inspector's), any object."""
    schema = _ref(model) if model is not None else {"type": "object"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _request(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": _ref(model)}}}


def schemas() -> dict[str, Any]:
    """The JSON Schemas of every body, as OpenAPI components."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (model, "validation") for model in (*REQUESTS, *RESPONSES)
    ]
    _, top = models_json_schema(models, ref_template="#/components/schemas/{model}")
    found: dict[str, Any] = top.get("$defs", {})
    return found


def _path_param(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "maxLength": 200},
    }


def document() -> dict[str, Any]:
    """The document; a test checks it lists exactly the routes the app serves."""
    run_id = _path_param("run_id")
    errors = {
        "400": _ERROR,
        "401": _ERROR,
        "404": _ERROR,
        "409": _ERROR,
        "413": _ERROR,
        "422": _ERROR,
    }
    open_security: list[dict[str, Any]] = []
    return {
        "openapi": "3.1.0",
        "info": {"title": "mastermind", "version": __version__},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas(),
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/runs": {
                "post": {
                    "summary": "Submit a run",
                    "operationId": "submitRun",
                    "requestBody": _request(SubmitRun),
                    "responses": {"201": _json("accepted", Accepted), **errors},
                },
                "get": {
                    "summary": "List runs",
                    "operationId": "listRuns",
                    "parameters": [
                        {"name": "status", "in": "query", "schema": {"type": "string"}},
                        {"name": "workflow", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                        },
                        {
                            "name": "offset",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0, "maximum": 1000000000},
                        },
                    ],
                    "responses": {"200": _json("runs, newest first", RunList), **errors},
                },
            },
            "/api/v1/runs/{run_id}": {
                "get": {
                    "summary": "A run with its steps (any unique prefix of its id)",
                    "operationId": "getRun",
                    "parameters": [run_id],
                    "responses": {"200": _json("the run", RunDetail), **errors},
                },
            },
            "/api/v1/runs/{run_id}/cancel": {
                "post": {
                    "summary": "Cancel a run",
                    "operationId": "cancelRun",
                    "parameters": [run_id],
                    "responses": {"202": _json("cancelling", Cancelling), **errors},
                },
            },
            "/api/v1/runs/{run_id}/signals/{name}": {
                "post": {
                    "summary": "Send a signal to a run",
                    "operationId": "signalRun",
                    "parameters": [run_id, _path_param("name")],
                    "requestBody": _request(Signal, required=False),
                    "responses": {"202": _json("delivered", SignalSent), **errors},
                },
            },
            "/api/v1/runs/{run_id}/events": {
                "get": {
                    "summary": "The run's events as Server-Sent Events, live",
                    "operationId": "runEvents",
                    "parameters": [run_id],
                    "responses": {
                        "200": {
                            "description": "an event stream",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}},
                        },
                        **errors,
                    },
                },
            },
            "/api/v1/workflows": {
                "get": {
                    "summary": "Workflows served, and files that failed to load",
                    "operationId": "listWorkflows",
                    "responses": {"200": _json("workflows", WorkflowList), **errors},
                },
            },
            "/api/v1/workflows/validate": {
                "post": {
                    "summary": 'Validate a workflow: its YAML text, or {"text": ...} as JSON',
                    "operationId": "validateWorkflow",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "text/yaml": {"schema": {"type": "string"}},
                            "application/json": {"schema": _ref(ValidateText)},
                        },
                    },
                    "responses": {
                        "200": _json("valid", Validation),
                        "400": _json("invalid: the problems", Validation),
                        **{code: e for code, e in errors.items() if code != "400"},
                    },
                },
            },
            "/api/v1/hooks/{workflow}": {
                "post": {
                    "summary": "Webhook: start a run (HMAC-SHA256 signature, no bearer token)",
                    "operationId": "webhook",
                    "security": open_security,
                    "parameters": [
                        _path_param("workflow"),
                        *(
                            {"name": name, "in": "header", "required": True, "schema": schema}
                            for name, schema in (
                                ("X-Mastermind-Signature", {"type": "string"}),
                                ("X-Mastermind-Timestamp", {"type": "string"}),
                                ("X-Mastermind-Delivery", {"type": "string"}),
                            )
                        ),
                    ],
                    "requestBody": _request(Hook, required=False),
                    "responses": {
                        "201": _json("accepted", Accepted),
                        "200": _json("a delivery already taken: the run it started", Accepted),
                        **errors,
                    },
                },
            },
            "/api/v1/debug/tasks": {
                "get": {
                    "summary": "Every step task in flight: its coroutine stack, what it awaits; "
                    "the event loop's recent blocked episodes",
                    "operationId": "debugTasks",
                    "parameters": [
                        {
                            "name": "run_id",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 10000},
                        },
                    ],
                    "responses": {"200": _json("steps in flight"), **errors},
                },
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "responses": {
                        "200": {
                            "description": "OpenAPI",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **errors,
                    },
                },
            },
            "/healthz": {
                "get": {
                    "summary": "Alive",
                    "operationId": "healthz",
                    "security": open_security,
                    "responses": {"200": _json("alive", Health)},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Ready to serve",
                    "operationId": "readyz",
                    "security": open_security,
                    "responses": {"200": _json("ready", Health), "503": _ERROR},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "operationId": "metrics",
                    "security": open_security,
                    "responses": {
                        "200": {
                            "description": "metrics",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        },
    }
