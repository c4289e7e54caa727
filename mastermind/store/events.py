"""The one typed event stream: every run and step transition.

The store, the metrics, the API and the CLI all consume the same events.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in _RUN_FINAL


class StepStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"  # an at_most_once step was running at a crash: a person decides
    # Not a status: the running attempt started processes (`processes`), committed before they
    # do any work; the step's status stays what it was.
    PROCESS = "process"

    @property
    def finished(self) -> bool:
        return self in _STEP_FINAL


_RUN_FINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})
_STEP_FINAL = frozenset(
    {StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED}
)


@dataclass(slots=True)
class Event:
    """One transition. `step_id` is None for run events; `item_index` is set for fan-out items.
    Treat it as immutable (it is not frozen only because frozen dataclasses are slower to build,
    and one is built for every transition).

    A step event with `item_index` None and a final status closes the whole step (all items).
    """

    run_id: str
    seq: int  # per run, from 1, with no gaps
    at: float  # wall-clock seconds
    status: str  # a RunStatus for run events, a StepStatus for step events
    step_id: str | None = None
    item_index: int | None = None
    attempt: int = 0
    error: str | None = None
    outputs: Any = None
    duration: float | None = None  # seconds the attempt (or run) took, on final events
    delay: float | None = None  # seconds until the next attempt, on retrying events
    processes: list[dict[str, Any]] | None = None  # on process events: what the attempt started
    workflow: str = ""
    agent: str = ""

    @property
    def is_run(self) -> bool:
        return self.step_id is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (API, logs, the store): fields that are set. Shallow, on purpose:
        this runs for every transition, and outputs are plain data already."""
        data: dict[str, Any] = {}
        for name in _FIELDS:
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        return cls(**{key: value for key, value in data.items() if key in _FIELD_SET})


_FIELDS = tuple(f.name for f in fields(Event))
_FIELD_SET = frozenset(_FIELDS)
RUN_FINAL = frozenset(s.value for s in _RUN_FINAL)  # plain strings: cheap membership tests
STEP_FINAL = frozenset(s.value for s in _STEP_FINAL)
