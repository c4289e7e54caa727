"""W1–W4 end to end through `mastermind run` (default SQLite store, `python`/`cpu` agents),
beside the same work as raw asyncio on uvloop, measured in the same child process."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from bench import tasks
from bench.core import Figure


@contextmanager
def bytecode_env() -> Iterator[dict[str, str]]:
    """An environment for child interpreters that caches bytecode (in a temporary folder), as an
    installed package has it: with PYTHONDONTWRITEBYTECODE set, every start would recompile
    every module, which is not what a user's `mastermind` does."""
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        yield env


def child(workload: str, runs: int, env: dict[str, str]) -> dict[str, float]:
    """Medians of `runs` (after a warm-up) for mastermind and the raw baseline, in seconds."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.e2e_child", workload, str(runs)],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
        env=env,
    )
    times = json.loads(done.stdout)
    return {key: statistics.median(values) for key, values in times.items()}


def e2e(quick: bool) -> list[Figure]:
    """W1–W4 through `mastermind run`, start-up excluded, beside raw asyncio on uvloop."""
    runs = 1 if quick else 5
    names = ["w1", "w2"] if quick else ["w1", "w1_thread", "w2", "w2_thread", "w3", "w4"]
    with bytecode_env() as env:
        got = {name: child(name, runs, env) for name in names}
    path = "mastermind run, SQLite, python agent"
    figures = [
        Figure(
            f"W1 {tasks.W1_ITEMS:,}-item fan-out of noop(), inline: true ({path})",
            tasks.W1_ITEMS / got["w1"]["ours"],
            "steps/s",
            tasks.W1_ITEMS / got["w1"]["raw"],
            "raw uvloop tasks",
            target=">= 25,000",
        ),
        Figure(
            f"W2 {tasks.W2_STEPS}-step chain of inc(previous), inline: true ({path})",
            got["w2"]["ours"] / tasks.W2_STEPS * 1000,
            "ms/step",
            got["w2"]["raw"] / tasks.W2_STEPS * 1000,
            "raw uvloop, awaited one by one",
            target="<= 0.25",
            higher_is_better=False,
        ),
    ]
    if quick:
        return figures
    figures[1:1] = [
        Figure(
            f"W1 the same, function in a thread (the default) ({path})",
            tasks.W1_ITEMS / got["w1_thread"]["ours"],
            "steps/s",
            tasks.W1_ITEMS / got["w1_thread"]["raw"],
            "raw uvloop tasks",
        ),
    ]
    figures += [
        Figure(
            f"W2 the same, function in a thread (the default) ({path})",
            got["w2_thread"]["ours"] / tasks.W2_STEPS * 1000,
            "ms/step",
            got["w2_thread"]["raw"] / tasks.W2_STEPS * 1000,
            "raw uvloop, awaited one by one",
            higher_is_better=False,
        ),
        Figure(
            f"W3 {tasks.W3_ITEMS:,} x await asyncio.sleep({tasks.W3_SLEEP:g}): wall ({path})",
            got["w3"]["ours"],
            "s",
            got["w3"]["raw"],
            "raw uvloop tasks",
            target="<= 0.16",
            higher_is_better=False,
        ),
        Figure(
            f"W4 {tasks.W4_ITEMS} x burn() CPU fan-out: wall (mastermind run, SQLite, cpu agent,"
            " pool start included)",
            got["w4"]["ours"],
            "s",
            got["w4"]["raw"],
            "ProcessPoolExecutor(2), start included",
            higher_is_better=False,
        ),
    ]
    return figures
