"""The daemon under HTTP load: N submits per second for D seconds on loopback.

Reports errors, the rate achieved, the daemon's RSS growth after warm-up, and the event-loop
lag p99 the daemon itself measured (from its /metrics histogram).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp
import uvloop

from bench.core import Figure

TOKEN = "bench-token"
PING = "name: ping\nsteps: {a: {agent: noop, with: {value: pong}}}\n"


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _runs_completed(metrics: str) -> float:
    """Runs the daemon has finished (any outcome), from its own counter."""
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("mastermind_runs_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _lag_p99(metrics: str) -> float:
    buckets: list[tuple[float, float]] = []
    for line in metrics.splitlines():
        if line.startswith("mastermind_event_loop_lag_seconds_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append(
                (float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1]))
            )
    total = buckets[-1][1] if buckets else 0.0
    for bound, count in buckets:
        if total and count >= 0.99 * total:
            return bound
    return 0.0


async def _load(url: str, rate: int, seconds: float, pid: int) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    errors = 0
    sent = 0
    accepted = 0
    rss: list[tuple[float, int]] = []
    limit = asyncio.Semaphore(256)
    tasks: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(headers=headers) as session:

        async def submit() -> None:
            nonlocal errors, accepted
            async with limit:
                try:
                    async with session.post(f"{url}/api/v1/runs", json={"workflow": "ping"}) as r:
                        await r.read()
                        if r.status != 201:
                            errors += 1
                        else:
                            accepted += 1
                except aiohttp.ClientError:
                    errors += 1

        loop = asyncio.get_running_loop()
        start = loop.time()
        next_sample = start
        while (now := loop.time()) < start + seconds:
            due = int((now - start) * rate)
            while sent < due:
                task = loop.create_task(submit())
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                sent += 1
            if now >= next_sample:
                rss.append((now - start, _rss_kib(pid)))
                next_sample += 1.0
            await asyncio.sleep(0.002)
        # The cut-off: what the daemon has *finished* by now counts, not what was sent.
        elapsed = loop.time() - start
        pending = len(tasks)  # submits sent but not yet answered
        async with session.get(f"{url}/metrics") as r:
            metrics_at_cutoff = await r.text()
        completed = _runs_completed(metrics_at_cutoff)
        if tasks:  # let the stragglers finish (bounded), to count errors among them
            await asyncio.wait(tasks, timeout=60)
        unanswered = len(tasks)
        async with session.get(f"{url}/metrics") as r:
            metrics = await r.text()
    warm = [k for t, k in rss if t >= seconds * 0.25] or [k for _, k in rss]
    growth = (warm[-1] - warm[0]) / warm[0] * 100 if warm and warm[0] else 0.0
    return {
        "sent": sent,
        "accepted": accepted,
        "errors": errors,
        "completed": completed,
        "pending_at_cutoff": pending,
        "unanswered": unanswered,
        "rate": completed / elapsed,
        "rss_growth": growth,
        "rss_mib": warm[-1] / 1024 if warm else 0.0,
        "lag_p99": _lag_p99(metrics),
    }


def daemon_load(quick: bool) -> list[Figure]:
    rate, seconds = (100, 3.0) if quick else (1000, 60.0)
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        (base / "workflows").mkdir()
        (base / "workflows" / "ping.yaml").write_text(PING)
        config = base / "mastermind.yaml"
        config.write_text(
            f"workflows: {base / 'workflows'}\napi: {{port: 0, tokens: [{TOKEN}]}}\n"
            f"store: {{state_dir: {base / 'state'}}}\nlog_level: WARNING\n"
        )
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(base / "notify.sock"))
        process = subprocess.Popen(
            [sys.executable, "-m", "mastermind", "serve", "--config", str(config)],
            env={**os.environ, "NOTIFY_SOCKET": str(base / "notify.sock")},
        )
        try:
            notify.settimeout(30)
            message = ""
            while "READY=1" not in message:
                message = notify.recv(4096).decode()
            port = int(message.split("port ", 1)[1].split()[0])
            result = uvloop.run(_load(f"http://127.0.0.1:{port}", rate, seconds, process.pid))
        finally:
            process.terminate()
            process.wait(60)
            notify.close()
    print(json.dumps(result), file=sys.stderr)
    return [
        Figure(
            f"daemon: runs completed, {rate}/s submitted over HTTP for {seconds:g} s",
            result["rate"],
            "runs/s",
            float(rate),
            "offered",
            target="1,000/s with 0 errors",
            note=f"{result['completed']:.0f} runs finished by the cut-off of {result['sent']} "
            f"sent; {result['pending_at_cutoff']} requests still pending at the cut-off, "
            f"{result['unanswered']} unanswered 60 s later",
        ),
        Figure(
            "daemon: submits pending at the cut-off",
            result["pending_at_cutoff"],
            "requests",
            higher_is_better=False,
        ),
        Figure(
            "daemon: failed submits",
            result["errors"],
            "requests",
            higher_is_better=False,
            target="0",
        ),
        Figure(
            "daemon: RSS growth after warm-up",
            result["rss_growth"],
            "%",
            higher_is_better=False,
            target="within 10%",
            note=f"{result['rss_mib']:.0f} MiB at the end",
        ),
        Figure(
            "daemon: event-loop lag p99 (its own histogram)",
            result["lag_p99"] * 1000,
            "ms",
            higher_is_better=False,
            target="< 50 ms",
        ),
    ]
