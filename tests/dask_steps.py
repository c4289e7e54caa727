"""Functions cpu steps call on Dask workers in the tests: they report to the test over a
loopback socket, so the test waits for what happened instead of for time to pass."""

from __future__ import annotations

import os
import socket
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
