"""One peer in a fresh process: start it (not timed), warm it up, time W1–W4.

`python -m bench.peer_drivers NAME RUNS` prints {"w1": [seconds...], ..., "sizes": {...},
"skipped": {"w3": "why"}}. Sizes are W1–W4's unless "sizes" says otherwise (Prefect, whose
per-task cost would make full sizes take many minutes). Needs $MM_BENCH_REDIS for Redis peers.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench import tasks

Timings = dict[str, Any]
SIZES = {"w1": tasks.W1_ITEMS, "w2": tasks.W2_STEPS, "w3": tasks.W3_ITEMS, "w4": tasks.W4_ITEMS}


def timed(runs: int, work: Callable[[], object]) -> list[float]:
    """One warm-up, then `runs` timings of `work()`."""
    work()
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        out.append(time.perf_counter() - started)
    return out


@contextmanager
def worker_process(
    argv: list[str], ready: Callable[[], bool], timeout: float = 120
) -> Iterator[None]:
    """A peer's worker process, started and waited for (not timed), stopped by its pid."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while not ready():
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    tail = log.read()[-2000:].decode(errors="replace")
                    raise RuntimeError(f"{argv[2:5]} did not start: {tail}")
                time.sleep(0.2)
            yield
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(30)


# ------------------------------------------------------------------------------------- Celery


def celery(pool: str, runs: int) -> Timings:
    from celery import chain, group

    from bench.peer_celery import app, burn, inc, nap, noop

    concurrency = "64" if pool == "threads" else "2"
    argv = [sys.executable, "-m", "celery", "-A", "bench.peer_celery", "worker", "--pool", pool]
    argv += ["--concurrency", concurrency, "--loglevel", "WARNING"]
    argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]

    def ready() -> bool:
        return bool(app.control.ping(timeout=0.5))

    out: Timings = {"skipped": {}, "note": f"{pool} pool, concurrency {concurrency}"}
    with worker_process(argv, ready):
        out["w1"] = timed(
            runs, lambda: group(noop.s() for _ in range(tasks.W1_ITEMS)).apply_async().get(600)
        )
        links = [inc.s(0), *(inc.s() for _ in range(tasks.W2_STEPS - 1))]
        out["w2"] = timed(runs, lambda: chain(*links).apply_async().get(600))
        if pool == "threads":
            out["w3"] = timed(
                runs, lambda: group(nap.s() for _ in range(tasks.W3_ITEMS)).apply_async().get(600)
            )
        else:
            out["skipped"]["w3"] = "2 processes x 2,000 sleeps of 0.1 s would take 100 s"
        out["w4"] = timed(
            runs, lambda: group(burn.s() for _ in range(tasks.W4_ITEMS)).apply_async().get(600)
        )
    return out


# ------------------------------------------------------------------------------------- Dask


def noop_item(_: int) -> Any:
    return tasks.noop()


def burn_item(_: int) -> int:
    return tasks.burn()


async def nap_item(_: int) -> None:
    await tasks.nap()


def dask(runs: int) -> Timings:
    from distributed import Client, LocalCluster

    out: Timings = {"skipped": {}, "note": "LocalCluster, 2 processes x 32 threads"}
    with (
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=32, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):

        def w1() -> None:
            client.gather(client.map(noop_item, range(tasks.W1_ITEMS), pure=False))

        def w2() -> None:
            value: Any = client.submit(tasks.inc, 0, pure=False)
            for _ in range(tasks.W2_STEPS - 1):
                value = client.submit(tasks.inc, value, pure=False)
            assert value.result() == tasks.W2_STEPS

        def w3() -> None:  # coroutine functions run on the worker's event loop
            client.gather(client.map(nap_item, range(tasks.W3_ITEMS), pure=False))

        def w4() -> None:
            client.gather(client.map(burn_item, range(tasks.W4_ITEMS), pure=False))

        for name, work in (("w1", w1), ("w2", w2), ("w3", w3), ("w4", w4)):
            out[name] = timed(runs, work)
    return out


# ------------------------------------------------------------------------------------- arq


def arq(runs: int) -> Timings:
    from arq import create_pool

    from bench.peer_arq import redis_settings

    loop = asyncio.new_event_loop()
    redis = loop.run_until_complete(create_pool(redis_settings()))
    poll = 0.002  # results are polled: generous to arq (its default is 0.5 s)

    async def each(function: str, n: int) -> None:
        jobs = [await redis.enqueue_job(function) for _ in range(n)]
        for job in jobs:
            assert job is not None
            await job.result(timeout=600, poll_delay=poll)

    async def chain() -> None:
        value = 0
        for _ in range(tasks.W2_STEPS):
            job = await redis.enqueue_job("inc", value)
            assert job is not None
            value = await job.result(timeout=600, poll_delay=poll)
        assert value == tasks.W2_STEPS

    def ready() -> bool:
        try:
            loop.run_until_complete(asyncio.wait_for(each("noop", 1), 1.0))
        except TimeoutError:
            return False
        return True

    out: Timings = {"skipped": {}, "note": "1 worker process, max_jobs 2,000, polls every 2 ms"}
    argv = [sys.executable, "-m", "arq", "bench.peer_arq.WorkerSettings"]
    try:
        with worker_process(argv, ready):
            out["w1"] = timed(runs, lambda: loop.run_until_complete(each("noop", tasks.W1_ITEMS)))
            out["w2"] = timed(runs, lambda: loop.run_until_complete(chain()))
            out["w3"] = timed(runs, lambda: loop.run_until_complete(each("nap", tasks.W3_ITEMS)))
            out["w4"] = timed(runs, lambda: loop.run_until_complete(each("burn", tasks.W4_ITEMS)))
    finally:
        loop.run_until_complete(redis.aclose())
        loop.close()
    return out


# ------------------------------------------------------------------------------------- Prefect

PREFECT_SIZES = {"w1": 200, "w2": 50, "w3": 200, "w4": 40}


def prefect(runs: int) -> Timings:
    from prefect import flow, task
    from prefect.task_runners import ProcessPoolTaskRunner

    @task  # type: ignore[untyped-decorator]
    def noop_t() -> Any:
        return tasks.noop()

    @task  # type: ignore[untyped-decorator]
    def inc_t(value: int) -> int:
        return tasks.inc(value)

    @task  # type: ignore[untyped-decorator]
    async def nap_t() -> None:
        await tasks.nap()

    @task  # type: ignore[untyped-decorator]
    def burn_t() -> int:
        return tasks.burn()

    @flow  # type: ignore[untyped-decorator]
    def w1(n: int) -> None:
        for future in [noop_t.submit() for _ in range(n)]:
            future.result()

    @flow  # type: ignore[untyped-decorator]
    def w2(n: int) -> None:
        value = 0
        for _ in range(n):
            value = inc_t(value)

    @flow  # type: ignore[untyped-decorator]
    async def w3(n: int) -> None:
        await asyncio.gather(*(nap_t() for _ in range(n)))

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=2))  # type: ignore[untyped-decorator]
    def w4(n: int) -> None:
        for future in [burn_t.submit() for _ in range(n)]:
            future.result()

    sizes = PREFECT_SIZES
    out: Timings = {"skipped": {}, "sizes": sizes, "note": "ephemeral server; smaller sizes"}
    out["w1"] = timed(runs, lambda: w1(sizes["w1"]))
    out["w2"] = timed(runs, lambda: w2(sizes["w2"]))
    out["w3"] = timed(runs, lambda: asyncio.run(w3(sizes["w3"])))
    out["w4"] = timed(runs, lambda: w4(sizes["w4"]))
    return out


DRIVERS: dict[str, Callable[[int], Timings]] = {
    "celery_threads": lambda runs: celery("threads", runs),
    "celery_prefork": lambda runs: celery("prefork", runs),
    "dask": dask,
    "arq": arq,
    "prefect": prefect,
}


def main(argv: list[str]) -> int:
    name, runs = argv[0], int(argv[1])
    result = DRIVERS[name](runs)
    sys.stdout.flush()
    print("\n" + json.dumps(result))  # last line: the peers' own logs may precede it
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main(sys.argv[1:]))
