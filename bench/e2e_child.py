"""One workload in a fresh process: `mastermind run` (the CLI's own `main`, default SQLite store
in a temporary state dir) and the raw uvloop baseline, alternating in the same process.

`python -m bench.e2e_child WORKLOAD RUNS` prints {"ours": [seconds...], "raw": [seconds...]}.
Start-up (interpreter, imports) is excluded by timing inside the process; everything `mastermind
run` does per invocation is included: loading the file, opening the store, the run, closing.
After one warm-up of each side, the timed runs alternate (mastermind, raw, mastermind, ...), so
a burst of load from elsewhere on the machine hits both sides. The workflow language's caches
(parsed expressions, durations, plain YAML scalars) are cleared before every `mastermind run`,
so each timed run parses its file as a fresh process's first run does.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import json
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import uvloop

from bench import tasks, workloads
from mastermind.language import durations, expressions, yaml_source

WORKLOADS: dict[str, tuple[Callable[[], str], int, Callable[[], Coroutine[Any, Any, float]]]] = {
    "w1": (workloads.w1, tasks.W1_ITEMS, workloads.raw_w1),
    "w1_thread": (lambda: workloads.w1(inline=False), tasks.W1_ITEMS, workloads.raw_w1),
    "w2": (workloads.w2, 0, workloads.raw_w2),
    "w2_thread": (lambda: workloads.w2(inline=False), 0, workloads.raw_w2),
    "w3": (workloads.w3, tasks.W3_ITEMS, workloads.raw_w3),
    "w4": (workloads.w4, tasks.W4_ITEMS, workloads.raw_w4),
}


def clear_language_caches() -> None:
    """Forget what loading a workflow file caches per process (what a fresh `mastermind run`
    starts without): parsed expressions, parsed durations, plain scalars' values."""
    expressions.parse.cache_clear()
    durations.parse_duration.cache_clear()
    yaml_source._plain_cache.clear()


def main(argv: list[str]) -> int:
    name, runs = argv[0], int(argv[1])
    text, items, raw = WORKLOADS[name]
    from mastermind.cli.main import main as mastermind

    with tempfile.TemporaryDirectory() as folder:
        flow = Path(folder, f"{name}.yaml")
        flow.write_text(text())
        command = ["run", "-q", "--state-dir", str(Path(folder, "state")), str(flow)]
        if items:
            inputs = Path(folder, "inputs.json")
            inputs.write_text(json.dumps({"items": list(range(items))}))
            command += ["--inputs", str(inputs)]

        def once() -> float:
            clear_language_caches()
            gc.collect()
            out = io.StringIO()
            started = time.perf_counter()
            with contextlib.redirect_stdout(out):
                code = mastermind(command)
            elapsed = time.perf_counter() - started
            if code != 0:
                raise SystemExit(f"mastermind run {name} exited {code}: {out.getvalue()[:500]}")
            return elapsed

        def baseline() -> float:
            gc.collect()
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(raw())

        once()  # warm-up: first imports of the agent and the task module, page cache
        baseline()
        ours: list[float] = []
        raws: list[float] = []
        for _ in range(runs):  # alternating: a burst of load elsewhere hits both sides
            ours.append(once())
            raws.append(baseline())
    print(json.dumps({"ours": ours, "raw": raws}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
