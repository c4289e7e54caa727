"""The store interface: runs, their step instances, and an append-only event log per run.

Every store folds the same events into the same records (`apply_event`), so the in-memory,
SQLite and PostgreSQL stores cannot disagree about what an event means.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from mastermind.errors import MastermindError, OutputRejected
from mastermind.language.expressions import data_problem
from mastermind.store.events import RUN_FINAL, STEP_FINAL, Event, RunStatus, StepStatus


@dataclass(slots=True)
class RunRecord:
    """A run as stored: pinned to the exact definition text it started with."""

    run_id: str
    workflow: str
    digest: str
    definition: str
    file: str
    inputs: dict[str, Any]
    status: str = RunStatus.QUEUED
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    outputs: Any = None
    error: str | None = None
    parent: str | None = None  # idempotency key of the step that started this run, if any
    last_seq: int = 0
    trigger: str | None = None  # what started it: "webhook", "cron:<workflow>:<n>:<fire time>"

    @property
    def finished(self) -> bool:
        return self.status in RUN_FINAL


@dataclass(slots=True)
class StepRecord:
    """One step instance (item_index set for fan-out items) or a whole step (item_index None)."""

    run_id: str
    step_id: str
    item_index: int | None
    status: str = StepStatus.QUEUED
    attempt: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    outputs: Any = None
    error: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    processes: list[dict[str, Any]] = field(default_factory=list)  # the latest attempt's


def apply_event(
    run: RunRecord, steps: dict[tuple[str, int | None], StepRecord], event: Event
) -> None:
    """Fold one event into the run's records (the same rule for every store)."""
    run.last_seq = max(run.last_seq, event.seq)  # stores commit a run's events in seq order
    if event.step_id is None:
        run.status = event.status
        if event.status == RunStatus.RUNNING and run.started_at is None:
            run.started_at = event.at
        if event.status in RUN_FINAL:
            run.finished_at = event.at
            run.outputs = event.outputs
            run.error = event.error
        return
    key = (event.step_id, event.item_index)
    record = steps.get(key)
    if record is None:
        record = steps[key] = StepRecord(event.run_id, event.step_id, event.item_index)
    if event.status == StepStatus.PROCESS:
        record.processes.extend(event.processes or ())
        return
    record.status = event.status
    if event.attempt:
        record.attempt = event.attempt
    if event.status == StepStatus.RUNNING:
        record.processes = []  # a new attempt: the last one's processes ended with it
        record.started_at = record.started_at or event.at
        record.attempts.append({"attempt": event.attempt, "started_at": event.at})
    elif (
        event.status in (StepStatus.RETRYING, StepStatus.FAILED, StepStatus.SUCCEEDED)
        and record.attempts
        and "finished_at" not in record.attempts[-1]
    ):
        record.attempts[-1].update(
            finished_at=event.at,
            status="failed" if event.status == StepStatus.RETRYING else event.status,
            error=event.error,
        )
    if event.status in STEP_FINAL:
        record.finished_at = event.at
        record.outputs = event.outputs
        record.error = event.error


def refuse_lost_numbers(event: Event, encoded: str | bytes) -> None:
    """orjson writes NaN and infinity as null: refuse outputs holding them (OutputRejected, so
    the step fails saying why) rather than store a null nobody wrote. Only encodings that hold
    a null are walked, so the common case costs one substring search."""
    if event.outputs is None:
        return
    holds_null = b"null" in encoded if isinstance(encoded, bytes) else "null" in encoded
    if not holds_null:
        return
    problem = data_problem(event.outputs, "outputs")
    if problem is not None:
        raise OutputRejected(problem)


def fold_texts(texts: list[str]) -> list[StepRecord]:
    """Step records from an event log as `event_log` returns it (CPU work: not on the loop)."""
    return fold_steps([Event.from_dict(json.loads(text)) for text in texts])


def fold_steps(events: list[Event]) -> list[StepRecord]:
    """Step records from a run's event log, in the order steps first appeared."""
    if not events:
        return []
    run = RunRecord(events[0].run_id, "", "", "", "", {})
    steps: dict[tuple[str, int | None], StepRecord] = {}
    for event in events:
        apply_event(run, steps, event)
    return list(steps.values())


class Store(ABC):
    """Everything callers may ask of a store; `append` returns once the event is committed.

    Methods with a body here have a correct default for a store that keeps runs in one process;
    the scale-out store overrides the lease methods (`claim_run`, `adopt`, `release`).
    """

    commits: int = 0  # transactions committed (each may hold many events)
    commit_seconds: float = 0.0  # time spent committing them

    async def open(self) -> None:  # noqa: B027 - an optional hook
        """Connect, migrate, get ready."""

    async def close(self) -> None:  # noqa: B027 - an optional hook
        """Flush and release everything."""

    @abstractmethod
    async def create_run(self, run: RunRecord, *, claim: bool = False) -> None:
        """Record a newly accepted run; `claim`: held by this process from the first moment
        (scale-out stores: nobody else may claim it between creating and claiming)."""

    @abstractmethod
    async def append(self, event: Event) -> None:
        """Commit one transition; the coordinator acts on it only after this returns."""

    @abstractmethod
    async def get_run(self, run_id: str) -> RunRecord | None:
        """One run, or None."""

    @abstractmethod
    async def list_runs(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Runs, newest first."""

    async def run_ids_starting_with(self, prefix: str, limit: int = 2) -> list[str]:
        """Up to `limit` run ids that start with `prefix`, in order (stores with an index on
        run ids override this scan)."""
        found: list[str] = []
        offset = 0
        while True:
            page = await self.list_runs(limit=1000, offset=offset)
            found.extend(r.run_id for r in page if r.run_id.startswith(prefix))
            if len(page) < 1000:
                return sorted(found)[:limit]
            offset += len(page)

    @abstractmethod
    async def steps(self, run_id: str) -> list[StepRecord]:
        """Every step record of a run, in the order they were first seen."""

    @abstractmethod
    async def events(self, run_id: str, after: int = 0, limit: int = 10_000) -> list[Event]:
        """The run's events with seq > after, in order."""

    async def event_log(self, run_id: str) -> list[str]:
        """The run's whole event log as JSON texts, in order, undecoded: a caller with a large
        run decodes and folds it where it can afford to (`fold_texts`, in a thread)."""
        events = await self.events(run_id, limit=10_000_000)
        return [json.dumps(event.to_dict(), default=str) for event in events]

    async def claim_run(self, run_id: str) -> bool:
        """Become the one process running this run (scale-out stores use leases)."""
        return True

    async def adopt(self, run_id: str) -> RunRecord | None:
        """Take over an unfinished run to resume it; None if there is no such run."""
        return await self.get_run(run_id)

    def holds(self, run_id: str) -> bool:
        """Whether this process may still act for the run, as far as it knows without asking
        (scale-out stores: its lease has not run out by the local clock)."""
        return True

    async def owner_of(self, run_id: str) -> str | None:
        """Which process last ran this run (`host:pid`), if the store records it."""
        return None

    async def release(self, run_ids: list[str]) -> None:  # noqa: B027 - nothing to release
        """Give up this process's claim on runs it stops without finishing (drain, shutdown)."""

    @abstractmethod
    async def prune(self, older_than: float) -> int:
        """Delete finished runs (and their events) that ended before `older_than`; the count."""

    async def unfinished_runs(self) -> list[RunRecord]:
        """Runs that have not reached a final status (to resume after a restart)."""
        found: list[RunRecord] = []
        for status in (RunStatus.QUEUED, RunStatus.RUNNING):
            found.extend(await self.list_runs(status=status, limit=1_000_000))
        return found


class AmbiguousRunId(MastermindError):
    """A run id prefix that matches more than one run."""


async def expand_run_id(store: Store, given: str) -> str:
    """The one run whose id is `given` or starts with it (ids are long: a prefix is enough)."""
    if await store.get_run(given) is not None:
        return given
    found = await store.run_ids_starting_with(given, limit=6) if given else []
    if not found:
        raise RunNotInStore(f"no run {given} in the store")
    if len(found) > 1:
        shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
        raise AmbiguousRunId(f"run id prefix {given!r} is ambiguous: {shown}")
    return found[0]


class RunNotInStore(MastermindError):
    """No run has that id (or id prefix)."""
