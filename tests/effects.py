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
