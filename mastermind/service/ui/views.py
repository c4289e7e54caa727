"""What the dashboard shows, computed from store records and a run's pinned definition.

Plain functions from records to small view objects; the templates only lay them out. Large
things are bounded here (instances per step, characters per value) so a 10,000-item fan-out
renders a readable page in bounded time.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from mastermind.errors import MastermindError
from mastermind.language.loader import Definition
from mastermind.service.ui.layout import Attempt, format_seconds
from mastermind.store.base import RunRecord, StepRecord
from mastermind.store.events import RUN_FINAL, STEP_FINAL

MAX_INSTANCES = 60  # fan-out instances detailed per step (the counts cover all of them)
MAX_TIMELINE_ROWS = 120
MAX_CHARS = 20_000  # of one value shown on a page; the API has all of it
SECRET = "[secret]"


# ------------------------------------------------------------------------------ formatting


def when(moment: float | None) -> str:
    """A wall-clock time for people (UTC)."""
    if moment is None:
        return "—"
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S")


def iso(moment: float | None) -> str:
    return "" if moment is None else datetime.fromtimestamp(moment, UTC).isoformat()


def duration(start: float | None, end: float | None, now: float | None = None) -> str:
    if start is None:
        return "—"
    stop = end if end is not None else (time.time() if now is None else now)
    return format_seconds(max(stop - start, 0.0))


def show(value: Any) -> str:
    """A value as indented JSON (strings as they are), cut at MAX_CHARS."""
    text = value if isinstance(value, str) else json.dumps(value, indent=2, default=str)
    if len(text) > MAX_CHARS:
        return text[:MAX_CHARS] + f"\n… ({len(text) - MAX_CHARS} more characters; see the API)"
    return text


def trigger(run: RunRecord) -> tuple[str, str | None]:
    """How a run started (manual, webhook, cron, sub-run), and the parent run of a sub-run."""
    if run.parent is not None:  # the idempotency key of the step that started it
        return "sub-run", run.parent.split("/", 1)[0]
    started_by = run.trigger or ""
    if started_by == "webhook":
        return "webhook", None
    if started_by.startswith("cron:"):
        return "cron", None
    return "manual", None


# ------------------------------------------------------------------------------ runs table


@dataclass(frozen=True, slots=True)
class RunRow:
    run_id: str
    workflow: str
    status: str
    trigger: str
    parent_run: str | None
    started: str
    started_iso: str
    duration: str


def run_rows(runs: Iterable[RunRecord], now: float | None = None) -> list[RunRow]:
    rows = []
    for run in runs:
        label, parent = trigger(run)
        start = run.started_at if run.started_at is not None else run.created_at
        rows.append(
            RunRow(
                run.run_id,
                run.workflow,
                run.status,
                label,
                parent,
                when(start),
                iso(start),
                duration(run.started_at, run.finished_at, now),
            )
        )
    return rows


# ------------------------------------------------------------------------------ one run


@dataclass(slots=True)
class InstanceView:
    """One step instance (the step itself, or one fan-out item)."""

    index: int | None
    status: str
    key: str  # the idempotency key agents pass on
    attempt: int
    attempts: list[Attempt]
    started: str
    duration: str
    inputs: str | None  # `with:` rendered as the agent received it (secrets masked)
    inputs_note: str | None  # why inputs are not shown
    outputs: Any
    error: str | None
    stdout: str | None = None
    stderr: str | None = None
    exit_code: Any = None
    reasoning: dict[str, Any] | None = None  # the socratic agent's outputs, read for people

    @property
    def retries(self) -> int:
        return max(len(self.attempts) - 1, 0)

    @property
    def outputs_text(self) -> str:
        return show(self.outputs)


@dataclass(slots=True)
class StepView:
    id: str
    agent: str
    description: str
    effect: str
    needs: tuple[str, ...]
    status: str
    group: bool  # a for_each step
    counts: dict[str, int]  # instances by status (fan-out steps)
    total: int | None  # items of a fan-out, once known
    error: str | None
    instances: list[InstanceView] = field(default_factory=list)
    hidden: int = 0  # instances not detailed here
    waits_for: str | None = None  # a running `wait` step: the signal it waits for
    unknown: bool = False  # an at_most_once instance waits for decide.<step>

    @property
    def summary(self) -> str:
        """Counts for a group node: '4/5 succeeded, 1 failed'."""
        if not self.group:
            return self.status
        total = self.total if self.total is not None else sum(self.counts.values())
        parts = [f"{self.counts.get('succeeded', 0)}/{total} done"]
        for status in ("running", "failed", "retrying", "unknown", "cancelled", "skipped"):
            if self.counts.get(status):
                parts.append(f"{self.counts[status]} {status}")
        return ", ".join(parts)


@dataclass(slots=True)
class RunView:
    run: RunRecord
    trigger: str
    parent_run: str | None
    started: str
    duration: str
    steps: list[StepView]
    inputs: str
    outputs: str | None

    @property
    def finished(self) -> bool:
        return self.run.status in RUN_FINAL

    @property
    def waiting(self) -> list[StepView]:
        """Steps that need a person: a signal to send, or a retry/skip decision."""
        return [s for s in self.steps if s.waits_for or s.unknown]


def attempts_of(record: StepRecord) -> list[Attempt]:
    """The instance's attempts. A cancelled instance's last attempt has no end of its own in
    the store (only failures and successes close one): it ended when the instance did, not
    'running' forever."""
    attempts = [
        Attempt(
            int(a.get("attempt") or 0),
            float(a["started_at"]),
            a.get("finished_at"),
            str(a.get("status", "running")),
            a.get("error"),
        )
        for a in record.attempts
        if a.get("started_at") is not None
    ]
    if attempts and attempts[-1].finished is None and record.status in STEP_FINAL:
        last = attempts[-1]
        attempts[-1] = replace(
            last,
            finished=max(record.finished_at or last.started, last.started),
            status=str(record.status),
            error=last.error or record.error,
        )
    return attempts


class _Renderer:
    """Re-renders `with:` the way the run did: the same templates over the same data (inputs,
    finished upstream outputs, item and index), with secrets masked."""

    def __init__(
        self,
        definition: Definition,
        run: RunRecord,
        records: Mapping[tuple[str, int | None], StepRecord],
        secret_names: Iterable[str],
    ) -> None:
        steps = {
            sid: {"outputs": r.outputs, "status": r.status}
            for (sid, index), r in records.items()
            if index is None and r.status in STEP_FINAL
        }
        self.definition = definition
        self.env: dict[str, Any] = {
            "inputs": run.inputs,
            "steps": steps,
            "run": {"id": run.run_id, "workflow": run.workflow},
            "secrets": dict.fromkeys(secret_names, SECRET),
        }
        self._items: dict[str, list[Any] | str] = {}

    def inputs(self, step_id: str, index: int | None) -> tuple[str | None, str | None]:
        step = self.definition.steps[step_id]
        env = self.env
        try:
            if index is not None and step.for_each is not None:
                items = self._items.get(step_id)
                if items is None:
                    rendered = step.for_each.render(env)
                    items = rendered if isinstance(rendered, list) else "for_each is not a list"
                    self._items[step_id] = items
                if isinstance(items, str) or index >= len(items):
                    return None, "its item cannot be shown"
                env = {**env, "item": items[index], "index": index}
            return show(step.params.render(env)), None
        except MastermindError as exc:
            return None, f"cannot be shown: {exc}"


def run_view(
    definition: Definition,
    run: RunRecord,
    records: list[StepRecord],
    secret_names: Iterable[str] = (),
    now: float | None = None,
) -> RunView:
    """Everything the run page shows."""
    now = time.time() if now is None else now
    by_key = {(r.step_id, r.item_index): r for r in records}
    renderer = _Renderer(definition, run, by_key, secret_names)
    per_step: dict[str, list[StepRecord]] = {}
    for record in records:
        if record.item_index is not None:
            per_step.setdefault(record.step_id, []).append(record)
    steps = []
    for step_id in definition.order:
        step = definition.steps[step_id]
        group = step.for_each is not None
        whole = by_key.get((step_id, None))
        items = sorted(per_step.get(step_id, []), key=lambda r: r.item_index or 0)
        counts = Counter(r.status for r in items) if group else Counter()
        if whole is not None and (not group or whole.status in STEP_FINAL or not items):
            status = whole.status
        elif group and items:  # items started; the step ends when its last item's end is folded
            status = "running"
        else:
            status = "pending"  # not reached yet
        view = StepView(
            step_id,
            step.spec.agent,
            step.spec.description,
            step.spec.effect,
            step.needs,
            status,
            group,
            dict(counts),
            len(items) if group and (items or whole is not None) else None,
            whole.error if whole is not None else None,
        )
        instances = items if group else ([whole] if whole is not None else [])
        if len(instances) > MAX_INSTANCES:  # the ones that need attention first
            order = {"unknown": 0, "failed": 1, "running": 2, "retrying": 3}
            ranked = sorted(instances, key=lambda r: (order.get(r.status, 9), r.item_index or 0))
            view.hidden = len(instances) - MAX_INSTANCES
            instances = sorted(ranked[:MAX_INSTANCES], key=lambda r: r.item_index or 0)
        for record in instances:
            view.instances.append(_instance(run, step.spec.agent, record, renderer, now))
            if record.status == "unknown":
                view.unknown = True
        if step.spec.agent == "wait" and status == "running" and view.instances:
            signal = _signal_name(view.instances[0].inputs)
            view.waits_for = signal
        steps.append(view)
    return RunView(
        run,
        *trigger(run),
        when(run.started_at or run.created_at),
        duration(run.started_at, run.finished_at, now),
        steps,
        show(run.inputs),
        show(run.outputs) if run.outputs is not None else None,
    )


def _instance(
    run: RunRecord, agent: str, record: StepRecord, renderer: _Renderer, now: float
) -> InstanceView:
    key = f"{run.run_id}/{record.step_id}"
    if record.item_index is not None:
        key += f"/{record.item_index}"
    started = record.status not in ("queued", "skipped") or record.attempts
    inputs, note = (
        renderer.inputs(record.step_id, record.item_index)
        if started
        else (None, "not rendered: the step has not started")
    )
    view = InstanceView(
        record.item_index,
        record.status,
        key,
        record.attempt,
        attempts_of(record),
        when(record.started_at),
        duration(record.started_at, record.finished_at, now),
        inputs,
        note,
        record.outputs,
        record.error,
    )
    outputs = record.outputs
    if isinstance(outputs, dict):
        if agent == "shell" or {"stdout", "stderr"} <= outputs.keys():
            view.stdout = show(outputs.get("stdout", ""))
            view.stderr = show(outputs.get("stderr", ""))
            view.exit_code = outputs.get("exit_code")
        if agent == "socratic" and "valid" in outputs:
            view.reasoning = reading(outputs)
    return view


def _signal_name(inputs: str | None) -> str | None:
    if inputs is None:
        return None
    try:
        params = json.loads(inputs)
    except ValueError:
        return None
    signal = params.get("signal") if isinstance(params, dict) else None
    return signal if isinstance(signal, str) else None


def reading(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """The socratic agent's result as a person reads it: the premises as understood, the
    verdict in words, the counter-example as a situation, what follows."""
    valid = outputs.get("valid")
    consistent = outputs.get("consistent", True)
    conclusion = outputs.get("conclusion")
    if not consistent:
        verdict, tone = "The premises contradict each other.", "bad"
    elif conclusion is None:
        verdict, tone = "No conclusion was given: here is what follows from the premises.", ""
    elif valid:
        verdict, tone = f"Valid: “{conclusion}” follows from the premises.", "ok"
    else:
        verdict, tone = f"Not valid: “{conclusion}” does not follow from the premises.", "bad"
    situation: list[str] = []
    counter = outputs.get("counterexample")
    if isinstance(counter, dict):
        for atom, value in (counter.get("atoms") or {}).items():
            situation.append(f"“{atom}” is {'true' if value else 'false'}")
        for individual, properties in (counter.get("individuals") or {}).items():
            listed = ", ".join(str(p) for p in properties) if properties else "nothing listed"
            situation.append(f"{individual}: {listed}")
    return {
        "premises": [str(p) for p in outputs.get("premises") or []],
        "conclusion": conclusion,
        "valid": valid,
        "consistent": consistent,
        "verdict": verdict,
        "tone": tone,
        "counterexample": situation,
        "explanation": [str(line) for line in outputs.get("explanation") or []],
        "derived": [str(d) for d in outputs.get("derived") or []],
        "rejected": [
            f"{r.get('premise', '')}: {r.get('reason', '')}" if isinstance(r, dict) else str(r)
            for r in outputs.get("rejected") or []
        ],
    }


def timeline_rows(view: RunView) -> tuple[list[tuple[str, list[Attempt]]], int]:
    """Rows of the Gantt chart (one per instance that ran), and how many were left out."""
    rows: list[tuple[str, list[Attempt]]] = []
    for step in view.steps:
        for instance in step.instances:
            if instance.attempts:
                label = step.id if instance.index is None else f"{step.id}[{instance.index}]"
                rows.append((label, instance.attempts))
    rows.sort(key=lambda row: row[1][0].started)
    hidden = sum(s.hidden for s in view.steps) + max(len(rows) - MAX_TIMELINE_ROWS, 0)
    return rows[:MAX_TIMELINE_ROWS], hidden
