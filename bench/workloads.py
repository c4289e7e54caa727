"""W1–W4 as mastermind workflows, and the same work as raw asyncio on uvloop (the baseline).

W1 2,000-item fan-out of `noop()`; W2 a 200-step chain, each step `inc(previous output)`;
W3 2,000 x `await asyncio.sleep(0.1)`; W4 200 x `burn()` (a few ms of pure-Python CPU) in
worker processes. Task bodies are in `bench.tasks`, shared with the peers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from bench import tasks


def w1(inline: bool = True) -> str:
    flag = ", inline: true" if inline else ""
    return (
        "name: w1\n"
        "inputs: {items: {type: array}}\n"
        "steps:\n"
        "  work:\n"
        "    agent: python\n"
        '    for_each: "${{ inputs.items }}"\n'
        f'    with: {{function: "bench.tasks:noop"{flag}}}\n'
    )


def w2(steps: int = tasks.W2_STEPS, inline: bool = True) -> str:
    flag = ", inline: true" if inline else ""
    lines = ["name: w2", "steps:"]
    lines.append(f'  s0: {{agent: python, with: {{function: "bench.tasks:inc", args: [0]{flag}}}}}')
    for i in range(1, steps):
        arg = f'"${{{{ steps.s{i - 1}.outputs }}}}"'
        lines.append(
            f"  s{i}: {{agent: python, needs: [s{i - 1}],"
            f' with: {{function: "bench.tasks:inc", args: [{arg}]{flag}}}}}'
        )
    return "\n".join(lines) + "\n"


def w3() -> str:
    return (
        "name: w3\n"
        "inputs: {items: {type: array}}\n"
        "steps:\n"
        "  work:\n"
        "    agent: python\n"
        '    for_each: "${{ inputs.items }}"\n'
        '    with: {function: "bench.tasks:nap"}\n'
    )


def w4() -> str:
    return (
        "name: w4\n"
        "inputs: {items: {type: array}}\n"
        "steps:\n"
        "  work:\n"
        "    agent: cpu\n"
        '    for_each: "${{ inputs.items }}"\n'
        '    with: {function: "bench.tasks:burn"}\n'
    )


# ---------------------------------------------------------------------------------- raw baselines


async def _call(function: Callable[..., Any], *args: Any) -> Any:
    return function(*args)


async def raw_w1(n: int = tasks.W1_ITEMS) -> float:
    """n tasks, each calling noop() on the loop."""
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    await asyncio.gather(*(loop.create_task(_call(tasks.noop)) for _ in range(n)))
    return time.perf_counter() - started


async def raw_w2(n: int = tasks.W2_STEPS) -> float:
    """n tasks one after the other, each inc() of the previous result."""
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    value = 0
    for _ in range(n):
        value = await loop.create_task(_call(tasks.inc, value))
    assert value == n
    return time.perf_counter() - started


async def raw_w3(n: int = tasks.W3_ITEMS) -> float:
    """n tasks, each awaiting nap()."""
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    await asyncio.gather(*(loop.create_task(tasks.nap()) for _ in range(n)))
    return time.perf_counter() - started


async def raw_w4(n: int = tasks.W4_ITEMS, workers: int = 2) -> float:
    """n burn() calls through a ProcessPoolExecutor of `workers`, started inside the timing
    (as `mastermind run` starts its pool)."""
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        await asyncio.gather(*(loop.run_in_executor(pool, tasks.burn) for _ in range(n)))
    return time.perf_counter() - started
