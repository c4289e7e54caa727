"""What every step in flight is doing right now, as JSON: `GET /api/v1/debug/tasks` and
`mastermind inspect` render this.

For each step task the engine registered (`engine/inflight.py`): its run, step, item, attempt
and age, its live coroutine stack (file:line of every frame down the await chain) and what it
waits for (`engine/stacks.py`), with the pool worker's pid for cpu steps. Beside them, the loop
watch's recent episodes of a blocked event loop, each with the step and stack that blocked it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from mastermind.engine.stacks import awaiting, frame_info, task_frames

if TYPE_CHECKING:
    from mastermind.engine.inflight import InFlight
    from mastermind.engine.loop_watch import LoopWatch

ITEM_LIMIT = 200  # characters of an item's repr shown


DEFAULT_LIMIT = 500  # stacks walked per request: each costs tens of µs on the event loop


def snapshot(
    inflight: InFlight,
    watch: LoopWatch | None = None,
    run_id: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """The first `limit` step tasks in flight (of `run_id`), oldest first, and the loop's recent
    blocked episodes. Call it on the event loop's thread: it reads suspended coroutines'
    frames."""
    now = inflight.monotonic()
    steps = []
    everything = inflight.steps(run_id)
    for step in everything[:limit]:
        chain = task_frames(step.task)
        waits = awaiting(step.task, chain)
        item = repr(step.item)
        steps.append(
            {
                "run_id": step.run_id,
                "workflow": step.workflow,
                "step_id": step.step_id,
                "item_index": step.item_index,
                "item": item if len(item) <= ITEM_LIMIT else item[: ITEM_LIMIT - 1] + "…",
                "agent": step.agent,
                "attempt": step.attempt,
                "age": _since(now, step.first_started),
                "attempt_age": _since(now, step.attempt_started),
                "task": step.task.get_name(),
                "awaiting": waits.as_dict(),
                "pid": waits.pid,
                "stack": [frame_info(frame).as_dict() for frame in chain],
            }
        )
    loop: dict[str, Any] = {"watched": watch is not None}
    if watch is not None:
        episodes = [
            e for e in watch.recent if run_id is None or (e.step or {}).get("run_id") == run_id
        ]
        loop.update(
            threshold=watch.threshold,
            blocked_episodes=watch.episodes,
            blocked=[e.as_dict() for e in reversed(episodes)],  # newest first
        )
    return {"at": time.time(), "total": len(everything), "steps": steps, "loop": loop}


def _since(now: float, then: float | None) -> float | None:
    return None if then is None else round(now - then, 6)
