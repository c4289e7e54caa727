"""arq functions and worker settings for `python -m bench peers` ($MM_BENCH_REDIS)."""

from __future__ import annotations

import os
from typing import Any, ClassVar
from urllib.parse import urlparse

from arq.connections import RedisSettings

from bench import tasks


def redis_settings() -> RedisSettings:
    url = urlparse(os.environ.get("MM_BENCH_REDIS", "redis://127.0.0.1:1/0"))
    return RedisSettings(host=url.hostname or "127.0.0.1", port=url.port or 1, database=0)


async def noop(ctx: dict[str, Any]) -> Any:
    return tasks.noop()


async def inc(ctx: dict[str, Any], value: int) -> int:
    return tasks.inc(value)


async def nap(ctx: dict[str, Any]) -> None:
    await tasks.nap()


async def burn(ctx: dict[str, Any]) -> int:
    return tasks.burn()  # arq runs jobs on its event loop: CPU work blocks it (one worker)


class WorkerSettings:
    functions: ClassVar[list[Any]] = [noop, inc, nap, burn]
    redis_settings = redis_settings()
    max_jobs = 2_000  # as many jobs at once as W3 has sleeps
    keep_result = 600
    poll_delay = 0.01
    health_check_interval = 3600
