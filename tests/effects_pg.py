"""Side effects for the scale-out test: record each execution with its time span."""

from __future__ import annotations

import sqlite3
import time
from typing import Any


def record(db: str, delay: float, context: dict[str, Any]) -> dict[str, Any]:
    started = time.time()
    time.sleep(delay)
    finished = time.time()
    conn = sqlite3.connect(db, timeout=60, isolation_level=None)
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY)")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS executions (key TEXT, started REAL, finished REAL)"
        )
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO executions VALUES (?, ?, ?)",
            (context["idempotency_key"], started, finished),
        )
        conn.execute("INSERT OR IGNORE INTO effects VALUES (?)", (context["idempotency_key"],))
        conn.execute("COMMIT")
    finally:
        conn.close()
    return {"key": context["idempotency_key"]}
