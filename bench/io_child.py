"""Run n concurrent 1-second sleeps (raw, or as mastermind steps) and report wall time and RSS.

A separate process, so that peak RSS belongs to this measurement alone.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import tempfile
import time

import uvloop


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


async def raw(n: int) -> None:
    await asyncio.gather(*(asyncio.sleep(1.0) for _ in range(n)))


async def ours(n: int, state_dir: str | None = None) -> None:
    from bench.agents import bench_registry
    from mastermind.engine.coordinator import Coordinator
    from mastermind.language.loader import load_text
    from mastermind.store.sqlite import SqliteStore

    registry = bench_registry()
    definition = load_text(
        f"name: io\nconcurrency: {n}\ninputs: {{items: {{type: array}}}}\n"
        "steps:\n  wait: {agent: nap, for_each: '${{ inputs.items }}', with: {seconds: 1.0}}\n",
        "io.yaml",
        registry,
    )
    store = SqliteStore(state_dir) if state_dir is not None else None
    async with Coordinator(registry, store) as coordinator:
        result = await coordinator.run(definition, {"items": list(range(n))})
        assert result.ok, result.error


def main() -> None:
    kind, n = sys.argv[1], int(sys.argv[2])
    if kind.startswith("mastermind"):  # import everything before the baseline reading
        import bench.agents  # noqa: F401
        import mastermind.engine.coordinator
        import mastermind.store.sqlite  # noqa: F401
    with tempfile.TemporaryDirectory() as folder:
        before = rss_bytes()
        started = time.perf_counter()
        if kind == "mastermind-sqlite":  # every transition committed to SQLite
            uvloop.run(ours(n, folder))
        else:
            uvloop.run(ours(n) if kind == "mastermind" else raw(n))
        wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"wall": wall, "rss_per_step": (peak - before) / n}))


if __name__ == "__main__":
    main()
