"""Start `mastermind serve` as a real subprocess with a NOTIFY_SOCKET the test binds."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "test-token-1234"


@dataclass
class RunningDaemon:
    process: subprocess.Popen[str]
    notify: socket.socket
    port: int
    messages: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None
    line_arrived: threading.Condition = field(default_factory=threading.Condition)

    def drain(self) -> None:
        """Read the daemon's output as it comes (a full pipe would block its event loop)."""
        assert self.process.stdout is not None
        for line in iter(self.process.stdout.readline, ""):
            with self.line_arrived:
                self.lines.append(line)
                self.line_arrived.notify_all()

    def wait_for_line(self, text: str, timeout: float = 60) -> str:
        """Block until the daemon writes a line containing `text`; that line."""

        def found() -> str | None:
            return next((line for line in self.lines if text in line), None)

        with self.line_arrived:
            if not self.line_arrived.wait_for(found, timeout):
                raise AssertionError(f"the daemon never wrote {text!r}:\n{''.join(self.lines)}")
            return found() or ""

    def output(self, timeout: float = 30) -> str:
        """Everything the daemon wrote, once it has exited."""
        self.process.wait(timeout=timeout)
        if self.reader is not None:
            self.reader.join(timeout=timeout)
        return "".join(self.lines)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_for(self, state: str, timeout: float = 60) -> str:
        """Block until systemd would have received `state` (e.g. READY=1)."""
        deadline = time.monotonic() + timeout
        for message in self.messages:
            if state in message.splitlines():
                return message
        while time.monotonic() < deadline:
            self.notify.settimeout(max(0.01, min(0.5, deadline - time.monotonic())))
            try:
                message = self.notify.recv(4096).decode()
            except TimeoutError:
                if self.process.poll() is not None:  # it exited: say how, do not wait on
                    raise AssertionError(
                        f"no {state}: the daemon exited {self.process.returncode}:\n"
                        + self.output()
                    ) from None
                continue
            self.messages.append(message)
            if state in message.splitlines():
                return message
        raise AssertionError(f"no {state} within {timeout}s; got {self.messages}")

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = TOKEN,
        raw: bytes | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            request.add_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                payload = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            payload = error.read()
            status = error.code
        try:
            return status, json.loads(payload)
        except ValueError:
            return status, payload.decode()


@contextmanager
def daemon(
    tmp_path: Path,
    workflows: Path,
    *,
    extra: str = "",
    watchdog_usec: int | None = None,
    state: Path | None = None,
    store: str = "",
    api: str = "",
    name: str = "mastermind",
) -> Iterator[RunningDaemon]:
    """`extra`: more config lines; `store`, `api`: more keys of those sections; `name` names
    the config file (several daemons in one test)."""
    config = tmp_path / f"{name}.yaml"
    state = state or tmp_path / "state"
    config.write_text(
        f"workflows: {workflows}\n"
        f"api: {{port: 0, tokens: [{TOKEN}], max_body_bytes: 65536{', ' + api if api else ''}}}\n"
        f"store: {{state_dir: {state}{', ' + store if store else ''}}}\n"
        f"drain_grace: 2s\n{extra}"
    )
    notify_path = tmp_path / f"notify-{os.getpid()}-{time.monotonic_ns()}.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "PYTHONUNBUFFERED": "1"}
    if watchdog_usec:
        env["WATCHDOG_USEC"] = str(watchdog_usec)
    process = subprocess.Popen(
        [sys.executable, "-m", "mastermind", "serve", "--config", str(config)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = RunningDaemon(process, notify, 0)
    running.reader = threading.Thread(target=running.drain, daemon=True)
    running.reader.start()
    try:
        ready = running.wait_for("READY=1")
        status = next(line for line in ready.splitlines() if line.startswith("STATUS="))
        running.port = int(status.rsplit(" ", 1)[1])
        yield running
    finally:
        if process.poll() is None:
            process.kill()
        running.output()
        assert process.stdout is not None
        process.stdout.close()
        notify.close()
