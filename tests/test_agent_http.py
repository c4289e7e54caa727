"""The http agent against a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

from aiohttp import web

from mastermind.engine.agent import AgentRegistry
from mastermind.engine.clock import FakeClock
from mastermind.engine.coordinator import Coordinator
from mastermind.language.loader import Definition, load_text
from mastermind.store.events import Event, RunStatus
from tests.servers import serve

Load = Callable[[str], Definition]


def app() -> tuple[web.Application, Counter[str], list[str]]:
    hits: Counter[str] = Counter()
    keys: list[str] = []

    async def ok(request: web.Request) -> web.Response:
        keys.append(request.headers.get("Idempotency-Key", ""))
        return web.json_response({"hello": request.query.get("name", "world")})

    async def flaky(request: web.Request) -> web.Response:
        hits["flaky"] += 1
        keys.append(request.headers.get("Idempotency-Key", ""))
        if hits["flaky"] < 3:
            return web.Response(status=503, text="busy")
        return web.Response(text="finally")

    async def missing(request: web.Request) -> web.Response:
        hits["missing"] += 1
        return web.Response(status=404, text="no such thing")

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 5000)

    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"got": await request.json(), "method": request.method})

    application = web.Application()
    application.router.add_get("/ok", ok)
    application.router.add_get("/flaky", flaky)
    application.router.add_get("/missing", missing)
    application.router.add_get("/big", big)
    application.router.add_post("/echo", echo)
    return application, hits, keys


FLOW = """
name: web
inputs: {base: {type: string}}
on_failure: continue
steps:
  hello: {agent: http, with: {url: "${{ inputs.base }}/ok", query: {name: ada}}}
  post: {agent: http, with: {method: POST, url: "${{ inputs.base }}/echo", json: {a: [1, 2]}}}
  flaky:
    agent: http
    with: {url: "${{ inputs.base }}/flaky"}
    retry: {attempts: 5, initial: 1s, jitter: false}
  missing:
    agent: http
    with: {url: "${{ inputs.base }}/missing"}
    retry: {attempts: 5, initial: 1s}
  big: {agent: http, with: {url: "${{ inputs.base }}/big", max_bytes: 1000}}
  refused: {agent: http, with: {url: "http://127.0.0.1:9/nothing", timeout: 2s}}
outputs:
  hello: ${{ steps.hello.outputs.json.hello }}
"""


async def test_http_agent_end_to_end(registry: AgentRegistry, load: Load) -> None:
    application, hits, keys = app()
    definition = load(FLOW)
    async with serve(application) as base, Coordinator(registry, clock=FakeClock()) as coordinator:
        events: list[Event] = []
        coordinator.subscribe(events.append)
        result = await coordinator.run(definition, {"base": base})
    assert result.status == RunStatus.FAILED
    assert result.steps == {
        "hello": "succeeded",
        "post": "succeeded",
        "flaky": "succeeded",
        "missing": "failed",
        "big": "failed",
        "refused": "failed",
    }
    final = {e.step_id: e for e in events if e.step_id and e.status in ("succeeded", "failed")}
    assert final["hello"].outputs["status"] == 200
    assert final["hello"].outputs["json"] == {"hello": "ada"}
    assert final["post"].outputs["json"] == {"got": {"a": [1, 2]}, "method": "POST"}
    assert final["flaky"].outputs["body"] == "finally"
    assert final["flaky"].attempt == 3 and hits["flaky"] == 3  # 503 is retried
    assert hits["missing"] == 1  # 404 is not
    assert "HTTP 404" in (final["missing"].error or "")
    assert "over the 1000-byte limit" in (final["big"].error or "")
    assert final["refused"].attempt == 1 and "failed" in (final["refused"].error or "")
    # the server saw the step's idempotency key, the same on every attempt
    run = result.run_id
    assert f"{run}/hello" in keys
    assert keys.count(f"{run}/flaky") == 3


async def test_connection_errors_are_retryable(registry: AgentRegistry, load: Load) -> None:
    definition = load(
        "name: r\nsteps:\n  x: {agent: http, with: {url: 'http://127.0.0.1:9/'},"
        " retry: {attempts: 3, initial: 1s}}\n"
    )
    async with Coordinator(registry, clock=FakeClock()) as coordinator:
        events: list[Event] = []
        coordinator.subscribe(events.append)
        await coordinator.run(definition)
    assert [e.attempt for e in events if e.status == "retrying"] == [1, 2]


async def peak_concurrency(limit_per_host: int) -> int:
    """Eight requests at once to a server that holds each until two are in flight."""
    active = 0
    peak = 0
    two_in_flight = asyncio.Event()

    async def hold(request: web.Request) -> web.Response:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        if active >= 2:
            two_in_flight.set()
        try:
            async with asyncio.timeout(5):
                await two_in_flight.wait()
            await asyncio.sleep(0)  # let any other admitted request arrive
            return web.Response(text="ok")
        finally:
            active -= 1

    application = web.Application()
    application.router.add_get("/hold", hold)
    registry = AgentRegistry(
        load_plugins=False, settings={"http": {"limit_per_host": limit_per_host}}
    )
    definition = load_text(
        "name: p\ninputs: {base: {type: string}}\nsteps:\n"
        "  x: {agent: http, for_each: '${{ [1,2,3,4,5,6,7,8] }}',"
        " with: {url: '${{ inputs.base }}/hold'}}\n",
        "p.yaml",
        registry,
    )
    async with serve(application) as base, Coordinator(registry) as coordinator:
        result = await coordinator.run(definition, {"base": base})
    assert result.ok
    return peak


async def test_per_host_limit_is_respected() -> None:
    assert await peak_concurrency(2) == 2
    assert await peak_concurrency(0) > 2  # and without the limit the server sees more
