"""The OpenAPI 3.1 document of the HTTP API (served at /api/v1/openapi.json)."""

from __future__ import annotations

from typing import Any

from mastermind import __version__

_ERROR = {
    "description": "an error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema or {"type": "object"}}},
    }


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
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "status"],
                    "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
                },
                "Submit": {
                    "type": "object",
                    "required": ["workflow"],
                    "additionalProperties": False,
                    "properties": {
                        "workflow": {"type": "string", "minLength": 1},
                        "inputs": {"type": "object"},
                    },
                },
                "Signal": {"type": "object", "properties": {"payload": {}}},
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/runs": {
                "post": {
                    "summary": "Submit a run",
                    "operationId": "submitRun",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Submit"}}
                        },
                    },
                    "responses": {"201": _json("accepted"), **errors},
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
                    "responses": {"200": _json("runs, newest first"), **errors},
                },
            },
            "/api/v1/runs/{run_id}": {
                "get": {
                    "summary": "A run with its steps",
                    "operationId": "getRun",
                    "parameters": [run_id],
                    "responses": {"200": _json("the run"), **errors},
                },
            },
            "/api/v1/runs/{run_id}/cancel": {
                "post": {
                    "summary": "Cancel a run",
                    "operationId": "cancelRun",
                    "parameters": [run_id],
                    "responses": {"202": _json("cancelling"), **errors},
                },
            },
            "/api/v1/runs/{run_id}/signals/{name}": {
                "post": {
                    "summary": "Send a signal to a run",
                    "operationId": "signalRun",
                    "parameters": [run_id, _path_param("name")],
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Signal"}}
                        },
                    },
                    "responses": {"202": _json("delivered"), **errors},
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
                    "responses": {"200": _json("workflows"), **errors},
                },
            },
            "/api/v1/workflows/validate": {
                "post": {
                    "summary": "Validate a workflow (YAML text)",
                    "operationId": "validateWorkflow",
                    "requestBody": {
                        "required": True,
                        "content": {"text/yaml": {"schema": {"type": "string"}}},
                    },
                    "responses": {"200": _json("valid"), **errors},
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
                    "requestBody": {
                        "required": False,
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "responses": {
                        "201": _json("accepted"),
                        "200": _json("a delivery already taken: the run it started"),
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
                    "responses": {"200": _json("OpenAPI"), **errors},
                },
            },
            "/healthz": {
                "get": {
                    "summary": "Alive",
                    "operationId": "healthz",
                    "security": open_security,
                    "responses": {"200": _json("alive")},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Ready to serve",
                    "operationId": "readyz",
                    "security": open_security,
                    "responses": {"200": _json("ready"), "503": _ERROR},
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
