"""The HTTP API's request and response bodies, as pydantic models.

The handlers validate what comes in with these models, and the OpenAPI document
(service/openapi.py) is generated from them, so the document and the server cannot drift.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mastermind.errors import MastermindError

M = TypeVar("M", bound=BaseModel)


class Body(BaseModel):
    """Request bodies: unknown fields are errors, as everywhere else."""

    model_config = ConfigDict(extra="forbid")


class SubmitRun(Body):
    """POST /api/v1/runs."""

    workflow: str = Field(min_length=1, description="the name of a workflow the daemon serves")
    inputs: dict[str, Any] = Field(default_factory=dict, description="the run's inputs")


class Signal(Body):
    """POST /api/v1/runs/{run_id}/signals/{name}: an empty body sends a null payload."""

    payload: Any = Field(None, description="any JSON value; the waiting step's `payload` output")


class ValidateText(Body):
    """POST /api/v1/workflows/validate as JSON (or send the YAML itself as text/yaml)."""

    text: str = Field(description="the workflow's YAML text")


class Hook(BaseModel):
    """POST /api/v1/hooks/{workflow}: other fields of the sender's payload are ignored."""

    model_config = ConfigDict(extra="ignore")

    inputs: dict[str, Any] = Field(
        default_factory=dict, description="inputs, over the trigger's own"
    )


class Error(BaseModel):
    """Every error response."""

    error: str
    status: int


class Accepted(BaseModel):
    """A run was accepted (`duplicate`: a webhook delivery already taken; its run)."""

    run_id: str
    status: Literal["queued", "duplicate"] = "queued"


class Cancelling(BaseModel):
    run_id: str
    status: Literal["cancelling"] = "cancelling"


class SignalSent(BaseModel):
    run_id: str
    signal: str


class Run(BaseModel):
    """A run as stored (its definition text left out)."""

    model_config = ConfigDict(extra="allow")

    run_id: str
    workflow: str
    status: str
    inputs: dict[str, Any]
    outputs: Any = None
    error: str | None = None
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    parent: str | None = None


class Step(BaseModel):
    """One step instance's record."""

    model_config = ConfigDict(extra="allow")

    step_id: str
    item_index: int | None = None
    status: str
    attempt: int
    error: str | None = None
    outputs: Any = None


class RunDetail(BaseModel):
    run: Run
    steps: list[Step]


class RunList(BaseModel):
    runs: list[Run]
    next_offset: int | None = Field(description="pass as offset for the next page; null: done")


class Problem(BaseModel):
    file: str
    line: int
    column: int
    field: str
    message: str


class WorkflowInfo(BaseModel):
    name: str
    file: str
    digest: str
    steps: int
    description: str


class WorkflowList(BaseModel):
    workflows: list[WorkflowInfo]
    broken: list[Problem] = Field(description="files that failed to load (last good serves)")


class Validation(BaseModel):
    valid: bool
    name: str | None = None
    steps: int | None = None
    problems: list[Problem] = Field(default_factory=list)


class Health(BaseModel):
    status: str
    version: str | None = None


REQUESTS: tuple[type[BaseModel], ...] = (SubmitRun, Signal, ValidateText, Hook)
RESPONSES: tuple[type[BaseModel], ...] = (
    Error,
    Accepted,
    Cancelling,
    SignalSent,
    RunDetail,
    RunList,
    WorkflowList,
    Validation,
    Health,
)


class BodyError(MastermindError):
    """A request body that does not fit its model: answered with 422 and what is wrong."""


def parse(model: type[M], data: dict[str, Any]) -> M:
    """`data` (a JSON object) as `model`; BodyError naming each wrong field otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise BodyError(reasons) from None


def respond(body: BaseModel, status: int = 200) -> web.Response:
    """A JSON response from a response model."""
    return web.json_response(body.model_dump(mode="json"), status=status)
