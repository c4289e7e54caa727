"""The in-memory store: everything the interface promises except surviving the process."""

from __future__ import annotations

from dataclasses import replace

from mastermind.errors import EventOutOfOrder, RunExists
from mastermind.store.base import RunRecord, StepRecord, Store, apply_event
from mastermind.store.events import Event


class MemoryStore(Store):
    """Dicts and lists; for tests, benchmarks, and runs nobody needs to resume."""

    def __init__(self) -> None:
        self._runs: dict[str, RunRecord] = {}
        self._steps: dict[str, dict[tuple[str, int | None], StepRecord]] = {}
        self._events: dict[str, list[Event]] = {}

    async def create_run(self, run: RunRecord, *, claim: bool = False) -> None:
        if run.run_id in self._runs:
            raise RunExists(f"run {run.run_id} already exists")
        self._runs[run.run_id] = replace(run)
        self._steps[run.run_id] = {}
        self._events[run.run_id] = []

    async def append(self, event: Event) -> None:
        run = self._runs[event.run_id]
        log = self._events[event.run_id]
        last = log[-1].seq if log else 0
        if event.seq != last + 1:  # gapless, never rewritten (as the durable stores)
            raise EventOutOfOrder(event.run_id, event.seq, last)
        log.append(event)
        apply_event(run, self._steps[event.run_id], event)

    async def get_run(self, run_id: str) -> RunRecord | None:
        run = self._runs.get(run_id)
        return replace(run) if run is not None else None

    async def list_runs(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RunRecord]:
        runs = [
            replace(run)
            for run in reversed(self._runs.values())
            if (status is None or run.status == status)
            and (workflow is None or run.workflow == workflow)
        ]
        return runs[offset : offset + limit]

    async def steps(self, run_id: str) -> list[StepRecord]:
        return [replace(step) for step in self._steps.get(run_id, {}).values()]

    async def events(self, run_id: str, after: int = 0, limit: int = 10_000) -> list[Event]:
        found = [event for event in self._events.get(run_id, []) if event.seq > after]
        return found[:limit]

    async def prune(self, older_than: float) -> int:
        ids = [
            run_id
            for run_id, run in self._runs.items()
            if run.finished and run.finished_at is not None and run.finished_at < older_than
        ]
        for run_id in ids:
            del self._runs[run_id], self._steps[run_id], self._events[run_id]
        return len(ids)
