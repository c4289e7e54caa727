"""Agents against their raw baselines: CPU fan-out, HTTP throughput (Socratic: socratic_bench)."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import aiohttp
import uvloop

from agents.examples import spin
from bench.core import Figure
from mastermind.engine.agent import AgentRegistry
from mastermind.engine.coordinator import Coordinator, Settings
from mastermind.language.loader import load_text

CPU_FLOW = """
name: cpu_bench
inputs: {items: {type: array}, seconds: {type: number}}
steps:
  work: {agent: cpu, for_each: "${{ inputs.items }}",
         with: {function: "agents.examples:spin", args: ["${{ inputs.seconds }}"]}}
"""


def cpu_fan_out(quick: bool) -> list[Figure]:
    """8 CPU steps on all cores vs the same 8 calls one after another."""
    seconds = 0.05 if quick else 0.25
    n = 8
    started = time.perf_counter()
    for _ in range(n):
        spin(seconds)
    serial = time.perf_counter() - started

    with ProcessPoolExecutor() as pool:
        list(pool.map(spin, [0.0] * 4))  # warm
        started = time.perf_counter()
        list(pool.map(spin, [seconds] * n))
        raw_pool = time.perf_counter() - started

    registry = AgentRegistry(load_plugins=False)
    definition = load_text(CPU_FLOW, "cpu.yaml", registry)

    async def main() -> float:
        async with Coordinator(registry, settings=Settings()) as coordinator:
            await coordinator.process_pool.start()
            await coordinator.run(definition, {"items": [0, 1], "seconds": 0.0})
            began = time.perf_counter()
            result = await coordinator.run(
                definition, {"items": list(range(n)), "seconds": seconds}
            )
            assert result.ok, result.error
            return time.perf_counter() - began

    ours = uvloop.run(main())
    overhead = (ours - raw_pool) / n * 1000
    return [
        Figure(
            f"{n} CPU steps: speed-up over serial",
            serial / ours,
            "x",
            serial / raw_pool,
            "ProcessPoolExecutor speed-up",
            target=">= 1.8x on 2 cores",
        ),
        Figure(
            "overhead per CPU step vs ProcessPoolExecutor", overhead, "ms", higher_is_better=False
        ),
    ]


HTTP_FLOW = """
name: http_bench
inputs: {items: {type: array}, url: {type: string}}
concurrency: {concurrency}
steps:
  get: {agent: http, for_each: "${{ inputs.items }}", with: {url: "${{ inputs.url }}"}}
"""

SERVER = """
import sys
from aiohttp import web
async def ok(request): return web.Response(text="ok")
app = web.Application(); app.router.add_get("/", ok)
ready = lambda *a: print("ready", flush=True)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=ready)
"""


def http(quick: bool) -> list[Figure]:
    """N GETs to a local aiohttp server (another process): agent vs raw aiohttp, same limit."""
    n = 1_000 if quick else 10_000
    concurrency = 64
    port = 18765
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and "ready" in server.stdout.readline()
        url = f"http://127.0.0.1:{port}/"

        async def raw() -> float:
            limit = asyncio.Semaphore(concurrency)
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:

                async def one() -> None:
                    async with limit, session.get(url) as response:
                        await response.read()

                await asyncio.gather(*(one() for _ in range(200)))
                began = time.perf_counter()
                await asyncio.gather(*(one() for _ in range(n)))
                return time.perf_counter() - began

        registry = AgentRegistry(load_plugins=False)
        definition = load_text(
            HTTP_FLOW.replace("{concurrency}", str(concurrency)), "h.yaml", registry
        )

        async def ours() -> float:
            async with Coordinator(registry) as coordinator:
                await coordinator.run(definition, {"items": list(range(200)), "url": url})
                began = time.perf_counter()
                result = await coordinator.run(definition, {"items": list(range(n)), "url": url})
                assert result.ok, result.error
                return time.perf_counter() - began

        runs = 1 if quick else 3
        raw_time = statistics.median(uvloop.run(raw()) for _ in range(runs))
        our_time = statistics.median(uvloop.run(ours()) for _ in range(runs))
    finally:
        server.terminate()
        server.wait(10)
    return [
        Figure(
            f"http agent: {n} GETs, concurrency {concurrency}",
            n / our_time,
            "req/s",
            n / raw_time,
            "raw aiohttp",
            target=">= 70% of raw",
        ),
    ]
