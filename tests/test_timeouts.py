"""Timeouts by default: an http step with no timeout of its own still gives up on a server that
stops answering; the shipped config bounds every step; PostgreSQL calls cannot hang forever."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web

from agents.http import HttpAgent, HttpParams
from mastermind.engine.agent import StepContext
from mastermind.engine.clock import SystemClock
from mastermind.errors import RetryableStepError
from mastermind.service.config import load_config
from mastermind.store.postgres import PostgresStore
from tests.pg import PG_DSN, new_schema
from tests.servers import serve

ROOT = Path(__file__).resolve().parent.parent


async def test_an_http_step_without_a_timeout_still_has_a_read_timeout() -> None:
    stalled = asyncio.Event()
    release = asyncio.Event()

    async def stall(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"partial")  # headers and a first chunk, then nothing
        stalled.set()
        await release.wait()
        return response

    app = web.Application()
    app.router.add_get("/", stall)
    agent = HttpAgent(read_timeout=0.2)  # the daemon config: agents: {http: {read_timeout: ..}}
    ctx = StepContext("r", "s", None, 1, "w", SystemClock())
    try:
        async with serve(app) as url:
            with pytest.raises(RetryableStepError, match="Timeout"):
                async with asyncio.timeout(30):  # before: the step waited forever
                    await agent.run(HttpParams(url=url + "/"), ctx)
            assert stalled.is_set()
            release.set()
    finally:
        await agent.aclose()


def test_the_http_agent_has_finite_timeouts_by_default() -> None:
    agent = HttpAgent()
    assert 0 < agent.connect_timeout <= 60 and 0 < agent.read_timeout <= 3600


def test_the_shipped_config_bounds_every_step() -> None:
    config = load_config(ROOT / "config" / "mastermind.yaml", environ={})
    assert config.limits.step_timeout is not None and config.limits.step_timeout <= 86400


async def test_a_blocked_postgres_call_times_out() -> None:
    schema = new_schema()
    store = PostgresStore(PG_DSN, schema=schema, command_timeout=0.5)
    await store.open()
    blocker = await asyncpg.connect(PG_DSN)
    try:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute(f"LOCK TABLE {schema}.runs IN ACCESS EXCLUSIVE MODE")
        read = asyncio.ensure_future(store.get_run("r1"))
        done, _ = await asyncio.wait([read], timeout=30)  # before: it waited for the lock
        if not done:
            read.cancel()
            await asyncio.gather(read, return_exceptions=True)
        assert read in done and isinstance(read.exception(), TimeoutError)
        await transaction.rollback()
        assert await store.get_run("r1") is None  # the pool recovered
    finally:
        await blocker.execute(f"DROP SCHEMA {schema} CASCADE")
        await blocker.close()
        await store.close()
