"""The daemon as a real subprocess: systemd notifications, the HTTP API, signals."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from mastermind.service.api import ROUTES
from mastermind.service.openapi import document
from tests.daemon_harness import ROOT, TOKEN, RunningDaemon, daemon

HELLO = (ROOT / "workflows" / "hello.yaml").read_text()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "hello.yaml").write_text(HELLO)
    (workflows / "slow.yaml").write_text(
        "name: slow\ninputs: {n: {type: integer, default: 50}, d: {type: string, default: 300ms}}\n"
        "steps:\n  nap: {agent: sleep, for_each: '${{ [0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,"
        "17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,"
        "46,47,48,49] }}', with: {duration: '${{ inputs.d }}'}}\n"
    )
    return workflows


def wait_finished(d: RunningDaemon, run_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = d.call("GET", f"/api/v1/runs/{run_id}")
        if status == 200 and body["run"]["status"] in ("succeeded", "failed", "cancelled"):
            return dict(body)
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish")


def test_notify_ready_watchdog_and_stopping(tmp_path: Path, folder: Path) -> None:
    with daemon(tmp_path, folder, watchdog_usec=400_000) as d:
        d.wait_for("WATCHDOG=1")
        assert d.call("GET", "/healthz", token=None)[0] == 200
        assert d.call("GET", "/readyz", token=None)[0] == 200
        d.process.send_signal(signal.SIGTERM)
        d.wait_for("STOPPING=1")
        assert d.process.wait(timeout=20) == 0


def test_api_errors_are_json_and_precise(tmp_path: Path, folder: Path) -> None:
    with daemon(tmp_path, folder) as d:
        assert d.call("GET", "/api/v1/runs", token=None)[0] == 401
        assert d.call("GET", "/api/v1/runs", token="wrong")[0] == 401
        status, body = d.call("POST", "/api/v1/runs", raw=b"{not json")
        assert (status, body["error"]) == (400, "the body is not valid JSON")
        status, body = d.call("POST", "/api/v1/runs", raw=b"[" + b"1," * 40_000 + b"1]")
        assert status == 413 and "larger than 65536 bytes" in body["error"]
        status, body = d.call("POST", "/api/v1/runs", {"workflow": "nope"})
        assert status == 404 and body["known"] == ["hello", "slow"]
        status, body = d.call("POST", "/api/v1/runs", {"workflow": "hello", "inputs": {"names": 3}})
        assert status == 422 and "must be of type array" in body["error"]
        status, body = d.call("POST", "/api/v1/runs", {"inputs": {}})
        assert status == 422
        assert d.call("GET", "/api/v1/runs/missing")[0] == 404
        # found by schemathesis: an offset past 64 bits was a 500
        assert d.call("GET", "/api/v1/runs?offset=32589158477190044730")[0] == 400
        assert d.call("GET", "/api/v1/runs?limit=0")[0] == 400
        status, body = d.call(
            "POST",
            "/api/v1/workflows/validate",
            raw=b"name: x\nsteps: {}\n",
            content_type="text/yaml",
        )
        assert status == 400 and body["problems"][0]["field"] == "steps"
        status, body = d.call(
            "POST", "/api/v1/workflows/validate", {"text": "name: x\nsteps: {a: {agent: noop}}\n"}
        )
        assert (status, body["valid"], body["name"]) == (200, True, "x")
        assert d.call("GET", "/api/v1/nothing-here")[0] == 404


def test_submit_follow_and_read_a_run(tmp_path: Path, folder: Path) -> None:
    with daemon(tmp_path, folder) as d:
        status, body = d.call(
            "POST", "/api/v1/runs", {"workflow": "hello", "inputs": {"names": ["Ada"]}}
        )
        assert status == 201
        run_id = body["run_id"]
        request = urllib.request.Request(f"{d.url}/api/v1/runs/{run_id}/events")
        request.add_header("Authorization", f"Bearer {TOKEN}")
        with urllib.request.urlopen(request, timeout=30) as stream:
            text = stream.read().decode()
        ids = [int(line[4:]) for line in text.splitlines() if line.startswith("id: ")]
        assert ids == list(range(1, len(ids) + 1))  # in order, none missing
        assert "event: succeeded" in text.split("\n\n")[-2]
        finished = wait_finished(d, run_id)
        assert finished["run"]["outputs"] == {"greetings": ["Hello, Ada!"], "count": 1}
        status, runs = d.call("GET", "/api/v1/runs?workflow=hello&limit=5")
        assert status == 200 and runs["runs"][0]["run_id"] == run_id
        status, metrics = d.call("GET", "/metrics", token=None)
        assert 'mastermind_runs_total{status="succeeded",workflow="hello"} 1.0' in metrics
        assert "mastermind_event_loop_lag_seconds_bucket" in metrics
        assert "run_id" not in metrics  # bounded labels


def test_signals_and_cancel(tmp_path: Path, folder: Path) -> None:
    shutil.copy(ROOT / "workflows" / "approval.yaml", folder / "approval.yaml")
    with daemon(tmp_path, folder) as d:
        _, body = d.call(
            "POST", "/api/v1/runs", {"workflow": "approval", "inputs": {"change": "x"}}
        )
        run_id = body["run_id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until the wait step is running
            steps = d.call("GET", f"/api/v1/runs/{run_id}")[1]["steps"]
            if any(s["step_id"] == "approve" and s["status"] == "running" for s in steps):
                break
            time.sleep(0.05)
        # payloads no store keeps are refused, and the waiting step is unharmed (before: 202,
        # then the step failed on "outputs.payload.by: nan is not a finite number")
        deep = "[" * 300 + "]" * 300
        for raw in ('{"payload": {"by": NaN}}', '{"payload": 1e400}', '{"payload": ' + deep + "}"):
            status, answer = d.call(
                "POST", f"/api/v1/runs/{run_id}/signals/approve", raw=raw.encode()
            )
            assert status == 400 and "the signal's payload" in answer["error"], answer
        assert (
            d.call("POST", f"/api/v1/runs/{run_id}/signals/approve", {"payload": {"by": "ada"}})[0]
            == 202
        )
        assert wait_finished(d, run_id)["run"]["outputs"] == {
            "result": "applied x (approved by ada)"
        }
        assert d.call("POST", f"/api/v1/runs/{run_id}/cancel")[0] == 409  # already finished
        _, body = d.call("POST", "/api/v1/runs", {"workflow": "slow", "inputs": {"d": "30s"}})
        assert d.call("POST", f"/api/v1/runs/{body['run_id']}/cancel")[0] == 202
        assert wait_finished(d, body["run_id"])["run"]["status"] == "cancelled"


HELD = """
name: held
steps:
  hold: {agent: wait, for_each: '${{ fromJSON(inputs.items) }}', with: {signal: go, timeout: 1h}}
inputs: {items: {type: string}}
"""


def test_sigterm_drains_and_the_next_start_finishes_the_rest(tmp_path: Path, folder: Path) -> None:
    """Fifty steps wait for a signal that the first daemon never gets: SIGTERM stops it after
    its grace with the run unfinished, and the next start resumes the run, which the signals
    then finish (no step waits on the clock: the test takes what the machine takes)."""
    (folder / "held.yaml").write_text(HELD)
    state = tmp_path / "state"

    def running(d: RunningDaemon, run_id: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            steps = d.call("GET", f"/api/v1/runs/{run_id}")[1]["steps"]
            if sum(s["status"] == "running" for s in steps if s["item_index"] is not None) == 50:
                return
            time.sleep(0.05)
        raise AssertionError(f"not every item of {run_id} is running: {steps}")

    with daemon(tmp_path, folder, state=state) as d:
        status, body = d.call(
            "POST",
            "/api/v1/runs",
            {"workflow": "held", "inputs": {"items": json.dumps(list(range(50)))}},
        )
        assert status == 201, body
        run_id = body["run_id"]
        running(d, run_id)
        d.process.send_signal(signal.SIGTERM)
        assert d.process.wait(timeout=60) == 0
    # it stopped after its grace, the steps still waiting: the run is left unfinished
    stored = sqlite3.connect(state / "mastermind.db")
    status = stored.execute("SELECT status FROM runs WHERE run_id=?", (run_id,)).fetchone()[0]
    stored.close()
    assert status == "running"
    # the next start resumes the run; given its signals, it completes
    with daemon(tmp_path, folder, state=state) as d:
        running(d, run_id)
        for _ in range(50):
            assert d.call("POST", f"/api/v1/runs/{run_id}/signals/go", {})[0] == 202
        body = wait_finished(d, run_id, timeout=60)
    assert body["run"]["status"] == "succeeded", body["run"]


def test_sighup_reloads_workflows_and_keeps_the_last_good_version(
    tmp_path: Path, folder: Path
) -> None:
    with daemon(tmp_path, folder) as d:
        (folder / "extra.yaml").write_text(
            "name: extra\nsteps: {a: {agent: noop, with: {value: 1}}}\n"
        )
        (folder / "hello.yaml").write_text("name: hello\nsteps: {a: {agent: nope}}\n")  # broken
        d.messages.clear()
        d.process.send_signal(signal.SIGHUP)
        d.wait_for("RELOADING=1")
        d.wait_for("READY=1")
        _, body = d.call("GET", "/api/v1/workflows")
        names = [w["name"] for w in body["workflows"]]
        assert names == ["extra", "hello", "slow"]  # hello: the last good version still serves
        assert body["broken"][0]["field"] == "steps.a.agent"
        assert d.call("POST", "/api/v1/runs", {"workflow": "extra"})[0] == 201
        _, metrics = d.call("GET", "/metrics", token=None)
        assert "mastermind_workflows_broken 1.0" in metrics


def test_openapi_lists_exactly_the_routes() -> None:
    paths = document()["paths"]
    served = {(method.lower(), path) for method, path, _ in ROUTES}
    documented = {(method, path) for path, item in paths.items() for method in item}
    assert served == documented


def client(d: RunningDaemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mastermind", *args, "--url", d.url, "--token", TOKEN],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_client_commands(tmp_path: Path, folder: Path) -> None:
    shutil.copy(ROOT / "workflows" / "approval.yaml", folder / "approval.yaml")
    with daemon(tmp_path, folder) as d:
        done = client(d, "submit", "hello", "-i", 'names=["Linus"]', "--wait")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"greetings": ["Hello, Linus!"], "count": 1}
        run_id = client(d, "submit", "approval", "-i", "change=db").stdout.strip()
        status = json.loads(client(d, "status", run_id).stdout)
        assert status["run"]["workflow"] == "approval"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # polled over HTTP: a CLI process per poll is slow
            steps = d.call("GET", f"/api/v1/runs/{run_id}")[1]["steps"]
            if any(s["step_id"] == "approve" and s["status"] == "running" for s in steps):
                break
            time.sleep(0.02)
        sent = client(d, "signal", run_id, "approve", '{"by": "grace"}')
        assert sent.returncode == 0, sent.stderr
        logs = client(d, "logs", run_id, "--follow")
        events = [json.loads(line) for line in logs.stdout.splitlines()]
        assert events[-1]["status"] == "succeeded" and events[-1].get("step_id") is None
        assert events[-1]["outputs"] == {"result": "applied db (approved by grace)"}
        slow = client(d, "submit", "slow", "-i", "d=30s").stdout.strip()
        assert client(d, "cancel", slow).returncode == 0
        missing = client(d, "status", "nope")
        assert missing.returncode == 1 and "404" in missing.stderr
        unauthorized = subprocess.run(
            [
                sys.executable,
                "-m",
                "mastermind",
                "status",
                run_id,
                "--url",
                d.url,
                "--token",
                "bad",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert unauthorized.returncode == 1 and "401" in unauthorized.stderr


HOOKED = (
    "name: hooked\ninputs: {who: {type: string, default: x}}\n"
    "steps: {a: {agent: noop, with: {value: '${{ inputs.who }}'}}}\n"
    "outputs: {who: '${{ steps.a.outputs }}'}\n"
    "triggers: [{webhook: {secret: hook_key}}]\n"
)
HOOK_SECRET = "secrets: {hook_key: s3cret}\n"


def delivery(
    body: bytes, *, key: str = "s3cret", at: float | None = None, delivery_id: str | None = None
) -> dict[str, str]:
    """The headers a sender puts on one delivery."""
    from mastermind.service.triggers import delivery_headers

    now = time.time() if at is None else at
    return delivery_headers(key, body, now=now, delivery=delivery_id)


def hook(d: RunningDaemon, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    return d.call("POST", "/api/v1/hooks/hooked", raw=body, token=None, headers=headers)


TOLERANCE = "webhook_tolerance: 30s"


def test_webhook_starts_a_signed_run_once(tmp_path: Path, folder: Path) -> None:
    (folder / "hooked.yaml").write_text(HOOKED)
    state = tmp_path / "state"
    body = json.dumps({"inputs": {"who": "github"}}).encode()
    good = delivery(body)
    # a tolerance of 30 s (api.webhook_tolerance; 5 minutes unless configured)
    with daemon(tmp_path, folder, extra=HOOK_SECRET, state=state, api=TOLERANCE) as d:
        status, answer = hook(d, body, good)
        assert status == 201, answer
        run_id = answer["run_id"]
        assert wait_finished(d, run_id)["run"]["outputs"] == {"who": "github"}
        for _ in range(5):  # the same signed delivery, replayed: no new run
            assert hook(d, body, good) == (200, {"run_id": run_id, "status": "duplicate"})
        assert hook(d, body, delivery(body, key="wrong"))[0] == 401
        assert hook(d, body, {})[0] == 401
        for missing in ("X-Mastermind-Timestamp", "X-Mastermind-Delivery"):
            headers = {k: v for k, v in delivery(body).items() if k != missing}
            status, answer = hook(d, body, headers)
            assert status == 401 and "missing" in answer["error"], answer
        stale = hook(d, body, delivery(body, at=time.time() - 31))
        assert stale[0] == 401 and "stale" in stale[1]["error"], stale
        assert "(tolerance 30s)" in stale[1]["error"], stale
        future = hook(d, body, delivery(body, at=time.time() + 31))
        assert future[0] == 401 and "future" in future[1]["error"], future
        # a delivery id or timestamp changed under a captured signature does not verify
        forged = {**good, "X-Mastermind-Delivery": uuid.uuid4().hex}
        assert hook(d, body, forged)[0] == 401
        forged = {**good, "X-Mastermind-Timestamp": str(int(good["X-Mastermind-Timestamp"]) + 1)}
        assert hook(d, body, forged)[0] == 401
        assert d.call("POST", "/api/v1/hooks/hello", raw=body, token=None, headers=good)[0] == 404
        runs = d.call("GET", "/api/v1/runs?workflow=hooked")[1]["runs"]
        assert [r["run_id"] for r in runs] == [run_id]
    with daemon(tmp_path, folder, extra=HOOK_SECRET, state=state) as d:  # after a restart
        assert hook(d, body, good) == (200, {"run_id": run_id, "status": "duplicate"})
        assert len(d.call("GET", "/api/v1/runs?workflow=hooked")[1]["runs"]) == 1


def test_a_webhook_replayed_to_another_daemon_on_postgres_starts_nothing(
    tmp_path: Path, folder: Path
) -> None:
    from tests.pg import PG_DSN, drop_schema, new_schema

    (folder / "hooked.yaml").write_text(HOOKED)
    schema = new_schema()
    store = f"dsn: '{PG_DSN}', schema: {schema}"
    body = json.dumps({"inputs": {"who": "pg"}}).encode()
    good = delivery(body)
    try:
        with (
            daemon(tmp_path, folder, extra=HOOK_SECRET, store=store, name="one") as one,
            daemon(tmp_path, folder, extra=HOOK_SECRET, store=store, name="two") as two,
        ):
            status, answer = hook(one, body, good)
            assert status == 201, answer
            duplicate = {"run_id": answer["run_id"], "status": "duplicate"}
            assert hook(two, body, good) == (200, duplicate)
            assert wait_finished(two, answer["run_id"])["run"]["outputs"] == {"who": "pg"}
            assert len(two.call("GET", "/api/v1/runs?workflow=hooked")[1]["runs"]) == 1
    finally:
        drop_schema(schema)


def test_an_edited_workflow_file_is_reloaded_without_a_signal(tmp_path: Path, folder: Path) -> None:
    with daemon(tmp_path, folder) as d:
        (folder / "fresh.yaml").write_text("name: fresh\nsteps: {a: {agent: noop}}\n")
        deadline = time.monotonic() + 60
        names: list[str] = []
        while time.monotonic() < deadline and "fresh" not in names:
            names = [w["name"] for w in d.call("GET", "/api/v1/workflows")[1]["workflows"]]
            time.sleep(0.1)
        assert "fresh" in names
        (folder / "fresh.yaml").write_text("name: fresh\nsteps: {a: {agent: noop, bad: 1}}\n")
        deadline = time.monotonic() + 60
        broken: list[dict[str, object]] = []
        while time.monotonic() < deadline and not broken:
            broken = d.call("GET", "/api/v1/workflows")[1]["broken"]
            time.sleep(0.1)
        assert broken and broken[0]["field"] == "steps.a.bad"
        names = [w["name"] for w in d.call("GET", "/api/v1/workflows")[1]["workflows"]]
        assert "fresh" in names  # the last good version keeps serving
