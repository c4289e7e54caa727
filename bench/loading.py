"""Loading workflows and starting the CLI."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import yaml

from bench.core import Figure
from bench.e2e import bytecode_env
from mastermind.engine.agent import AgentRegistry
from mastermind.language.loader import LoadReport, load_text, workflow_files


def _workflow(index: int, steps: int = 20) -> str:
    lines = [
        "# yaml-language-server: $schema=../config/workflow.schema.json",
        f"name: generated_{index}",
        "inputs: {items: {type: array, default: [1, 2, 3]}, limit: {type: integer, default: 5}}",
        "retry: {attempts: 3, initial: 1s, max: 30s}",
        "steps:",
    ]
    # Every expression and duration is distinct across files (the file's index is in each), so
    # the parse caches cannot do the work a real collection of different workflows would need.
    for i in range(steps):
        needs = f", needs: [s{i - 1}]" if i else ""
        if i == 0:
            value = f"${{{{ inputs.limit + {index} }}}}"
        else:
            value = f"${{{{ steps.s{i - 1}.outputs or {index} }}}}"
        fan = f', for_each: "${{{{ inputs.items or [{index}] }}}}"' if i % 5 == 4 else ""
        timeout = f"{index * steps + i + 1}s"
        lines.append(
            f'  s{i}: {{agent: noop{needs}{fan}, timeout: {timeout}, with: {{value: "{value}"}}}}'
        )
    return "\n".join(lines) + "\n"


def load_many(quick: bool) -> list[Figure]:
    """Load (parse, validate, compile) 1,000 workflow files of 20 steps each."""
    n = 100 if quick else 1_000
    with tempfile.TemporaryDirectory() as folder:
        for i in range(n):
            Path(folder, f"w{i:04d}.yaml").write_text(_workflow(i))
        texts = [p.read_bytes() for p in workflow_files([folder])]
        baseline = []
        for _ in range(1 if quick else 5):
            started = time.perf_counter()
            for text in texts:
                yaml.load(text, Loader=yaml.CSafeLoader)
            baseline.append(time.perf_counter() - started)
        timings = []
        for _ in range(1 if quick else 5):
            registry = AgentRegistry(load_plugins=False)
            started = time.perf_counter()
            report = LoadReport()
            for path in workflow_files([folder]):
                report.add(path, registry)
            timings.append(time.perf_counter() - started)
            assert not report.problems, report.problems[:3]
    return [
        Figure(
            f"load {n} workflow files of 20 steps",
            statistics.median(timings),
            "s",
            statistics.median(baseline),
            "yaml.load(CSafeLoader) alone",
            target="< 1 s for 1,000",
            higher_is_better=False,
        ),
    ]


def _largest_chain(limit: int) -> str:
    """A chain as long as fits in `limit` bytes; each step needs the one before and reads the
    one before that (so every read is checked through the graph)."""
    lines = ["name: largest", "steps:", "  s0: {agent: noop}", "  s1: {agent: noop, needs: [s0]}"]
    size = sum(len(line) + 1 for line in lines)
    i = 2
    while True:
        read = f"${{{{ steps.s{i - 2}.outputs }}}}"
        line = f'  s{i}: {{agent: noop, needs: [s{i - 1}], with: {{value: "{read}"}}}}'
        if size + len(line) + 1 > limit:
            return "\n".join(lines) + "\n"
        lines.append(line)
        size += len(line) + 1
        i += 1


def load_largest(quick: bool) -> list[Figure]:
    """Load the largest accepted workflow (1 MiB: a chain of about 12,000 steps): time and
    peak memory, beside yaml.load(CSafeLoader) of the same text."""
    text = _largest_chain(100_000 if quick else 1024 * 1024)
    steps = text.count("\n  s")
    registry = AgentRegistry(load_plugins=False)
    load_text("name: warm\nsteps: {a: {agent: noop}}\n", "warm.yaml", registry)
    runs = 1 if quick else 5
    ours, baseline = [], []
    for _ in range(runs):  # alternated, so a burst of load hits both alike
        started = time.perf_counter()
        load_text(text, "largest.yaml", registry)
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        yaml.load(text, Loader=yaml.CSafeLoader)
        baseline.append(time.perf_counter() - started)

    def peak(load: object) -> float:
        tracemalloc.start()
        try:
            if load is yaml:
                yaml.load(text, Loader=yaml.CSafeLoader)
            else:
                load_text(text, "largest.yaml", registry)
            return tracemalloc.get_traced_memory()[1] / 1e6
        finally:
            tracemalloc.stop()

    label = f"load one {len(text) // 1024} KiB workflow ({steps}-step chain)"
    return [
        Figure(
            label,
            statistics.median(ours),
            "s",
            statistics.median(baseline),
            "yaml.load(CSafeLoader) alone",
            target="< 1 s for 1 MiB",
            higher_is_better=False,
        ),
        Figure(
            label + ": peak memory (tracemalloc)",
            peak(load_text),
            "MB",
            peak(yaml),
            "yaml.load(CSafeLoader) alone",
            target="< 200 MB for 1 MiB",
            higher_is_better=False,
        ),
    ]


def cold_start(quick: bool) -> list[Figure]:
    """`mastermind run` of a one-step workflow, end to end, as a new process."""
    runs = 3 if quick else 15
    with tempfile.TemporaryDirectory() as folder, bytecode_env() as env:
        flow = Path(folder, "one.yaml")
        flow.write_text("name: one\nsteps: {a: {agent: noop, with: {value: 1}}}\n")
        state = str(Path(folder, "state"))  # a temporary state dir, never the user's
        command = [sys.executable, "-m", "mastermind", "run", "-q", "--state-dir", state, str(flow)]
        python = [sys.executable, "-c", "pass"]
        for argv in (command, python):  # warm the page cache; write the bytecode cache
            subprocess.run(argv, check=True, capture_output=True, env=env)

        def timed(argv: list[str]) -> float:
            started = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True, env=env)
            return time.perf_counter() - started

        ours_runs, bare_runs = [], []
        for _ in range(runs):  # alternated, so a burst of load hits both alike
            ours_runs.append(timed(command))
            bare_runs.append(timed(python))
        ours, bare = statistics.median(ours_runs), statistics.median(bare_runs)
    return [
        Figure(
            "cold start: mastermind run, one step (agent: noop)",
            ours * 1000,
            "ms",
            bare * 1000,
            "python -c pass",
            target="< 200 ms",
            higher_is_better=False,
        ),
    ]
