"""Functions cpu steps call on Dask workers in the tests: they report to the test over a
loopback socket, so the test waits for what happened instead of for time to pass."""

from __future__ import annotations

import os
import socket
import time
from typing import Any


def current_key() -> str:
    """The Dask key of the task running this call."""
    from distributed import get_worker

    return str(get_worker().get_current_task())


def report_and_wait(port: int) -> dict[str, Any]:
    """Tell the test which process runs this call and under which key, then wait for its go."""
    key = current_key()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        conn.sendall(f"{os.getpid()} {key}\n".encode())
        conn.settimeout(60)
        conn.recv(1)
    return {"pid": os.getpid(), "key": key}


def report_and_spin(port: int) -> None:
    """Tell the test it started, spin until stopped, tell the test it ended."""
    key = current_key()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        conn.sendall(f"started {os.getpid()} {key}\n".encode())
        try:
            while True:
                pass
        finally:
            conn.sendall(b"ended\n")


def marks(path: str, ticks: int, first_ticks: int) -> int:
    """Like tests.effects:marks, but names each attempt by its Dask key (attempts may share a
    worker process, run twice under one key): appends `KEY@PID start|tick|end TIME` lines to
    `path`. The first attempt (no
    `path.keys` file yet) makes `first_ticks` marks 50 ms apart, later ones `ticks`."""
    key = f"{current_key()}@{os.getpid()}"
    if not os.path.exists(path + ".keys"):
        ticks = first_ticks
    with open(path + ".keys", "a") as keys:
        keys.write(f"{key}\n")

    def mark(kind: str) -> None:
        with open(path, "a") as out:
            out.write(f"{key} {kind} {time.time():.6f}\n")

    mark("start")
    for _ in range(ticks):
        deadline = time.monotonic() + 0.05
        while time.monotonic() < deadline:  # CPU work, not a sleep
            pass
        mark("tick")
    mark("end")
    return ticks


def pause(paused: bool, dask_worker: Any) -> None:
    """On a worker (client.run): take no new tasks (a thread already computing goes on), or
    take them again."""
    from distributed.core import Status

    dask_worker.status = Status.paused if paused else Status.running


def worker_states(dask_scheduler: Any) -> dict[str, str]:
    """On the scheduler: each worker's status as the scheduler knows it."""
    return {address: ws.status.name for address, ws in dask_scheduler.workers.items()}
