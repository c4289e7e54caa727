"""The inspector names what each step in flight is doing, and the loop watch names the step
that blocks the event loop: a step awaiting a socket, a cpu step in a pool worker, a step that
blocks the loop with time.sleep, and steps waiting on a sleep, a signal and a named pool."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mastermind.engine.agent import AgentRegistry
from mastermind.engine.coordinator import Coordinator, Settings
from mastermind.engine.loop_watch import Blocked, LoopWatch
from mastermind.language.loader import Definition
from mastermind.service.inspector import snapshot
from mastermind.store.events import Event
from tests.conductor import Conductor
from tests.daemon_harness import TOKEN, daemon

Load = Callable[[str], Definition]
STEPS_FILE = str(Path(__file__).with_name("inspect_steps.py"))
SOURCE = Path(STEPS_FILE).read_text().splitlines()
BLOCK_LINES = {
    i + 1 for i, line in enumerate(SOURCE) if "time.sleep(0.01)" in line or "select" in line
}

WORKFLOW = """
name: inspected
steps:
  socket: {agent: python, with: {function: "tests.inspect_steps:read_forever", args: [PORT]}}
  crunch: {agent: cpu, with: {function: "tests.inspect_steps:announce_then_wait", args: [PORT]}}
  block: {agent: python, with: {function: "tests.inspect_steps:block_until_told", args: [PORT]}}
"""


def functions(stack: list[dict[str, Any]]) -> list[str]:
    return [frame["function"] for frame in stack]


async def test_the_inspector_names_a_socket_a_pool_worker_and_the_step_blocking_the_loop(
    registry: AgentRegistry, load: Load
) -> None:
    conductor = Conductor()
    caught = threading.Event()
    # the blocking step holds the loop until the watchdog thread has caught it in the act
    conductor.release_when("block", caught)
    definition = load(WORKFLOW.replace("PORT", str(conductor.port)))
    try:
        async with Coordinator(registry, settings=Settings(process_pool_size=1)) as coordinator:
            watch = LoopWatch(0.05, coordinator.inflight)
            watch.on_caught.append(
                lambda sample: (
                    caught.set()
                    if sample.innermost and sample.innermost.function == "block_until_told"
                    else None
                )
            )
            # the first episode to end after the watchdog caught the step is the step's (the
            # loop stayed blocked from that sample until the conductor let the step go)
            ended: asyncio.Queue[Blocked] = asyncio.Queue(maxsize=100)
            watch.listeners.append(lambda e: ended.put_nowait(e) if caught.is_set() else None)
            async with watch.running():
                await coordinator.process_pool.start()
                run_id = await coordinator.submit(definition)
                lines = await asyncio.to_thread(conductor.wait_for, "socket", "cpu", "block")
                async with asyncio.timeout(60):
                    episode = await ended.get()
                view = snapshot(coordinator.inflight, watch, run_id)
                conductor.release("cpu")
                conductor.release("socket")
                result = await coordinator.wait(run_id)
            left = len(coordinator.inflight)
    finally:
        conductor.close()
    assert result.ok, result.error
    steps = {s["step_id"]: s for s in view["steps"]}

    socket_step = steps["socket"]
    assert socket_step["awaiting"]["kind"] == "socket"
    assert socket_step["awaiting"]["detail"] == f"read from 127.0.0.1:{conductor.port}"
    assert socket_step["stack"][-1]["function"] == "StreamReader._wait_for_data"
    mine = [f for f in socket_step["stack"] if f["function"] == "read_forever"]
    assert mine and mine[0]["file"] == STEPS_FILE
    assert "await reader.read(1)" in SOURCE[mine[0]["line"] - 1]
    assert socket_step["attempt"] == 1 and socket_step["run_id"] == run_id

    cpu_step = steps["crunch"]
    pid = int(lines["cpu"].split()[1])
    assert cpu_step["awaiting"] == {
        "kind": "pool worker",
        "detail": f"process pool worker pid {pid}",
        "pid": pid,
    }
    assert cpu_step["pid"] == pid
    chain = functions(cpu_step["stack"])
    assert chain[-1] == "ProcessPool.run"
    assert chain.index("RunExecution._attempts") < chain.index("CpuAgent.run")

    # the blocking step: caught by the watchdog thread while it held the loop
    assert episode.step is not None and episode.step["step_id"] == "block"
    assert episode.step["run_id"] == run_id and episode.step["attempt"] == 1
    assert episode.duration is not None and episode.duration > 0.05
    innermost = episode.frames[-1]
    assert innermost.function == "block_until_told" and innermost.file == STEPS_FILE
    assert innermost.line in BLOCK_LINES
    assert "PythonAgent.run" in [f.function for f in episode.frames]
    reported = view["loop"]["blocked"][0]
    assert reported["step"]["step_id"] == "block"
    assert reported["stack"][-1]["function"] == "block_until_told"
    assert view["loop"]["blocked_episodes"] >= 1
    assert left == 0  # ended step tasks leave the registry


POOLED = """
name: waiting
steps:
  nap: {agent: sleep, with: {duration: 1h}}
  approval: {agent: wait, with: {signal: approve, timeout: 1h}}
  holder: {agent: gate, pool: narrow, with: {gate: held}}
  queued: {agent: gate, pool: narrow, with: {gate: queued}}
"""


async def test_sleep_signal_and_a_named_pool_limit_are_named(
    registry: AgentRegistry, load: Load
) -> None:
    async with Coordinator(registry, settings=Settings(pools={"narrow": 1})) as coordinator:
        running: asyncio.Queue[Event] = asyncio.Queue(maxsize=100)
        coordinator.subscribe(
            lambda e: running.put_nowait(e) if e.status == "running" and e.step_id else None
        )
        run_id = await coordinator.submit(load(POOLED))
        started: set[str | None] = set()
        async with asyncio.timeout(30):
            while len(started) < 3:  # nap, approval and one of the gates hold their slots
                started.add((await running.get()).step_id)
        view = snapshot(coordinator.inflight, None, run_id)
        first_two = snapshot(coordinator.inflight, None, run_id, limit=2)
        coordinator.cancel(run_id)
        await coordinator.wait(run_id)
    steps = {s["step_id"]: s["awaiting"] for s in view["steps"]}
    assert steps["nap"]["kind"] == "sleep" and steps["nap"]["detail"].startswith(
        "asyncio.sleep 3600"
    )
    assert steps["approval"] == {"kind": "signal", "detail": "signal approve", "pid": None}
    gate_holder, gate_queued = ("holder", "queued") if "holder" in started else ("queued", "holder")
    assert steps[gate_holder]["kind"] == "event"
    assert steps[gate_queued] == {
        "kind": "limit",
        "detail": "a slot of pool:narrow (1/1 in use)",
        "pid": None,
    }
    assert view["loop"] == {"watched": False}
    assert view["total"] == 4 and first_two["total"] == 4 and len(first_two["steps"]) == 2


def test_the_daemon_serves_the_inspector_and_counts_blocked_callbacks(tmp_path: Path) -> None:
    """End to end: `mastermind serve`, GET /api/v1/debug/tasks, `mastermind inspect`, and the
    mastermind_loop_blocked_seconds metric."""
    conductor = Conductor()
    caught = threading.Event()
    conductor.release_when("block", caught)
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    workflows.joinpath("inspected.yaml").write_text(WORKFLOW.replace("PORT", str(conductor.port)))
    extra = "debug: {slow_callback: 50ms}\nlimits: {process_pool_size: 1}\n"
    try:
        with daemon(tmp_path, workflows, extra=extra) as running:

            def watch_log() -> None:  # a sample's stack names the function: caught it
                running.wait_for_line("in block_until_told")
                caught.set()

            watcher = threading.Thread(target=watch_log, daemon=True)
            watcher.start()
            status, body = running.call("POST", "/api/v1/runs", {"workflow": "inspected"})
            assert status == 201, body
            run_id = body["run_id"]
            lines = conductor.wait_for("socket", "cpu", "block")
            running.wait_for_line(f"by step {run_id}/block attempt 1 (python agent), in")

            assert running.call("GET", "/api/v1/debug/tasks", token=None)[0] == 401
            assert running.call("GET", "/api/v1/debug/tasks?limit=0")[0] == 400
            status, view = running.call("GET", f"/api/v1/debug/tasks?run_id={run_id}")
            assert status == 200, view
            assert running.call("GET", "/api/v1/debug/tasks?run_id=nosuchrun")[0] == 404
            done = subprocess.run(  # a prefix of the id is enough, as for every run command
                [sys.executable, "-m", "mastermind", "inspect", run_id[:10], "--url", running.url],
                env={**os.environ, "MASTERMIND_TOKEN": TOKEN},
                capture_output=True,
                text=True,
                timeout=60,
            )
            _, metrics = running.call("GET", "/metrics")
            conductor.release("cpu")
            conductor.release("socket")
            watcher.join(60)
    finally:
        conductor.close()
    steps = {s["step_id"]: s for s in view["steps"]}
    assert steps["socket"]["awaiting"]["detail"] == f"read from 127.0.0.1:{conductor.port}"
    pid = int(lines["cpu"].split()[1])
    assert steps["crunch"]["awaiting"]["kind"] == "pool worker" and steps["crunch"]["pid"] == pid
    blocked = view["loop"]["blocked"][0]
    assert blocked["step"]["step_id"] == "block" and blocked["step"]["run_id"] == run_id
    assert blocked["stack"][-1]["function"] == "block_until_told"
    assert view["loop"]["threshold"] == 0.05

    assert done.returncode == 0, done.stderr
    assert f"{run_id}/socket  python  attempt 1" in done.stdout
    assert f"awaits socket: read from 127.0.0.1:{conductor.port}" in done.stdout
    assert f"awaits pool worker: process pool worker pid {pid}\n" in done.stdout
    assert f"by {run_id}/block attempt 1" in done.stdout
    assert "in block_until_told" in done.stdout

    count = re.search(r"^mastermind_loop_blocked_seconds_count (\S+)$", metrics, re.M)
    assert count is not None and float(count.group(1)) >= 1


async def test_the_dashboard_links_a_running_step_to_its_live_stack(tmp_path: Path) -> None:
    import aiohttp

    from mastermind.service.api import make_app
    from mastermind.service.config import Config
    from mastermind.service.daemon import Daemon
    from tests.daemon_harness import ROOT
    from tests.servers import serve

    folder = tmp_path / "workflows"
    folder.mkdir()
    shutil.copy(ROOT / "workflows" / "approval.yaml", folder)
    config = Config.model_validate(
        {"workflows": folder, "store": {"state_dir": tmp_path / "state"}, "api": {"tokens": ["t"]}}
    )
    d = Daemon(config)
    d.tokens = ["t"]
    async with d.coordinator:
        await d.load_workflows()
        waiting: asyncio.Queue[Event] = asyncio.Queue(maxsize=100)
        d.coordinator.subscribe(lambda e: waiting.put_nowait(e) if e.step_id == "approve" else None)
        run_id = await d.coordinator.submit(d.catalog["approval"], {"change": "x"})
        async with asyncio.timeout(30):
            while (await waiting.get()).status != "running":
                pass
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
        async with serve(make_app(d)) as url, aiohttp.ClientSession(cookie_jar=jar) as http:
            async with http.post(f"{url}/ui/login", data={"token": "t"}) as sent:
                assert sent.status == 200
            async with http.get(f"{url}/ui/runs/{run_id}") as response:
                page = await response.text()
            link = f'data-stack href="/ui/runs/{run_id}/stacks#stack-approve"'
            assert link in page
            assert page.count("data-stack") == 1  # prepare has finished: only approve runs
            async with http.get(f"{url}/ui/runs/{run_id}/stacks") as response:
                stacks = await response.text()
                assert response.status == 200
        d.coordinator.cancel(run_id)
        await d.coordinator.wait(run_id)
    assert 'id="stack-approve"' in stacks
    assert 'data-awaiting="signal"' in stacks and "signal approve" in stacks
    assert "in SignalBox.receive" in stacks and "in WaitAgent.run" in stacks
