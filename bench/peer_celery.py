"""Celery app and tasks for `python -m bench peers` (the worker imports this module).

The broker and result backend are the bench's own Redis server, named by $MM_BENCH_REDIS."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from celery import Celery

from bench import tasks

_URL = os.environ.get("MM_BENCH_REDIS", "redis://127.0.0.1:1/0")  # never a default Redis port

app = Celery("mm_bench", broker=_URL, backend=_URL)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=600,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=16,
)


@app.task(name="noop")  # type: ignore[untyped-decorator]
def noop() -> Any:
    return tasks.noop()


@app.task(name="inc")  # type: ignore[untyped-decorator]
def inc(value: int) -> int:
    return tasks.inc(value)


@app.task(name="nap")  # type: ignore[untyped-decorator]
def nap() -> None:
    asyncio.run(tasks.nap())  # a Celery task is a plain function: one loop per call


@app.task(name="burn")  # type: ignore[untyped-decorator]
def burn() -> int:
    return tasks.burn()
