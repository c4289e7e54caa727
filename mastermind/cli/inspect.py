"""`mastermind inspect [RUN_ID]`: every step in flight on a daemon, with its live stack."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mastermind.cli.client import Client

HOME = str(Path.home())


def add_inspect_command(sub: Any) -> None:
    inspect = sub.add_parser(
        "inspect", help="every step in flight on a daemon: its coroutine stack, what it awaits"
    )
    inspect.add_argument("run_id", nargs="?", help="only this run's steps")
    inspect.add_argument("--json", action="store_true", help="the API's JSON as is")
    inspect.add_argument("--frames", type=int, default=8, help="innermost frames shown per step")
    inspect.add_argument("--url", default=os.environ.get("MASTERMIND_URL"))
    inspect.add_argument("--token", default=os.environ.get("MASTERMIND_TOKEN"))
    inspect.set_defaults(handler=cmd_inspect)


def cmd_inspect(args: argparse.Namespace) -> int:
    path = "/api/v1/debug/tasks"
    if args.run_id:
        path += f"?run_id={quote(args.run_id)}"
    body = Client(args.url, args.token).call("GET", path)
    if args.json:
        print(json.dumps(body, indent=2))
    else:
        print(render(body, args.frames))
    return 0


def render(body: dict[str, Any], frames: int = 8) -> str:
    """The inspector's JSON as text: one block per step, innermost frames last."""
    lines: list[str] = []
    steps = body.get("steps", [])
    total = body.get("total", len(steps))
    shown = f" (the {len(steps)} oldest shown)" if total > len(steps) else ""
    lines.append(f"{total} step(s) in flight{shown}")
    for step in steps:
        item = "" if step["item_index"] is None else f"[{step['item_index']}]"
        waits = step["awaiting"]
        pid = step.get("pid")
        pid = f" (pid {pid})" if pid and str(pid) not in waits["detail"] else ""
        lines.append("")
        lines.append(
            f"{step['run_id']}/{step['step_id']}{item}  {step['agent']}  attempt "
            f"{step['attempt']}  for {_seconds(step['attempt_age'] or step['age'])}"
        )
        lines.append(f"  awaits {waits['kind']}: {waits['detail']}{pid}")
        stack = step["stack"]
        if len(stack) > frames:
            lines.append(f"  ... {len(stack) - frames} outer frame(s)")
        for frame in stack[-frames:]:
            lines.append(f"  {_where(frame)}")
    loop = body.get("loop", {})
    if loop.get("watched"):
        blocked = loop.get("blocked", [])
        lines.append("")
        lines.append(
            f"event loop: {loop['blocked_episodes']} callback(s) longer than "
            f"{_seconds(loop['threshold'])} since start"
        )
        for episode in blocked[:5]:
            who = episode.get("task") or "a callback outside any task"
            step = episode.get("step")
            if step:
                item = "" if step["item_index"] is None else f"[{step['item_index']}]"
                who = f"{step['run_id']}/{step['step_id']}{item} attempt {step['attempt']}"
            duration = episode.get("duration")
            lasted = _seconds(duration) if duration is not None else "still blocked"
            lines.append(f"  blocked {lasted} by {who}")
            for frame in episode.get("stack", [])[-frames:]:
                lines.append(f"    {_where(frame)}")
    return "\n".join(lines)


def _where(frame: dict[str, Any]) -> str:
    file = str(frame["file"])
    if file.startswith(HOME):
        file = "~" + file[len(HOME) :]
    return f"{file}:{frame['line']} in {frame['function']}"


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.1f}s"
