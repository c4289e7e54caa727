"""16 CPU steps on a local Dask cluster (2 single-threaded workers): the cpu agent with
`executor: dask` against raw `distributed.Client.map` and against the local process pool,
all in the same run on the same machine."""

from __future__ import annotations

import statistics
import time
from typing import Any

import uvloop

from agents.examples import spin
from bench.core import Figure
from mastermind.engine.agent import AgentRegistry
from mastermind.engine.coordinator import Coordinator, Settings
from mastermind.language.loader import load_text
from tests.dask_cluster import local_cluster

FLOW = """
name: cpu_dask_bench
inputs: {items: {type: array}, seconds: {type: number}}
steps:
  work: {agent: cpu, for_each: "${{ inputs.items }}",
         with: {function: "agents.examples:spin", args: ["${{ inputs.seconds }}"]}}
"""
STEPS = 16


def _through_mastermind(registry: AgentRegistry, seconds: float, runs: int) -> float:
    definition = load_text(FLOW, "cpu_dask.yaml", registry)

    async def main() -> list[float]:
        async with Coordinator(registry, settings=Settings()) as coordinator:
            await coordinator.run(definition, {"items": [0, 1, 2, 3], "seconds": 0.0})  # warm
            times = []
            for _ in range(runs):
                began = time.perf_counter()
                result = await coordinator.run(
                    definition, {"items": list(range(STEPS)), "seconds": seconds}
                )
                times.append(time.perf_counter() - began)
                assert result.ok, result.error
            return times

    return statistics.median(uvloop.run(main()))


def _raw_map(address: str, seconds: float, runs: int) -> float:
    from distributed import Client

    connect: Any = Client  # untyped
    times = []
    with connect(address, set_as_default=False) as client:
        client.gather(client.map(spin, [0.0] * 4, pure=False))  # warm
        for _ in range(runs):
            began = time.perf_counter()
            client.gather(client.map(spin, [seconds] * STEPS, pure=False))
            times.append(time.perf_counter() - began)
    return statistics.median(times)


def dask_cpu(quick: bool) -> list[Figure]:
    """Wall time of 16 spin(seconds) calls: serial, raw Client.map, the agent on Dask, the
    agent on the local pool."""
    seconds = 0.02 if quick else 0.25
    runs = 1 if quick else 5
    began = time.perf_counter()
    for _ in range(STEPS):
        spin(seconds)
    serial = time.perf_counter() - began
    local = _through_mastermind(AgentRegistry(load_plugins=False), seconds, runs)
    with local_cluster(2) as cluster:
        raw = _raw_map(cluster.address, seconds, runs)
        dask_settings = {"cpu": {"executor": "dask", "scheduler": cluster.address}}
        ours = _through_mastermind(
            AgentRegistry(load_plugins=False, settings=dask_settings), seconds, runs
        )
    return [
        Figure(
            f"{STEPS} CPU steps on Dask (2 workers): speed-up over serial",
            serial / ours,
            "x",
            serial / raw,
            "raw Client.map speed-up",
            target="close to raw",
        ),
        Figure(
            "overhead per CPU step on Dask vs raw Client.map",
            (ours - raw) / STEPS * 1000,
            "ms",
            higher_is_better=False,
        ),
        Figure(
            f"{STEPS} CPU steps: wall on Dask vs the local process pool",
            ours,
            "s",
            local,
            "local process pool (2 workers)",
            higher_is_better=False,
        ),
    ]
