"""A loopback server on its own thread that steps report to (tests/inspect_steps.py).

It runs on a thread because one of the steps blocks the event loop on purpose: the test's own
coroutines cannot run until the conductor lets that step go."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable


class Conductor:
    """Accepts step connections; each says who it is in its first line (`socket`, `block`,
    `cpu PID`). `release(kind)` sends the step its go."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.arrived: dict[str, socket.socket] = {}
        self.lines: dict[str, str] = {}
        self.changed = threading.Condition()
        self.on_arrival: dict[str, Callable[[], None]] = {}  # kind -> called on its thread
        self._threads: list[threading.Thread] = []
        self._closed = False
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._greet, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _greet(self, conn: socket.socket) -> None:
        conn.settimeout(60)
        line = b""
        try:
            while not line.endswith(b"\n"):
                chunk = conn.recv(1)
                if not chunk:
                    return
                line += chunk
        except OSError:
            return
        text = line.decode().strip()
        kind = text.split()[0]
        with self.changed:
            self.arrived[kind] = conn
            self.lines[kind] = text
            self.changed.notify_all()
        callback = self.on_arrival.get(kind)
        if callback is not None:
            callback()

    def wait_for(self, *kinds: str, timeout: float = 60) -> dict[str, str]:
        """Block until every kind has reported; their first lines."""
        with self.changed:
            if not self.changed.wait_for(lambda: set(kinds) <= set(self.arrived), timeout):
                raise AssertionError(f"only {sorted(self.arrived)} of {kinds} reported")
            return {kind: self.lines[kind] for kind in kinds}

    def release(self, kind: str) -> None:
        """Let a step that reported go on."""
        with self.changed:
            conn = self.arrived[kind]
        conn.sendall(b"g")

    def release_when(self, kind: str, event: threading.Event, timeout: float = 60) -> None:
        """When `kind` reports, hold it until `event` is set (on the conductor's thread), then
        let it go."""

        def hold() -> None:
            event.wait(timeout)
            self.release(kind)

        self.on_arrival[kind] = hold

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.server.close()
        with self.changed:
            for conn in self.arrived.values():
                conn.close()
        for thread in self._threads:
            thread.join(5)
