"""Live progress of a run for the terminal: a bar on a TTY, plain lines otherwise."""

from __future__ import annotations

import time
from typing import TextIO

from mastermind.store.events import Event, RunStatus, StepStatus

_FINAL = {StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED}
_MARK = {
    StepStatus.SUCCEEDED: "ok",
    StepStatus.FAILED: "FAILED",
    StepStatus.SKIPPED: "skipped",
    StepStatus.CANCELLED: "cancelled",
}


class Progress:
    """An event listener that draws progress on `stream` (stderr: stdout carries the outputs)."""

    def __init__(
        self, stream: TextIO, run_id: str, total_steps: int, *, tty: bool | None = None
    ) -> None:
        self.stream = stream
        self.run_id = run_id  # sub-runs report through their parent step
        self.total = total_steps
        self.tty = stream.isatty() if tty is None else tty
        self.done = 0
        self.failed = 0
        self.running: set[tuple[str, int | None]] = set()
        self.announced: set[str] = set()
        self.started = time.monotonic()
        self._drawn = 0.0

    def __call__(self, event: Event) -> None:
        if event.run_id != self.run_id:
            return
        if event.step_id is None:
            if RunStatus(event.status).finished:
                self._line(f"run {event.status}" + (f": {event.error}" if event.error else ""))
            return
        key = (event.step_id, event.item_index)
        status = StepStatus(event.status)
        if status == StepStatus.RUNNING:
            self.running.add(key)
            if event.step_id not in self.announced:
                self.announced.add(event.step_id)
                self._line(f"{event.step_id} started")
        elif status in _FINAL or status == StepStatus.RETRYING:
            self.running.discard(key)
        name = event.step_id + ("" if event.item_index is None else f"[{event.item_index}]")
        if status == StepStatus.RETRYING:
            self._line(
                f"{name} attempt {event.attempt} failed: {event.error}; "
                f"retrying in {event.delay:.2f}s"
            )
        elif status == StepStatus.FAILED and event.item_index is not None:
            self._line(f"{name} FAILED: {event.error}")
        if event.item_index is None and status in _FINAL:
            self.done += 1
            if status == StepStatus.FAILED:
                self.failed += 1
            took = f" in {event.duration:.2f}s" if event.duration is not None else ""
            why = f": {event.error}" if event.error and status != StepStatus.SUCCEEDED else ""
            self._line(f"{name} {_MARK[status]}{took}{why}")
        self._bar()

    def _line(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        if self.tty:
            self.stream.write("\r\x1b[K")
        self.stream.write(f"[{elapsed:7.2f}s] {text}\n")
        self._bar(force=True)

    def _bar(self, force: bool = False) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if not force and now - self._drawn < 0.1:
            return
        self._drawn = now
        width = 24
        filled = int(width * self.done / self.total) if self.total else width
        bar = "#" * filled + "-" * (width - filled)
        failed = f" · {self.failed} failed" if self.failed else ""
        self.stream.write(
            f"\r\x1b[K[{bar}] {self.done}/{self.total} steps · {len(self.running)} running{failed}"
        )
        self.stream.flush()

    def close(self) -> None:
        """Clear the bar line."""
        if self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
