"""The daemon under faults it did not cause: broken workflow files, failing chores, slow or
hostile clients, more work than it takes. Real daemon subprocesses where a signal or a socket
matters; the Daemon object in this process where a fault has to be planted."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from pydantic import model_validator

from mastermind.engine.agent import Agent, Params, StepContext
from mastermind.service.config import Config
from mastermind.service.daemon import Daemon
from mastermind.store.base import RunRecord
from mastermind.store.sqlite import DB_NAME, SqliteStore
from tests.daemon_harness import ROOT, TOKEN, RunningDaemon, daemon

HELLO = (ROOT / "workflows" / "hello.yaml").read_text()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "hello.yaml").write_text(HELLO)
    (workflows / "gated.yaml").write_text(
        "name: gated\nsteps:\n"
        "  hold: {agent: wait, with: {signal: go, timeout: 10m}}\n"
        "  after: {agent: noop, needs: [hold], with: {value: done}}\n"
        "outputs: {after: '${{ steps.after.outputs }}'}\n"
    )
    return workflows


def wait_until(check: Any, what: str, timeout: float = 60) -> Any:
    """Poll `check()` until it returns something truthy (progress, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def run_status(d: RunningDaemon, run_id: str) -> tuple[str, list[dict[str, Any]]]:
    status, body = d.call("GET", f"/api/v1/runs/{run_id}")
    assert status == 200, body
    return body["run"]["status"], body["steps"]


def step_running(d: RunningDaemon, run_id: str, step: str) -> bool:
    return any(s["step_id"] == step and s["status"] == "running" for s in run_status(d, run_id)[1])


def metric(d: RunningDaemon, name: str) -> float:
    _, text = d.call("GET", "/metrics", token=None)
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def long_sum_file(folder: Path) -> Path:
    """A 4999-term `1+1+...` expression: it used to raise RecursionError out of the loader."""
    path = folder / "bad.yaml"
    path.write_text(
        "name: bad\nsteps:\n  a: {agent: noop, with: {value: '${{ "
        + "+".join(["1"] * 4999)
        + " }}'}}\n"
    )
    return path


def test_a_pathological_workflow_file_does_not_stop_serve(tmp_path: Path, folder: Path) -> None:
    long_sum_file(folder)
    with daemon(tmp_path, folder) as d:
        status, body = d.call("GET", "/api/v1/workflows")
        assert status == 200
        assert [w["name"] for w in body["workflows"]] == ["gated", "hello"]
        assert [Path(p["file"]).name for p in body["broken"]] == ["bad.yaml"]
        assert body["broken"][0]["message"]
        assert d.call("POST", "/api/v1/runs", {"workflow": "hello"})[0] == 201
        _, metrics = d.call("GET", "/metrics", token=None)
        assert "mastermind_workflows_broken 1.0" in metrics
        d.process.send_signal(signal.SIGTERM)
        assert d.process.wait(timeout=30) == 0
        output = d.output()
    assert "bad.yaml" in output and "workflow not loaded" in output


class ExplodingParams(Params):
    value: Any = None

    @model_validator(mode="after")
    def explode(self) -> ExplodingParams:
        raise RuntimeError("the validator has a bug")  # not a ValueError: pydantic re-raises it


class ExplodingAgent(Agent[ExplodingParams]):
    name = "exploding"
    Params = ExplodingParams

    async def run(self, params: ExplodingParams, ctx: StepContext) -> Any:
        return None


async def test_any_exception_from_loading_one_file_is_a_broken_file(
    tmp_path: Path, folder: Path
) -> None:
    (folder / "boom.yaml").write_text("name: boom\nsteps: {a: {agent: exploding}}\n")
    config = Config.model_validate({"workflows": folder, "store": {"state_dir": tmp_path}})
    daemon_ = Daemon(config)
    daemon_.registry.register(ExplodingAgent)
    await daemon_.load_workflows()
    assert sorted(daemon_.catalog) == ["gated", "hello"]
    [problem] = daemon_.broken
    assert Path(problem.file).name == "boom.yaml"
    assert "RuntimeError: the validator has a bug" in problem.message
    assert daemon_.metrics.workflows_broken._value.get() == 1
    # a reload keeps the last good version of a file that breaks this way
    shutil.copy(folder / "boom.yaml", folder / "hello.yaml")
    await daemon_.load_workflows()
    assert sorted(daemon_.catalog) == ["gated", "hello"] and len(daemon_.broken) == 2


def prune_refusing_state(state: Path) -> sqlite3.Connection:
    """A state directory whose store refuses to prune once the test says so: a finished run
    from long ago that retention keeps trying to delete, and a trigger that aborts the delete
    (sqlite3.IntegrityError out of the retention chore) while `refuse_prune` has a row."""

    async def create() -> None:
        store = SqliteStore(state)
        await store.open()
        await store.create_run(RunRecord("old", "old", "d", "name: old\n", "/old.yaml", {}))
        await store.close()

    asyncio.run(create())
    db = sqlite3.connect(state / DB_NAME, isolation_level=None, timeout=30)
    db.executescript(
        """
        UPDATE runs SET status = 'succeeded', finished_at = 1 WHERE run_id = 'old';
        CREATE TABLE refuse_prune (x);
        CREATE TRIGGER keep_old BEFORE DELETE ON runs WHEN OLD.run_id = 'old' BEGIN
            SELECT CASE WHEN EXISTS (SELECT 1 FROM refuse_prune)
                THEN RAISE(ABORT, 'pruning is refused') ELSE RAISE(IGNORE) END;
        END;
        """
    )
    return db


def test_a_failing_chore_is_restarted_and_no_run_is_cancelled(tmp_path: Path, folder: Path) -> None:
    state = tmp_path / "state"
    db = prune_refusing_state(state)
    with daemon(tmp_path, folder, state=state, store="retention: 1s") as d:
        status, body = d.call("POST", "/api/v1/runs", {"workflow": "gated"})
        assert status == 201, body
        run_id = body["run_id"]
        wait_until(lambda: step_running(d, run_id, "hold"), "the step to wait for its signal")
        db.execute("INSERT INTO refuse_prune VALUES (1)")  # the retention chore now raises
        restarts = 'mastermind_chore_restarts_total{chore="retention"}'
        wait_until(
            lambda: d.process.poll() is not None or metric(d, restarts) >= 2,
            "two restarts of the retention chore",
        )
        if d.process.poll() is not None:
            stored = db.execute("SELECT status FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            output = d.output()
            raise AssertionError(f"the daemon exited; the run is {stored}:\n{output[-3000:]}")
        assert d.call("GET", "/readyz", token=None)[0] == 200
        assert d.call("POST", f"/api/v1/runs/{run_id}/signals/go", {})[0] == 202
        wait_until(lambda: run_status(d, run_id)[0] == "succeeded", "the run to succeed")
        d.process.send_signal(signal.SIGTERM)
        assert d.process.wait(timeout=30) == 0
        output = d.output()
    assert "background chore retention failed" in output
    assert "sqlite3.IntegrityError: pruning is refused" in output  # with its traceback


def post(d: RunningDaemon, path: str, body: Any) -> tuple[int, dict[str, str], Any]:
    """POST returning the headers too (429 carries Retry-After)."""
    request = urllib.request.Request(
        d.url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_beyond_limits_runs_submissions_get_429_with_retry_after(
    tmp_path: Path, folder: Path
) -> None:
    with daemon(tmp_path, folder, extra="limits: {runs: 2}\n") as d:
        first = [post(d, "/api/v1/runs", {"workflow": "gated"}) for _ in range(2)]
        assert [status for status, _, _ in first] == [201, 201]
        status, headers, body = post(d, "/api/v1/runs", {"workflow": "gated"})
        assert status == 429, body
        assert int(headers["Retry-After"]) >= 1 and "limits.runs" in body["error"]
        run_id = first[0][2]["run_id"]
        wait_until(lambda: step_running(d, run_id, "hold"), "the first run to wait")
        assert d.call("POST", f"/api/v1/runs/{run_id}/signals/go", {})[0] == 202
        wait_until(lambda: run_status(d, run_id)[0] == "succeeded", "the first run to end")
        assert post(d, "/api/v1/runs", {"workflow": "gated"})[0] == 201  # room again


def test_slowloris_connections_are_closed_and_others_are_served(
    tmp_path: Path, folder: Path
) -> None:
    with daemon(tmp_path, folder, api="read_timeout: 1s") as d:
        attackers = []
        for _ in range(300):
            sock = socket.create_connection(("127.0.0.1", d.port))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            attackers.append(sock)
        closed: set[int] = set()
        deadline = time.monotonic() + 60
        while len(closed) < len(attackers) and time.monotonic() < deadline:
            for number, sock in enumerate(attackers):
                if number in closed:
                    continue
                try:
                    sock.sendall(b"X-Slow: 1\r\n")  # one more header line, never the end
                    sock.setblocking(False)
                    if sock.recv(4096) == b"":
                        closed.add(number)
                except BlockingIOError:
                    pass
                except OSError:  # reset by the server
                    closed.add(number)
                finally:
                    sock.setblocking(True)
            assert d.call("GET", "/healthz", token=None)[0] == 200  # others are served
            time.sleep(0.1)
        for sock in attackers:
            sock.close()
        assert len(closed) == len(attackers), f"{len(attackers) - len(closed)} still open"


def sse_events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of every complete message in a Server-Sent Events stream."""
    found = []
    for block in raw.decode().split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != ":"
        )
        if "data" in fields:
            found.append((fields.get("event", ""), json.loads(fields["data"])))
    return found


def read_stream(url: str, into: list[bytes]) -> None:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        while chunk := response.read1(65536):
            into.append(chunk)


MANY = """
name: many
inputs: {items: {type: array}}
steps:
  hold: {agent: wait, with: {signal: go, timeout: 10m}}
  fan: {agent: noop, needs: [hold], for_each: '${{ inputs.items }}', with: {value: 1}}
"""


def test_a_stalled_event_stream_client_is_dropped_and_others_get_every_event(
    tmp_path: Path, folder: Path
) -> None:
    """A client that stops reading is cut off after api.read_timeout; a client that reads,
    even slower than the run writes (the queue of 100 overflows), gets every event, in order;
    a late client gets the whole stored log, replayed a page at a time."""
    (folder / "many.yaml").write_text(MANY)
    with daemon(tmp_path, folder, api="sse_queue: 100, read_timeout: 3s") as d:
        items = {"items": [0] * 20000}
        status, body = d.call("POST", "/api/v1/runs", {"workflow": "many", "inputs": items})
        assert status == 201, body
        run_id = body["run_id"]
        wait_until(lambda: step_running(d, run_id, "hold"), "the run to wait")
        path = f"/api/v1/runs/{run_id}/events"
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", d.port))
        stalled.sendall(f"GET {path} HTTP/1.0\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
        reading: list[bytes] = []
        reader = threading.Thread(target=read_stream, args=(d.url + path, reading))
        reader.start()
        wait_until(lambda: metric(d, "mastermind_sse_subscribers") == 2, "two subscribers")
        assert d.call("POST", f"/api/v1/runs/{run_id}/signals/go", {})[0] == 202
        wait_until(lambda: metric(d, "mastermind_sse_dropped_total") >= 1, "the stalled drop")
        received = bytearray()
        stalled.settimeout(60)
        try:
            while chunk := stalled.recv(65536):  # the daemon closed the stream
                received += chunk
        except ConnectionResetError:
            pass  # closed without waiting for it to read what was in flight
        stalled.close()
        reader.join(timeout=120)
        assert not reader.is_alive()
        assert metric(d, "mastermind_sse_dropped_total") == 1
        late: list[bytes] = []
        read_stream(d.url + path, late)
        d.process.send_signal(signal.SIGTERM)
        output = d.output()
    events = sse_events(b"".join(reading))
    assert [data["seq"] for _, data in events] == list(range(1, len(events) + 1))
    assert events[-1][0] == "succeeded" and events[-1][1].get("step_id") is None
    assert len(events) > 40000
    assert sse_events(b"".join(late)) == events
    _, _, stream = bytes(received).partition(b"\r\n\r\n")
    got = [data["seq"] for name, data in sse_events(stream) if name != "dropped"]
    assert got == list(range(1, len(got) + 1)) and len(got) < len(events)
    assert "dropped a client (a write waited more than 3s)" in output


async def test_a_reload_reads_and_validates_off_the_event_loop(
    tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGHUP rereads the config file and the workflow folder in threads: the event loop keeps
    serving while a 1 MB workflow is parsed and checked."""
    import mastermind.service.daemon as daemon_module
    from mastermind.language.loader import LoadReport
    from mastermind.service.config import load_config as real_load_config

    config_file = tmp_path / "mastermind.yaml"
    config_file.write_text(f"workflows: {folder}\nstore: {{state_dir: {tmp_path}}}\n")
    loop_thread = threading.get_ident()
    threads: dict[str, int] = {}
    real_add = LoadReport.add

    def load_config(path: Any, environ: Any = None) -> Config:
        threads["config"] = threading.get_ident()
        return real_load_config(path, environ)

    def add(self: LoadReport, *args: Any, **kwargs: Any) -> None:
        threads["workflow"] = threading.get_ident()
        real_add(self, *args, **kwargs)

    monkeypatch.setattr(daemon_module, "load_config", load_config)
    monkeypatch.setattr(LoadReport, "add", add)
    daemon_ = Daemon(real_load_config(config_file), str(config_file))
    await daemon_.reload()
    assert sorted(daemon_.catalog) == ["gated", "hello"]
    assert threads.keys() == {"config", "workflow"}
    assert loop_thread not in threads.values()


async def test_a_load_that_read_the_folder_earlier_never_lands_after_a_later_one(
    tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The folder watch's first reload, slow under load, read the folder before a file was
    written and landed after the SIGHUP reload that had read it: the new workflow vanished."""
    import mastermind.service.daemon as daemon_module
    from mastermind.language.loader import workflow_files as real

    listed, release = threading.Event(), threading.Event()

    def first_listing_waits(folders: Any) -> Any:
        files = list(real(folders))
        if not listed.is_set():
            listed.set()
            release.wait(60)
        return files

    monkeypatch.setattr(daemon_module, "workflow_files", first_listing_waits)
    daemon_ = Daemon(Config.model_validate({"workflows": folder, "store": {"state_dir": tmp_path}}))
    earlier = asyncio.ensure_future(daemon_.load_workflows())
    try:
        assert await asyncio.to_thread(listed.wait, 60)
        (folder / "extra.yaml").write_text("name: extra\nsteps: {a: {agent: noop}}\n")
        later = asyncio.ensure_future(daemon_.load_workflows())
        # let the later load finish, or queue behind the earlier one (the lock has no event)
        lock = getattr(daemon_, "_loading", None)
        async with asyncio.timeout(60):
            while not (later.done() or getattr(lock, "_waiters", None)):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    finally:
        release.set()
    await asyncio.gather(earlier, later)
    assert sorted(daemon_.catalog) == ["extra", "gated", "hello"]
