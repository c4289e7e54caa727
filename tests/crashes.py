"""Crash at a point of progress, not at a wall-clock time: kill a process once the store shows
a chosen number of newly committed events. On a loaded machine a kill after "0.3 s" may land
before the process has done anything at all; a kill after "the 7th committed event" lands at
the same point of the work however slow the machine is (give or take the events committed
between the poll that saw the target and the kill)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

POLL = 0.005  # seconds between reads of the store while waiting for progress


def committed_events(db: Path) -> int:
    """Events committed to a SQLite state database so far (0 before it exists)."""
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    except sqlite3.OperationalError:
        return 0
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    except sqlite3.OperationalError:  # not migrated yet: no table
        return 0
    finally:
        conn.close()


def kill_after_progress(process: subprocess.Popen[bytes], db: Path, events: int) -> bool:
    """SIGKILL `process` once `events` more events are committed to `db` than when called.
    Returns False (and kills nothing) if the process exits first."""
    target = committed_events(db) + events
    while process.poll() is None:
        if committed_events(db) >= target:
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
        time.sleep(POLL)
    return False
