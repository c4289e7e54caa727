"""The slow-callback detector: who blocks the event loop, caught in the act.

asyncio's own detector (debug mode's `slow_callback_duration`) does not exist on uvloop and
costs debug mode everywhere. This one works on any loop: a heartbeat callback on the loop
records the time every `threshold / 5`; a watchdog thread wakes `threshold` after the last beat
and, if the loop still has not ticked, samples the loop thread's stack
(`sys._current_frames()`) and the task it is running, again every `threshold` while it stays
stuck, and logs each new place it finds the loop in while the loop is still stuck (so even a
loop blocked for good is reported). When the loop ticks again the heartbeat measures the gap
and reports the episode to the listeners (the daemon's metric) with the stack most samples saw
and the step (run, step, item, attempt) that was running, found in the `InFlight` registry.

The gap between two beats is an upper bound of the block, at most one beat interval
(`threshold / 5`) more than the block itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mastermind.engine.inflight import InFlight
from mastermind.engine.stacks import FrameInfo, thread_frames

log = logging.getLogger("mastermind.loop")

DEFAULT_THRESHOLD = 0.1
MAX_SAMPLES = 100  # per episode; a loop stuck for longer is sampled no further


@dataclass(slots=True)
class Blocked:
    """One episode of the event loop not running callbacks for longer than the threshold."""

    started_at: float  # wall clock, seconds
    duration: float | None  # None while it lasts
    task: str | None  # the name of the task running when it was caught
    step: dict[str, Any] | None  # run_id, step_id, item_index, attempt of that task, if a step
    # the loop thread's stack, outermost first
    frames: list[FrameInfo] = field(default_factory=list)
    samples: int = 0  # how often the watchdog found the loop stuck in this episode

    @property
    def innermost(self) -> FrameInfo | None:
        return self.frames[-1] if self.frames else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "duration": self.duration,
            "task": self.task,
            "step": self.step,
            "stack": [f.as_dict() for f in self.frames],
            "samples": self.samples,
        }

    def describe(self) -> str:
        who = self.task or "a callback outside any task"
        if self.step is not None:
            suffix = "" if self.step["item_index"] is None else f"[{self.step['item_index']}]"
            who = (
                f"step {self.step['run_id']}/{self.step['step_id']}{suffix} "
                f"attempt {self.step['attempt']} ({self.step['agent']} agent)"
            )
        return who


class LoopWatch:
    """Detects event-loop callbacks longer than `threshold` seconds. `start()` on the loop's
    thread, `stop()` when done (or `async with watch.running():`)."""

    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        inflight: InFlight | None = None,
        *,
        history: int = 50,
    ) -> None:
        if threshold <= 0:
            raise ValueError("the slow-callback threshold must be positive")
        self.threshold = threshold
        self.beat = threshold / 5
        self.inflight = inflight
        self.listeners: list[Callable[[Blocked], None]] = []  # called on the loop, per episode
        self.on_caught: list[Callable[[Blocked], None]] = []  # called on the watchdog thread
        self.recent: deque[Blocked] = deque(maxlen=history)
        self.episodes = 0
        self._last = time.monotonic()
        self._caught: tuple[float, Blocked] | None = None  # (beat it was caught after, episode)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the heartbeat on the running loop and the watchdog thread (idempotent)."""
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._last = time.monotonic()
        self._stopping.clear()
        self._handle = self._loop.call_later(self.beat, self._tick)
        self._thread = threading.Thread(target=self._watch, name="mm-loop-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the heartbeat and the thread (bounded wait)."""
        self._stopping.set()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    @contextlib.asynccontextmanager
    async def running(self) -> Any:
        self.start()
        try:
            yield self
        finally:
            self.stop()

    async def run(self) -> None:
        """Watch until cancelled (a daemon chore)."""
        async with self.running():
            await asyncio.Event().wait()

    # ------------------------------------------------------------------------------ the loop side

    def _tick(self) -> None:
        now = time.monotonic()
        gap, last = now - self._last, self._last
        self._last = now
        if self._loop is not None and not self._stopping.is_set():
            self._handle = self._loop.call_later(self.beat, self._tick)
        if gap <= self.threshold:
            return
        caught = self._caught
        if caught is not None and caught[0] == last:
            episode = caught[1]
        else:  # the thread did not get to it (the GIL was held throughout): no stack
            episode = Blocked(time.time() - gap, None, None, None)
        self._caught = None
        episode.duration = gap
        self.episodes += 1
        self.recent.append(episode)
        log.warning(
            "the event loop was blocked for %.3fs (threshold %.3gs) by %s, in\n%s",
            gap,
            self.threshold,
            episode.describe(),
            "\n".join(f"  {f}" for f in episode.frames[-10:]) or "  (no stack: not sampled)",
        )
        for listener in self.listeners:
            try:
                listener(episode)
            except Exception:  # a broken listener must not stop the heartbeat
                log.exception("loop watch listener failed")

    # ------------------------------------------------------------------------------ the thread

    def _watch(self) -> None:
        while True:
            last = self._last
            if self._stopping.wait(max(last + self.threshold - time.monotonic(), 0.001)):
                return
            if self._last != last:
                continue
            # stuck since `last`: sample now and every threshold until the loop moves on
            samples: list[Blocked] = []
            while self._last == last:
                if len(samples) < MAX_SAMPLES:
                    try:
                        self._sample(last, samples)
                    except Exception:  # the watchdog must outlive any one bad sample
                        log.exception("loop watch: sampling the loop thread failed")
                        samples.append(Blocked(time.time(), None, None, None))
                if self._stopping.wait(self.threshold):
                    return

    def _sample(self, last: float, samples: list[Blocked]) -> None:
        """The loop is stuck right now: record what its thread is doing and who runs."""
        frame = sys._current_frames().get(self._loop_thread or -1)
        task = self._current_task()
        step = self.inflight.get(task) if (self.inflight is not None and task) else None
        sample = Blocked(
            started_at=time.time() - (time.monotonic() - last),
            duration=None,
            task=task.get_name() if task is not None else None,
            step=None
            if step is None
            else {
                "run_id": step.run_id,
                "workflow": step.workflow,
                "step_id": step.step_id,
                "item_index": step.item_index,
                "attempt": step.attempt,
                "agent": step.agent,
            },
            frames=thread_frames(frame),
        )
        samples.append(sample)
        if self._last != last:
            return  # the loop moved on while we looked: this episode is already reported
        # the episode shows the place most samples found the loop in (the latest such sample)
        where = Counter(s.innermost for s in samples)
        top = max(where.values())
        chosen = next(s for s in reversed(samples) if where[s.innermost] == top)
        episode = Blocked(
            chosen.started_at, None, chosen.task, chosen.step, chosen.frames, len(samples)
        )
        self._caught = (last, episode)
        if all(s.innermost != sample.innermost for s in samples[:-1]):  # a new place: say so
            stack = "\n".join(f"  {f}" for f in sample.frames[-25:])
            log.warning(
                "the event loop has not run for %.3fs (threshold %.3gs): %s is blocking it in\n%s",
                time.monotonic() - last,
                self.threshold,
                sample.describe(),
                stack,
            )
        for callback in self.on_caught:
            try:
                callback(sample)
            except Exception:
                log.exception("loop watch callback failed")

    def _current_task(self) -> asyncio.Task[Any] | None:
        if self._loop is None:
            return None
        try:  # reads the loop's current-task slot (a dict lookup, safe under the GIL)
            return asyncio.current_task(self._loop)
        except Exception:
            return None
