"""Side effects for crash tests: each step records its idempotency key in a SQLite table."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any


def record(db: str, delay: float, context: dict[str, Any]) -> dict[str, Any]:
    """Work for `delay` seconds, then record the effect once per idempotency key.

    `executions` counts every execution (at-least-once may run a step twice); `effects` holds
    one row per key, the way a real system uses an idempotency key to apply an effect once.
    """
    time.sleep(delay)
    conn = sqlite3.connect(db, timeout=30, isolation_level=None)
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY, attempt INTEGER)")
        conn.execute("CREATE TABLE IF NOT EXISTS executions (key TEXT, attempt INTEGER)")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO executions VALUES (?, ?)", (context["idempotency_key"], context["attempt"])
        )
        conn.execute(
            "INSERT OR IGNORE INTO effects VALUES (?, ?)",
            (context["idempotency_key"], context["attempt"]),
        )
        conn.execute("COMMIT")
    finally:
        conn.close()
    return {"key": context["idempotency_key"]}


def hold(folder: str) -> str:
    """Say `started` (a file), then wait until the test creates `go` (at most a minute)."""
    base = Path(folder)
    (base / "started").touch()
    deadline = time.monotonic() + 60
    while not (base / "go").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("no go file within a minute")
        time.sleep(0.02)
    return "released"


def marks(path: str, ticks: int, first_ticks: int) -> int:
    """A CPU step that appends `PID start|tick|end TIME` lines to `path` (its pid first, in
    `path.pid`), so a test can check that attempts never overlap in time. The first attempt
    makes `first_ticks` marks 50 ms apart, later ones `ticks`."""
    import os

    if not os.path.exists(path + ".pid"):
        ticks = first_ticks
    with open(path + ".pid", "a") as pids:
        pids.write(f"{os.getpid()}\n")

    def mark(kind: str) -> None:
        with open(path, "a") as out:
            out.write(f"{os.getpid()} {kind} {time.time():.6f}\n")

    mark("start")
    for _ in range(ticks):
        deadline = time.monotonic() + 0.05
        while time.monotonic() < deadline:  # CPU work, not a sleep
            pass
        mark("tick")
    mark("end")
    return ticks


async def await_word(port: int) -> str:
    """An in-process step (`python` agent, a coroutine on the owner's event loop): tell the test
    which process runs it (`PID`), then wait for a line from the test and return it. The
    connection closes when the step ends, so the test sees when an attempt stops."""
    import asyncio
    import os

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"{os.getpid()}\n".encode())
        await writer.drain()
        return (await reader.readline()).decode().strip()
    finally:
        writer.close()


def leave_behind(tag: str, linger: float) -> str:
    """A CPU step that starts processes in new sessions (one directly, one double-forked),
    then sleeps `linger` seconds: they must not outlive the step."""
    import subprocess

    subprocess.Popen(["sleep", f"{tag}1"], start_new_session=True)
    subprocess.Popen(["sh", "-c", f"(setsid sleep {tag}2 &)"]).wait()
    time.sleep(linger)
    return "left"
