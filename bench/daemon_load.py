"""The daemon under HTTP load: N submits per second for D seconds on loopback.

Reports the runs that *succeeded* by the cut-off (the daemon's own counter; runs that ended
otherwise are reported apart), what was still pending at the cut-off (requests sent and not yet
answered by the daemon, and submits the load generator had not yet sent because its own limit
of 256 requests in flight was full), failed submits, the daemon's RSS growth after warm-up, and
the event-loop lag p99 the daemon itself measured (from its /metrics histogram).
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
IN_FLIGHT = 256  # the load generator's own limit of requests in flight
PING = "name: ping\nsteps: {a: {agent: noop, with: {value: pong}}}\n"


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _runs_ended(metrics: str) -> dict[str, float]:
    """Runs the daemon has finished, by outcome (succeeded, failed, ...), from its own counter."""
    ended: dict[str, float] = {}
    for line in metrics.splitlines():
        if line.startswith("mastermind_runs_total{"):
            labels = line.split("{", 1)[1].split("}", 1)[0]
            status = labels.split('status="', 1)[1].split('"', 1)[0] if "status=" in labels else ""
            ended[status] = ended.get(status, 0.0) + float(line.rsplit(" ", 1)[1])
    return ended


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
    limit = asyncio.Semaphore(IN_FLIGHT)
    in_flight = 0  # holding the limit: sent, or being sent, and not yet answered
    tasks: set[asyncio.Task[None]] = set()
    # As many connections as the limit, so every request holding it is on the wire (aiohttp's
    # default pool of 100 would queue the rest inside the client).
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:

        async def submit() -> None:
            nonlocal errors, accepted, in_flight
            async with limit:
                in_flight += 1
                try:
                    async with session.post(f"{url}/api/v1/runs", json={"workflow": "ping"}) as r:
                        await r.read()
                        if r.status != 201:
                            errors += 1
                        else:
                            accepted += 1
                except aiohttp.ClientError:
                    errors += 1
                finally:
                    in_flight -= 1

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
        pending = len(tasks)  # submits made but not yet answered
        at_daemon = in_flight  # of those, sent to the daemon (holding the client's limit)
        async with session.get(f"{url}/metrics") as r:
            metrics_at_cutoff = await r.text()
        ended = _runs_ended(metrics_at_cutoff)
        succeeded = ended.get("succeeded", 0.0)
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
        "succeeded": succeeded,
        "ended_otherwise": sum(ended.values()) - succeeded,
        "pending_at_cutoff": pending,
        "in_flight_at_cutoff": at_daemon,
        "not_sent_at_cutoff": pending - at_daemon,
        "unanswered": unanswered,
        "rate": succeeded / elapsed,
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
            f"daemon: runs succeeded by the cut-off, {rate}/s submitted over HTTP"
            f" for {seconds:g} s",
            result["rate"],
            "runs/s",
            float(rate),
            "offered",
            target="1,000/s with 0 errors",
            note=f"{result['succeeded']:.0f} runs succeeded by the cut-off of {result['sent']} "
            f"submits made; {result['pending_at_cutoff']} submits pending at the cut-off "
            f"({result['in_flight_at_cutoff']} sent to the daemon, "
            f"{result['not_sent_at_cutoff']} not yet sent); "
            f"{result['unanswered']} unanswered 60 s later",
        ),
        Figure(
            "daemon: runs that ended other than succeeded by the cut-off (failed, ...)",
            result["ended_otherwise"],
            "runs",
            higher_is_better=False,
            target="0",
        ),
        Figure(
            "daemon: at the cut-off, requests in flight at the daemon (sent, not answered)",
            result["in_flight_at_cutoff"],
            "requests",
            higher_is_better=False,
            note=f"at most {IN_FLIGHT}: the load generator's own limit",
        ),
        Figure(
            f"daemon: at the cut-off, submits not yet sent (waiting for the load generator's"
            f" limit of {IN_FLIGHT} in flight)",
            result["not_sent_at_cutoff"],
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
