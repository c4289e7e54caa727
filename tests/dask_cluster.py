"""A real local Dask cluster for tests and benchmarks: `dask scheduler` and `dask worker`
processes on 127.0.0.1, on ports the OS picks (never a standard service port)."""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 60.0


def _dask_command() -> list[str]:
    found = shutil.which("dask")
    if found is not None:
        return [found]
    return [sys.executable, "-m", "dask"]


def _environment() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT),
        # a worker lost mid-task fails the task at once (KilledWorker), so mastermind's own
        # retry policy is what tries again: the behaviour the tests pin down
        "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0",
        "PYTHONUNBUFFERED": "1",
    }


@dataclass
class _Process:
    popen: subprocess.Popen[str]
    lines: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=200))

    def pump(self, first: threading.Event | None = None, marker: str = "") -> None:
        """Read its output until it ends (a full pipe would block the process)."""
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line)
            if first is not None and marker in line:
                first.set()
        if first is not None:
            first.set()  # it ended before saying the marker: let the waiter look


@dataclass
class LocalCluster:
    """A scheduler and its workers, each a real process."""

    address: str = ""
    scheduler: _Process | None = None
    workers: list[_Process] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _spawn(self, argv: list[str], marker: str) -> _Process:
        popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        process = _Process(popen)
        seen = threading.Event()
        thread = threading.Thread(target=process.pump, args=(seen, marker), daemon=True)
        thread.start()
        self._threads.append(thread)
        if not seen.wait(STARTUP_TIMEOUT) or popen.poll() is not None:
            output = "".join(process.lines)
            popen.kill()
            raise RuntimeError(f"{' '.join(argv[:3])} did not start:\n{output}")
        return process

    def start_scheduler(self) -> None:
        self.scheduler = self._spawn(
            [
                *_dask_command(),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--dashboard-address",
                "127.0.0.1:0",
            ],
            "Scheduler at:",
        )
        line = next(line for line in self.scheduler.lines if "Scheduler at:" in line)
        self.address = line.split("Scheduler at:", 1)[1].strip()

    def start_worker(self, nthreads: int = 1) -> _Process:
        """One worker process, single-threaded unless told (no nanny: a killed worker stays
        dead)."""
        worker = self._spawn(
            [
                *_dask_command(),
                "worker",
                self.address,
                "--host",
                "127.0.0.1",
                "--nthreads",
                str(nthreads),
                "--no-nanny",
                "--no-dashboard",
                "--memory-limit",
                "0",
            ],
            "Registered to:",
        )
        self.workers.append(worker)
        return worker

    def wait_for_workers(self, count: int) -> None:
        """Block until the scheduler reports `count` workers (its own event, not a sleep)."""
        from distributed import Client

        connect: Any = Client  # untyped
        with connect(self.address, timeout=STARTUP_TIMEOUT, set_as_default=False) as client:
            client.wait_for_workers(count, timeout=STARTUP_TIMEOUT)

    def stop(self) -> None:
        """Workers first (a worker whose scheduler went away first lingers), then the
        scheduler; each gets SIGTERM, then SIGKILL if it does not end."""
        groups = [self.workers, [self.scheduler] if self.scheduler else []]
        for group in groups:
            for process in group:
                if process.popen.poll() is None:
                    process.popen.send_signal(signal.SIGTERM)
            for process in group:
                try:
                    process.popen.wait(20)
                except subprocess.TimeoutExpired:
                    process.popen.kill()
                    process.popen.wait(5)
        for thread in self._threads:
            thread.join(5)
        for group in groups:
            for process in group:
                if process.popen.stdout is not None:
                    process.popen.stdout.close()


@contextmanager
def local_cluster(workers: int = 2, nthreads: int = 1) -> Iterator[LocalCluster]:
    """A scheduler and `workers` workers of `nthreads` threads, ready (the scheduler reports
    them all)."""
    cluster = LocalCluster()
    try:
        cluster.start_scheduler()
        for _ in range(workers):
            cluster.start_worker(nthreads)
        cluster.wait_for_workers(workers)
        yield cluster
    finally:
        cluster.stop()
