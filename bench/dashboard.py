"""The dashboard's cost: a run page beside the JSON API for the same run, and a fan-out's
throughput while a page watches it live, beside the same fan-out unwatched.

In process: a Daemon with its SQLite store in a temporary directory, its aiohttp app on a
loopback port, uvloop. The watcher behaves as the page's script does: it follows
/ui/stream?run=ID and fetches the live fragment after each `change`, waiting 4x the last fetch.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from aiohttp import web

from bench.core import Figure

TOKEN = "bench-token"
PAUSE = 4  # as app.js


async def _measure(items: int, repeats: int) -> dict[str, float]:
    from mastermind.service.api import make_app
    from mastermind.service.config import Config
    from mastermind.service.daemon import Daemon

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "workflows"
        folder.mkdir()
        (folder / "fan.yaml").write_text(
            "name: fan\ninputs: {names: {type: array}}\nsteps:\n  each:\n    agent: noop\n"
            "    for_each: ${{ inputs.names }}\n    with: {value: '${{ item }}'}\n"
        )
        config = Config.model_validate(
            {"workflows": folder, "store": {"state_dir": Path(scratch) / "state"}}
        )
        daemon = Daemon(config)
        daemon.tokens = [TOKEN]
        async with daemon.coordinator:
            await daemon.load_workflows()
            fan = daemon.catalog["fan"]
            names = {"names": [f"n{i}" for i in range(items)]}
            runner = web.AppRunner(make_app(daemon), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            url = f"http://127.0.0.1:{runner.addresses[0][1]}"
            jar = aiohttp.CookieJar(unsafe=True)
            try:
                async with aiohttp.ClientSession(cookie_jar=jar) as http:
                    async with http.post(f"{url}/ui/login", data={"token": TOKEN}) as r:
                        await r.read()

                    async def run(watch: bool) -> float:
                        started = time.perf_counter()
                        run_id = await daemon.coordinator.submit(fan, names)
                        watcher = (
                            asyncio.ensure_future(_watch(http, url, run_id)) if watch else None
                        )
                        try:
                            await daemon.coordinator.wait(run_id)
                        finally:
                            if watcher is not None:
                                watcher.cancel()
                                await asyncio.gather(watcher, return_exceptions=True)
                        return time.perf_counter() - started

                    await run(False)  # warm-up: the first run also pays one-time costs
                    unwatched: list[float] = []
                    watched: list[float] = []
                    for i in range(repeats):  # ABBA order: drift and position hit both alike
                        for watch in (False, True) if i % 2 == 0 else (True, False):
                            (watched if watch else unwatched).append(await run(watch))
                    last = (await daemon.store.list_runs(limit=1))[0].run_id
                    headers = {"Authorization": f"Bearer {TOKEN}"}
                    page = await _timed(http, f"{url}/ui/runs/{last}", repeats)
                    api = await _timed(http, f"{url}/api/v1/runs/{last}", repeats, headers)
                    table = await _timed(http, f"{url}/ui/runs", repeats * 4)
                    listing = await _timed(
                        http, f"{url}/api/v1/runs?limit=25", repeats * 4, headers
                    )
            finally:
                await runner.cleanup()
    return {
        "unwatched": sorted(unwatched)[len(unwatched) // 2],
        "watched": sorted(watched)[len(watched) // 2],
        "page": page,
        "api": api,
        "table": table,
        "listing": listing,
    }


async def _timed(
    http: aiohttp.ClientSession, url: str, repeats: int, headers: dict[str, str] | None = None
) -> float:
    times = []
    async with http.get(url, headers=headers) as response:  # warm-up: compiles the templates
        await response.read()
    for _ in range(repeats):
        started = time.perf_counter()
        async with http.get(url, headers=headers) as response:
            await response.read()
            assert response.status == 200, (url, response.status)
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


async def _watch(http: aiohttp.ClientSession, url: str, run_id: str) -> None:
    """What an open run page does: follow the stream, refetch after each change."""
    fragment = f"{url}/ui/runs/{run_id}/live"
    not_before = 0.0
    async with http.get(f"{url}/ui/stream", params={"run": run_id}) as stream:
        async for line in stream.content:
            if not line.startswith(b"event: change"):
                continue
            wait = not_before - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            started = time.perf_counter()
            async with http.get(fragment, headers={"X-Fragment": "1"}) as response:
                await response.read()
            took = time.perf_counter() - started
            not_before = time.perf_counter() + max(0.3, PAUSE * took)


def dashboard(quick: bool) -> list[Figure]:
    items, repeats = (500, 1) if quick else (10_000, 4)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        m: dict[str, Any] = runner.run(_measure(items, repeats))
    where = f"{items:,}-item fan-out, noop agent, SQLite store"
    return [
        Figure(
            f"dashboard: run page ({where})",
            m["page"] * 1000,
            "ms",
            baseline=m["api"] * 1000,
            baseline_name="GET /api/v1/runs/ID, same run",
            higher_is_better=False,
        ),
        Figure(
            "dashboard: runs table (25 rows)",
            m["table"] * 1000,
            "ms",
            baseline=m["listing"] * 1000,
            baseline_name="GET /api/v1/runs?limit=25",
            higher_is_better=False,
        ),
        Figure(
            f"dashboard: steps/s while a page watches live ({where})",
            items / m["watched"],
            "steps/s",
            baseline=items / m["unwatched"],
            baseline_name="same fan-out, no page open",
        ),
    ]
