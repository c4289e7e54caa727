"""The coordinator against raw asyncio: per-step overhead, dispatch latency, 100k I/O steps."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import uvloop

from bench.agents import StampAgent, bench_registry
from bench.core import Figure, median_of, percentile
from mastermind.engine.agent import StepContext
from mastermind.engine.clock import SystemClock
from mastermind.engine.coordinator import Coordinator
from mastermind.language.loader import Definition, load_text
from mastermind.store.base import Store
from mastermind.store.memory import MemoryStore

FAN_OUT = """
name: fan
inputs: {items: {type: array}}
steps:
  work: {agent: noop, for_each: "${{ inputs.items }}"}
"""

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def _run(factory: LoopFactory, coro: Coroutine[Any, Any, float]) -> float:
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def _raw_gather(n: int) -> Coroutine[Any, Any, float]:
    """Baseline: gather n calls of the noop agent's coroutine, nothing else."""
    from agents.noop import NoopAgent, NoopParams

    agent, params = NoopAgent(), NoopParams()
    ctx = StepContext("r", "s", None, 1, "w", SystemClock())

    async def main() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(agent.run(params, ctx) for _ in range(n)))
        return time.perf_counter() - started

    return main()


def _fan_out(
    definition: Definition, n: int, store: Callable[[], Store] = MemoryStore
) -> Coroutine[Any, Any, float]:
    async def main() -> float:
        async with Coordinator(bench_registry(), store()) as coordinator:
            await coordinator.run(definition, {"items": list(range(10))})  # warm up
            started = time.perf_counter()
            result = await coordinator.run(definition, {"items": list(range(n))})
            elapsed = time.perf_counter() - started
        assert result.ok, result.error
        return elapsed

    return main()


def fan_out(quick: bool) -> list[Figure]:
    """10,000-item fan-out of no-op steps, in memory, against raw asyncio.gather."""
    n = 1_000 if quick else 10_000
    runs = 1 if quick else 5
    definition = load_text(FAN_OUT, "fan.yaml", bench_registry())
    gc.freeze()  # as `mastermind run` and the daemon do once started (the baseline gains too)
    raw = median_of(runs, lambda: _run(uvloop.new_event_loop, _raw_gather(n)))
    ours = median_of(runs, lambda: _run(uvloop.new_event_loop, _fan_out(definition, n)))
    raw_default = median_of(runs, lambda: _run(asyncio.new_event_loop, _raw_gather(n)))
    ours_default = median_of(runs, lambda: _run(asyncio.new_event_loop, _fan_out(definition, n)))
    return [
        Figure(
            f"fan-out {n} no-op steps, memory store (uvloop)",
            ours,
            "s",
            raw,
            "asyncio.gather",
            "within 5x",
            higher_is_better=False,
        ),
        Figure(
            "per-step overhead (uvloop)",
            (ours - raw) / n * 1e6,
            "us",
            note="wall time over raw gather, divided by steps",
            higher_is_better=False,
        ),
        Figure("in-memory throughput (uvloop)", n / ours, "steps/s", target=">= 50,000"),
        Figure(
            f"fan-out {n} no-op steps (default loop)",
            ours_default,
            "s",
            raw_default,
            "asyncio.gather, default loop",
            higher_is_better=False,
        ),
        Figure(
            "uvloop speed-up for the same workflow",
            ours_default / ours,
            "x",
            note="default-loop time / uvloop time",
        ),
    ]


def _chain_definition(n: int) -> str:
    lines = ["name: chain", "steps:", "  s0: {agent: stamp}"]
    lines += [f"  s{i}: {{agent: stamp, needs: [s{i - 1}]}}" for i in range(1, n)]
    return "\n".join(lines) + "\n"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def chain_latency(quick: bool) -> list[Figure]:
    """Dispatch latency on a chain: from a step's end to the start of the step that needs it,
    on the in-memory store and on the default SQLite store (every transition committed)."""
    import tempfile

    from mastermind.store.sqlite import SqliteStore

    n = 200 if quick else 1_000
    registry = bench_registry()
    definition = load_text(_chain_definition(n), "chain.yaml", registry)
    gc.freeze()  # as `mastermind run` and the daemon do once started

    async def main(store: Store) -> list[float]:
        async with Coordinator(registry, store) as coordinator:
            await coordinator.run(definition)
            stamp = coordinator.registry.instance("stamp")
            assert isinstance(stamp, StampAgent)
            return [stamp.starts[f"s{i}"] - stamp.ends[f"s{i - 1}"] for i in range(1, n)]

    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as folder:
        for label, store in (("memory", MemoryStore()), ("SQLite", SqliteStore(folder))):
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                delays = runner.run(main(store))
            # which link `percentile` takes for p99, counted from the slowest (11th of 999)
            tail = _ordinal(len(delays) - round(0.99 * (len(delays) - 1)))
            figures += [
                Figure(
                    f"dispatch latency p50 ({n}-step chain of the stamp agent, Coordinator in"
                    f" process, not mastermind run; {label} store)",
                    percentile(delays, 0.5) * 1e6,
                    "us",
                    higher_is_better=False,
                ),
                Figure(
                    f"dispatch latency p99, the {tail} slowest of {n - 1} links ({n}-step chain"
                    f" of the stamp agent, Coordinator in process, not mastermind run;"
                    f" {label} store)",
                    percentile(delays, 0.99) * 1e6,
                    "us",
                    target="< 1000 us",
                    higher_is_better=False,
                ),
            ]
    return figures


def io_concurrency(quick: bool) -> list[Figure]:
    """100,000 concurrent steps each awaiting 1 s: wall time and peak RSS per step."""
    n = 5_000 if quick else 100_000
    ours = _child("mastermind", n)
    durable = _child("mastermind-sqlite", n)
    raw = _child("raw", n)
    return [
        Figure(
            f"{n} concurrent 1 s I/O steps on SQLite: wall",
            durable["wall"],
            "s",
            raw["wall"],
            "raw asyncio tasks",
            higher_is_better=False,
        ),
        Figure(
            f"{n} concurrent 1 s I/O steps on SQLite: peak RSS per step",
            durable["rss_per_step"] / 1024,
            "KiB",
            raw["rss_per_step"] / 1024,
            "raw asyncio tasks",
            target="< 4 KiB",
            higher_is_better=False,
        ),
        Figure(
            f"{n} concurrent 1 s I/O steps, memory store: wall",
            ours["wall"],
            "s",
            raw["wall"],
            "raw asyncio tasks",
            higher_is_better=False,
        ),
        Figure(
            f"{n} concurrent 1 s I/O steps, memory store: peak RSS per step",
            ours["rss_per_step"] / 1024,
            "KiB",
            raw["rss_per_step"] / 1024,
            "raw asyncio tasks",
            target="< 4 KiB",
            higher_is_better=False,
        ),
    ]


def _child(kind: str, n: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.io_child", kind, str(n)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def durable(quick: bool) -> list[Figure]:
    """The same fan-out with every transition committed to SQLite (WAL, synchronous=NORMAL)."""
    import sqlite3
    import tempfile

    from mastermind.store.sqlite import SqliteStore

    n = 1_000 if quick else 10_000
    runs = 1 if quick else 5
    definition = load_text(FAN_OUT, "fan.yaml", bench_registry())
    gc.freeze()  # as `mastermind run` and the daemon do once started
    memory = median_of(runs, lambda: _run(uvloop.new_event_loop, _fan_out(definition, n)))
    with tempfile.TemporaryDirectory() as folder:
        counter = iter(range(1000))

        def fresh() -> Store:
            return SqliteStore(f"{folder}/{next(counter)}")

        ours = median_of(runs, lambda: _run(uvloop.new_event_loop, _fan_out(definition, n, fresh)))

        def raw_inserts() -> float:
            conn = sqlite3.connect(f"{folder}/raw-{next(counter)}.db", isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(
                "CREATE TABLE events (run_id TEXT, seq INTEGER, data TEXT,"
                " PRIMARY KEY (run_id, seq)) WITHOUT ROWID"
            )
            rows = [("r", i, '{"status":"succeeded","step_id":"work"}') for i in range(2 * n)]
            started = time.perf_counter()
            for start in range(0, len(rows), 500):  # commits of 500, like a busy group commit
                conn.execute("BEGIN")
                conn.executemany("INSERT INTO events VALUES (?,?,?)", rows[start : start + 500])
                conn.execute("COMMIT")
            elapsed = time.perf_counter() - started
            conn.close()
            return elapsed

        raw = median_of(runs, raw_inserts)
    return [
        Figure(
            f"durable throughput, {n} no-op steps on SQLite",
            n / ours,
            "steps/s",
            n / memory,
            "same run, in-memory store",
            target=">= 20,000",
        ),
        Figure(
            "raw SQLite: 2 event rows per step, same durability",
            n / raw,
            "steps/s",
            note="the floor: inserts alone, no orchestration",
        ),
    ]
