"""`python -m bench peers`: W1–W4 on mastermind and on Celery (threads and prefork, Redis
broker), Dask distributed (LocalCluster, 2 processes), arq (Redis) and Prefect 3 (ephemeral).

Every system runs the same task bodies (`bench.tasks`), is started before timing, warmed up
once, then timed 3 times (medians), all in one run. Redis is the bench's own `redis-server` on
a free port, stopped by its pid; the machine's shared Redis is never touched. A peer that is
not installed (`pip install -e '.[peers]'`) or fails to start is reported as not run, with why.

mastermind is measured both ways, each row labelled: the default (a plain function runs in a
thread, what the peers' thread pools compare with) and `inline: true` (called on the event loop),
with the ratio to the fastest peer given for each.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench import tasks
from bench.core import Figure
from bench.e2e import bytecode_env, child

RUNS = 3
PEERS = ("celery_threads", "celery_prefork", "dask", "arq", "prefect")
RESERVED = {5432, 5672, 6379, 1883, 4222, 8222, 15672}  # the machine's shared services


def free_port() -> int:
    """A free loopback port, never one of the shared services' standard ports."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port not in RESERVED:
            return port


@contextmanager
def redis_server() -> Iterator[str]:
    """Our own redis-server (no persistence) on a free port; its URL. Stopped by its pid."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (Debian: apt install redis-server)")
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--daemonize", "no", "--dir", folder]
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                        conn.sendall(b"PING\r\n")
                        if conn.recv(16).startswith(b"+PONG"):
                            break
                except OSError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port}")
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(30)


def run_peer(name: str, env: dict[str, str]) -> dict[str, Any]:
    """Timings of one peer (medians), or {"error": why it did not run}."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.peer_drivers", name, str(RUNS)],
            capture_output=True,
            text=True,
            timeout=1800,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return {"error": "timed out after 30 minutes"}
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        if any("ModuleNotFoundError" in line for line in lines):
            missing = next(line for line in lines if "ModuleNotFoundError" in line)
            return {"error": f"not installed ({missing.split(':', 1)[-1].strip()})"}
        return {"error": (lines[-1] if lines else f"exit {done.returncode}")[:300]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("w1", "w2", "w3", "w4"):
        if key in result:
            result[key] = statistics.median(result[key])
    return result


def _rates(times: dict[str, Any], sizes: dict[str, Any]) -> dict[str, float | None]:
    """W1 tasks/s, W2 ms/task, W3 and W4 wall seconds (None: not run)."""
    out: dict[str, float | None] = {}
    w1, w2, w3, w4 = (times.get(k) for k in ("w1", "w2", "w3", "w4"))
    out["w1"] = sizes["w1"] / w1 if w1 else None
    out["w2"] = w2 / sizes["w2"] * 1000 if w2 else None
    out["w3"] = w3 if w3 and sizes["w3"] == tasks.W3_ITEMS else None
    out["w4"] = w4 if w4 and sizes["w4"] == tasks.W4_ITEMS else None
    if w3 and sizes["w3"] != tasks.W3_ITEMS:
        out["w3_scaled"] = w3
    if w4 and sizes["w4"] != tasks.W4_ITEMS:
        out["w4_scaled"] = w4
    return out


# mastermind both ways: the default runs a plain function in a thread (what the peers' thread
# pools compare with); `inline: true` calls it on the event loop (must not block). W3's body is
# a coroutine (awaited on the loop either way) and W4 uses the `cpu` agent: one run serves both.
MODES: dict[str, dict[str, str]] = {
    "thread": {"w1": "w1_thread", "w2": "w2_thread", "w3": "w3", "w4": "w4"},
    "inline": {"w1": "w1", "w2": "w2", "w3": "w3", "w4": "w4"},
}
MODE_LABELS = {
    "thread": "mastermind, function in a thread (the default)",
    "inline": "mastermind, inline: true",
}


def _best(results: dict[str, dict[str, Any]]) -> dict[str, tuple[float, str]]:
    """The fastest peer's figure per workload, and its name."""
    from bench.peer_drivers import SIZES

    best: dict[str, tuple[float, str]] = {}
    for name, result in results.items():
        if "error" in result:
            continue
        rates = _rates(result, {**SIZES, **result.get("sizes", {})})
        for key in ("w1", "w2", "w3", "w4"):
            value = rates.get(key)
            if value is None:
                continue
            if key not in best or (value > best[key][0] if key == "w1" else value < best[key][0]):
                best[key] = (value, name)
    return best


def _advantage(key: str, mine: float, theirs: float) -> float:
    """How many times faster mastermind is than `theirs` (W1 a rate, the others times)."""
    return mine / theirs if key == "w1" else theirs / mine


def peers(quick: bool) -> list[Figure]:
    """The table of W1–W4 across systems, mastermind measured both ways (a function in a thread,
    the default, and `inline: true`); mastermind's default mode is each peer row's baseline."""
    from bench.peer_drivers import SIZES

    with bytecode_env() as env:
        children = sorted({w for mode in MODES.values() for w in mode.values()})
        times = {w: child(w, RUNS, env)["ours"] for w in children}
        ours = {
            mode: _rates({key: times[w] for key, w in workloads.items()}, SIZES)
            for mode, workloads in MODES.items()
        }
        results: dict[str, dict[str, Any]] = {}
        with redis_server() as url:
            env = {**env, "MM_BENCH_REDIS": url}
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
            with tempfile.TemporaryDirectory() as prefect_home:
                env["PREFECT_HOME"] = prefect_home
                env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
                env["DO_NOT_TRACK"] = "1"
                env["PREFECT_LOGGING_LEVEL"] = "WARNING"
                env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "120"
                for name in PEERS:
                    print(f"  peer {name} ...", file=sys.stderr, flush=True)
                    results[name] = run_peer(name, env)
    print(peers_table(ours, results), file=sys.stderr)
    figures: list[Figure] = []
    units = {"w1": ("tasks/s", True), "w2": ("ms/task", False), "w3": ("s", False)}
    units["w4"] = ("s", False)
    best = _best(results)
    for mode, label in MODE_LABELS.items():
        for key, (unit, _) in units.items():
            mine = ours[mode].get(key)
            if mine is None or key not in best:
                continue
            if mode == "inline" and MODES["inline"][key] == MODES["thread"][key]:
                continue  # the same run as the default mode's (no inline variant)
            theirs, who = best[key]
            figures.append(
                Figure(
                    f"peers {key.upper()}: {label}, times faster than the fastest peer ({who})",
                    _advantage(key, mine, theirs),
                    "x",
                    target=">= 30x" if key in ("w1", "w2") else ">= 10x" if key == "w3" else "",
                    note=f"mastermind {mine:.4g} {unit}, {who} {theirs:.4g} {unit}, same run",
                )
            )
    baseline_name = "mastermind default (function in a thread), same run"
    for name, result in results.items():
        if "error" in result:
            figures.append(Figure(f"peers: {name}", 0, "", note=f"not run: {result['error']}"))
            continue
        rates = _rates(result, {**SIZES, **result.get("sizes", {})})
        for key, (unit, higher) in units.items():
            value = rates.get(key)
            if value is None:
                why = result.get("skipped", {}).get(key, "")
                scaled = rates.get(f"{key}_scaled")
                if scaled is not None:
                    items = result.get("sizes", {}).get(key)
                    why = f"{scaled:.2f} s for {items} items: not comparable at full size"
                figures.append(Figure(f"peers {key.upper()}: {name} (not run)", 0, "", note=why))
                continue
            figures.append(
                Figure(
                    f"peers {key.upper()}: {name}",
                    value,
                    unit,
                    ours["thread"][key],
                    baseline_name,
                    higher_is_better=higher,
                    note=result.get("note", ""),
                )
            )
    return figures


def peers_table(
    ours: dict[str, dict[str, float | None]], results: dict[str, dict[str, Any]]
) -> str:
    """System by workload, with mastermind's advantage over the fastest peer, for each of
    mastermind's modes (`ours` maps "thread" and "inline" to W1–W4 figures)."""
    from bench.peer_drivers import SIZES

    def cell(value: float | None, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    def row(name: str, rates: dict[str, float | None], note: str) -> str:
        return (
            f"{name:<20}  {cell(rates.get('w1'), ',.0f'):>10}   {cell(rates.get('w2'), '.3f'):>10}"
            f"   {cell(rates.get('w3'), '.2f'):>9}   {cell(rates.get('w4'), '.2f'):>9}   {note}"
        )

    head = "system                W1 tasks/s   W2 ms/task   W3 wall s   W4 wall s   note"
    lines = [head, "-" * len(head)]
    lines.append(
        row("mastermind, default", ours["thread"], "mastermind run, SQLite, function in a thread")
    )
    lines.append(
        row(
            "mastermind, inline",
            ours["inline"],
            "mastermind run, SQLite, inline: true (W3, W4: the same runs)",
        )
    )
    for name, result in results.items():
        if "error" in result:
            lines.append(f"{name:<20}  not run: {result['error']}")
            continue
        rates = _rates(result, {**SIZES, **result.get("sizes", {})})
        skipped = "; ".join(f"{k}: {v}" for k, v in result.get("skipped", {}).items())
        sizes = result.get("sizes", {})
        scaled = "; ".join(
            f"{key[:2].upper()} {rates[key]:.2f} s for {sizes[key[:2]]} items"
            for key in ("w3_scaled", "w4_scaled")
            if rates.get(key) is not None
        )
        note = "; ".join(filter(None, [result.get("note", ""), skipped, scaled]))
        lines.append(row(name, rates, note))
    best = _best(results)
    for mode, label in (("thread", "default, in a thread"), ("inline", "inline: true")):
        ratios = []
        for key in ("w1", "w2", "w3", "w4"):
            mine = ours[mode].get(key)
            if mine and key in best:
                theirs, who = best[key]
                ratios.append(f"{key.upper()} {_advantage(key, mine, theirs):.1f}x ({who})")
        lines.append(f"mastermind ({label}) vs the fastest peer: " + ", ".join(ratios))
    return "\n".join(lines)
