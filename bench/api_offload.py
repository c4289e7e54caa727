"""The API's heavy requests, measured by the event-loop lag they cause: GET /runs/{id} of a
20,000-item run (decoding and folding its events, rendering the JSON) and validating a 1 MiB
workflow. Each lag figure is printed beside the same work done on the loop, which is how long
the loop used to be blocked."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import uvloop

from bench.core import Figure
from bench.loading import _largest_chain
from mastermind.language.loader import load_text
from mastermind.service.api import make_app, run_body
from mastermind.service.config import Config
from mastermind.service.daemon import Daemon
from mastermind.store.base import fold_texts

FAN = (
    "name: fan\ninputs: {items: {type: array}}\n"
    "steps:\n  each: {agent: noop, for_each: '${{ inputs.items }}', with: {value: 1}}\n"
)


async def _worst_lag(request: Callable[[], Awaitable[None]]) -> float:
    """The longest the loop went without running a 1 ms ticker while `request` ran."""
    loop = asyncio.get_running_loop()
    worst = 0.0
    done = False

    async def tick() -> None:
        nonlocal worst
        last = loop.time()
        while not done:
            await asyncio.sleep(0.001)
            now = loop.time()
            worst = max(worst, now - last - 0.001)
            last = now

    ticker = asyncio.create_task(tick())
    try:
        await request()
    finally:
        done = True
        await ticker
    return worst


async def _measure(root: str, items: int, runs: int, size: int) -> dict[str, list[float]]:
    from aiohttp import web

    found: dict[str, list[float]] = {"get": [], "get_on_loop": [], "val": [], "val_on_loop": []}
    folder = Path(root, "workflows")
    config = Config.model_validate(
        {"workflows": folder, "store": {"state_dir": Path(root, "state")}, "api": {}}
    )
    daemon = Daemon(config)
    daemon.tokens = ["t"]
    big = _largest_chain(size)
    async with daemon.coordinator:
        await daemon.load_workflows()
        run_id = await daemon.coordinator.submit(
            daemon.catalog["fan"], {"items": list(range(items))}
        )
        await daemon.coordinator.wait(run_id)
        runner = web.AppRunner(make_app(daemon))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        headers = {"Authorization": "Bearer t"}
        try:
            async with aiohttp.ClientSession(headers=headers) as http:

                async def get() -> None:
                    async with http.get(f"{url}/api/v1/runs/{run_id}") as response:
                        await response.read()

                async def validate() -> None:
                    async with http.post(
                        f"{url}/api/v1/workflows/validate",
                        data=big,
                        headers={"Content-Type": "text/yaml"},
                    ) as response:
                        await response.read()

                store = daemon.store
                registry = daemon.coordinator.registry
                for _ in range(runs):  # alternated, so a burst of load hits both alike
                    found["get"].append(await _worst_lag(get))
                    texts = await store.event_log(run_id)
                    record = await store.get_run(run_id)
                    started = time.perf_counter()
                    run_body(record, fold_texts(texts))
                    found["get_on_loop"].append(time.perf_counter() - started)
                    found["val"].append(await _worst_lag(validate))
                    started = time.perf_counter()
                    load_text(big, "big.yaml", registry)
                    found["val_on_loop"].append(time.perf_counter() - started)
        finally:
            await runner.cleanup()
    return found


def api_offload(quick: bool) -> list[Figure]:
    """Loop lag during GET /runs/{id} (20,000 items) and POST /workflows/validate (1 MiB)."""
    items = 2_000 if quick else 20_000
    size = 256 * 1024 if quick else 1024 * 1024
    with tempfile.TemporaryDirectory() as root:
        folder = Path(root, "workflows")
        folder.mkdir()
        (folder / "fan.yaml").write_text(FAN)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            found = runner.run(_measure(root, items, 1 if quick else 5, size))
    ms = {name: statistics.median(values) * 1000 for name, values in found.items()}
    return [
        Figure(
            f"loop lag during GET /runs/{{id}} of a {items}-item run (SQLite)",
            ms["get"],
            "ms",
            ms["get_on_loop"],
            "fold + render on the loop (the old block)",
            target="< 50 ms",
            higher_is_better=False,
            note="decoded, folded and rendered in a thread, the collector paused meanwhile",
        ),
        Figure(
            f"loop lag during POST /workflows/validate of {size // 1024} KiB",
            ms["val"],
            "ms",
            ms["val_on_loop"],
            "load_text on the loop (the old block)",
            target="< 50 ms",
            higher_is_better=False,
        ),
    ]
