"""`mastermind worker`: run a share of the work kept in PostgreSQL (one of several daemons)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import Any

from mastermind.engine.agent import AgentRegistry
from mastermind.engine.coordinator import Coordinator, Settings
from mastermind.errors import MastermindError
from mastermind.language.durations import parse_duration


def add_worker_command(sub: Any) -> None:
    worker = sub.add_parser("worker", help="claim and run work from a shared PostgreSQL store")
    worker.add_argument(
        "--dsn",
        default=os.environ.get("MASTERMIND_DSN"),
        help="postgresql://user@host:port/database (default: $MASTERMIND_DSN)",
    )
    worker.add_argument("--schema", default="mastermind")
    worker.add_argument("--lease", default="15s", help="how long a claim lasts without renewal")
    worker.add_argument("--capacity", type=int, default=100, help="runs at once")
    worker.add_argument("--poll", default="1s", help="how often to look for work")
    worker.add_argument("--grace", default="30s", help="time running work gets on SIGTERM")
    worker.set_defaults(handler=cmd_worker)


def cmd_worker(args: argparse.Namespace) -> int:
    from mastermind.engine.runtime import run_with_loop

    if not args.dsn:
        raise MastermindError("worker: give --dsn or set MASTERMIND_DSN")
    return int(run_with_loop(_work(args)))


async def _work(args: argparse.Namespace) -> int:
    from mastermind.service.leases import LeaseKeeper
    from mastermind.service.worker import Worker
    from mastermind.store.postgres import PostgresStore

    store = PostgresStore(args.dsn, schema=args.schema, lease_seconds=parse_duration(args.lease))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with Coordinator(AgentRegistry(), store, settings=Settings()) as coordinator:
        worker = Worker(
            coordinator, store, capacity=args.capacity, poll_seconds=parse_duration(args.poll)
        )
        leases = asyncio.create_task(LeaseKeeper(coordinator, store).run(), name="leases")
        try:
            print(f"worker {store.owner} ready", file=sys.stderr, flush=True)
            await worker.run(stop)
            # drain (leases still renewed): running work may finish within the grace period;
            # the rest is handed back, resumable
            active = coordinator.active_runs
            if active:
                waits = [asyncio.ensure_future(coordinator.wait(run_id)) for run_id in active]
                _, pending = await asyncio.wait(waits, timeout=parse_duration(args.grace))
                for waiter in pending:
                    waiter.cancel()
                await asyncio.gather(*waits, return_exceptions=True)
                left = coordinator.active_runs
                for run_id in left:
                    coordinator.abandon(run_id)
                try:
                    await store.release(left)
                except Exception as exc:  # their leases expire on their own
                    print(f"mastermind: could not hand runs back: {exc}", file=sys.stderr)
        finally:
            leases.cancel()
            await asyncio.gather(leases, return_exceptions=True)
    return 0
