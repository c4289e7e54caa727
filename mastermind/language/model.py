"""The workflow language as pydantic models: what the YAML may say, field by field.

These models check shape and types only; references between steps, expressions and agents are
checked by the loader, which knows the whole document. Field descriptions become the published
JSON Schema, so editors show them as hover help.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from mastermind.errors import ExpressionError
from mastermind.language.durations import DURATION_PATTERN, parse_duration
from mastermind.language.expressions import data_problem
from mastermind.language.templates import OPEN, split


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a duration such as 500ms, 30s, 5m or 1h30m, found {value!r}")
    raise ValueError(f"expected a duration with a unit, such as {value}s or {value}ms")


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("expected a duration greater than zero")
    return value


Duration = Annotated[
    float,
    BeforeValidator(_duration),
    AfterValidator(_positive),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "a duration: 500ms, 30s, 5m, 1h30m, 1d",
        }
    ),
]
IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN, max_length=128)]
NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=128)]
InputType = Literal["string", "integer", "number", "boolean", "array", "object"]
Effect = Literal["idempotent", "at_least_once", "at_most_once"]
FailurePolicy = Literal["fail_fast", "continue"]


# Default factories written in Python: pydantic inspects a factory's signature, and for a builtin
# such as `list` that means parsing its text signature with `tokenize`, whose regular expressions
# take ~13 M instructions (~3 ms) to compile on the first call, in every `mastermind run`.
def empty_list() -> list[Any]:
    """A new empty list (a field's default)."""
    return []


def empty_dict() -> dict[Any, Any]:
    """A new empty dict (a field's default)."""
    return {}


class Strict(BaseModel):
    """Base of every model of the language: unknown fields are errors.

    Built on first use, not at import (`defer_build`): loading validates `Workflow`, which builds
    the models it nests inline; their own validators, and this base's, are never needed.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, defer_build=True)


class InputSpec(Strict):
    """One declared input of a workflow."""

    type: InputType = Field("string", description="the JSON type the value must have")
    default: Any = Field(None, description="value used when the run does not supply one")
    required: bool = Field(False, description="the run must supply a value")
    description: str = ""

    @field_validator("default")
    @classmethod
    def _default_matches(cls, default: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("type")
        if default is not None and kind is not None and not matches_type(default, kind):
            raise ValueError(f"default {default!r} is not of type {kind}")
        problem = data_problem(default, "default")
        if problem is not None:
            raise ValueError(problem)
        return default

    @field_validator("required")
    @classmethod
    def _required_has_no_default(cls, required: bool, info: ValidationInfo) -> bool:
        if required and info.data.get("default") is not None:
            raise ValueError("a required input cannot also have a default")
        return required


def matches_type(value: Any, kind: str) -> bool:
    """Does a JSON value have the declared input type?"""
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    return isinstance(value, dict)


class RetryPolicy(Strict):
    """How often and how patiently a failed attempt is tried again (retryable errors only)."""

    attempts: int = Field(3, ge=1, le=1000, description="total attempts, including the first")
    backoff: Literal["exponential", "linear", "constant"] = "exponential"
    initial: Duration = Field(1.0, description="delay before the first retry")
    max: Duration = Field(60.0, description="the longest delay between attempts")
    jitter: bool = Field(True, description="full jitter: a random delay up to the computed one")

    @model_validator(mode="after")
    def _max_not_below_initial(self) -> RetryPolicy:
        if self.max < self.initial:
            raise ValueError("max must not be shorter than initial")
        return self


class Webhook(Strict):
    """Run the workflow when a signed POST reaches /api/v1/hooks/{workflow}."""

    secret: Identifier = Field(description="name of the secret holding the HMAC key")


_CRON_FIELD = r"[0-9A-Za-z*/,\-?LW#]+"
CRON_PATTERN = rf"^\s*{_CRON_FIELD}(\s+{_CRON_FIELD}){{4,5}}\s*$"


class Trigger(Strict):
    """What starts a run besides a person: a cron schedule or a webhook (one per trigger)."""

    cron: Annotated[str, StringConstraints(pattern=CRON_PATTERN)] | None = Field(
        None, description="five-field cron schedule, e.g. */5 * * * *"
    )
    webhook: Webhook | None = None
    inputs: dict[str, Any] = Field(
        default_factory=empty_dict, description="inputs for triggered runs"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Trigger:
        if (self.cron is None) == (self.webhook is None):
            raise ValueError("a trigger has exactly one of cron or webhook")
        return self


def _if_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    raise ValueError(f"expected a boolean or an expression, found {value!r}")


def _for_each_value(value: Any) -> Any:
    if value is None or isinstance(value, list):
        return value
    if isinstance(value, str) and OPEN in value:
        try:
            pieces = split(value) if value.count(OPEN) == 1 else []
        except ExpressionError as exc:
            raise ValueError(f"bad expression: {exc.message}") from None
        if len(pieces) == 3 and not pieces[0].strip() and not pieces[2].strip():
            return value
    raise ValueError(f"expected a list or one ${{{{ expression }}}}, found {value!r}")


class Step(Strict):
    """One unit of work: an agent called with parameters, once or once per item."""

    agent: Name = Field(description="which agent runs the step (http, shell, python, cpu, ...)")
    description: str = ""
    needs: list[Identifier] = Field(
        default_factory=empty_list, description="steps that must finish before this one starts"
    )
    if_: Annotated[str | bool | None, BeforeValidator(_if_value)] = Field(
        None, alias="if", description="run only when this is true; skipped otherwise"
    )
    for_each: Annotated[list[Any] | str | None, BeforeValidator(_for_each_value)] = Field(
        None, description="fan out: one instance per item, with `item` and `index` bound"
    )
    with_: dict[str, Any] = Field(
        default_factory=empty_dict, alias="with", description="the agent's parameters"
    )
    retry: RetryPolicy | None = Field(None, description="overrides the workflow's retry policy")
    timeout: Duration | None = Field(None, description="limit on each attempt")
    pool: Name | None = Field(None, description="named concurrency pool shared by all runs")
    outputs: dict[Identifier, Any] = Field(
        default_factory=empty_dict,
        description="named outputs computed from the agent's `result`; default: the result",
    )
    effect: Effect = Field(
        "at_least_once",
        description="what may happen after a crash: idempotent and at_least_once steps run "
        "again; an at_most_once step that was running is marked unknown for a person to decide",
    )

    @field_validator("needs")
    @classmethod
    def _no_repeats(cls, needs: list[str]) -> list[str]:
        seen: set[str] = set()
        for name in needs:
            if name in seen:
                raise ValueError(f"{name!r} is listed more than once")
            seen.add(name)
        return needs


class Workflow(Strict):
    """A workflow: named inputs, a DAG of steps, outputs, and what triggers it."""

    model_config = ConfigDict(
        title="mastermind workflow",
        json_schema_extra={"$comment": "Generated by `mastermind schema`; do not edit."},
    )

    name: Name = Field(description="unique name of the workflow")
    description: str = ""
    inputs: dict[Identifier, InputSpec] = Field(default_factory=empty_dict)
    concurrency: int | None = Field(
        None, ge=1, le=100_000, description="most steps of one run in flight at once"
    )
    timeout: Duration | None = Field(None, description="limit on the whole run")
    retry: RetryPolicy | None = Field(None, description="default retry policy of every step")
    on_failure: FailurePolicy = Field(
        "fail_fast",
        description="fail_fast: a failed step cancels the run; continue: independent branches "
        "still finish",
    )
    outputs: dict[Identifier, Any] = Field(
        default_factory=empty_dict, description="values computed when the run ends"
    )
    triggers: list[Trigger] = Field(default_factory=empty_list)
    steps: dict[Identifier, Step] = Field(min_length=1, description="the steps, by id")
