"""The one error hierarchy: every error mastermind reports to a user is a MastermindError."""

from __future__ import annotations

from dataclasses import dataclass


class MastermindError(Exception):
    """Base of every error mastermind raises on purpose; its str() is fit for a user."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One precise complaint about a workflow file: where it is, which field, and what is wrong."""

    file: str
    line: int  # 1-based; 0 when the position is unknown
    column: int  # 1-based; 0 when the position is unknown
    field: str  # dotted path such as "steps.fetch.retry.attempts"; "" for the whole document
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        field = f"{self.field}: " if self.field else ""
        return f"{where}: error: {field}{self.message}"

    def as_dict(self) -> dict[str, str | int]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "message": self.message,
        }


class WorkflowError(MastermindError):
    """A workflow could not be loaded; carries every problem found, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column))
        super().__init__("\n".join(str(p) for p in self.problems))

    @property
    def first(self) -> Problem:
        return self.problems[0]


class ExpressionError(MastermindError):
    """An expression failed to parse or evaluate."""

    def __init__(self, message: str, source: str = "", offset: int | None = None) -> None:
        self.message = message
        self.source = source
        self.offset = offset
        self.path: tuple[str | int, ...] = ()  # where inside a value the bad expression sits
        super().__init__(message)


class UnknownAgentError(MastermindError):
    """A step names an agent that no built-in or installed plug-in provides."""


class InputError(MastermindError):
    """Run inputs do not match the workflow's declared inputs."""


class StepError(MastermindError):
    """Raised by an agent when a step fails; `retryable`: may another attempt succeed?"""

    retryable: bool = False

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable


class RetryableStepError(StepError):
    """A transient failure (a 503, a lost worker, a dropped connection): worth another attempt."""

    retryable = True


class OutputRejected(MastermindError):
    """The store refuses a step's outputs (larger than max_output_bytes, or not JSON data)."""


class RunNotFound(MastermindError):
    """No run with that id is active in this process (or none is stored at all)."""


class RunExists(MastermindError):
    """A run with this id is already stored: a replayed webhook delivery, a cron fire another
    daemon started. The store's uniqueness of run ids is what deduplicates them."""


class StaleLease(MastermindError):
    """This daemon no longer owns the run: its lease expired and another daemon claimed it."""


class StoreUnavailable(MastermindError):
    """The store refused a write (disk full, database gone, writer stopped): nothing was
    committed. The API answers 503 with Retry-After and /readyz reports it."""


class StoreFailure(MastermindError):
    """The store could not commit a run's transition: the run stops and fails with this reason
    (or, if even that cannot be recorded, its waiter gets this error)."""


class EventOutOfOrder(MastermindError):
    """The store refused an event whose number does not directly follow the run's last
    committed one (`last_seq`): a run's event log is gapless and never rewritten, so an event
    after a refused one is refused too, and no crash can leave a hole."""

    def __init__(self, run_id: str, seq: int, last_seq: int) -> None:
        super().__init__(
            f"event {seq} of run {run_id} does not follow the last committed one ({last_seq})"
        )
        self.run_id, self.seq, self.last_seq = run_id, seq, last_seq


class InvalidInputData(InputError):
    """An input holds a number no store keeps (not finite, or an integer beyond 64 bits)."""
