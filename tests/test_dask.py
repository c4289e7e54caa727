"""The cpu agent on a real Dask cluster (`dask scheduler` + `dask worker` processes)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from mastermind.engine.agent import AgentRegistry
from mastermind.engine.coordinator import Coordinator, Settings
from mastermind.language.loader import Definition
from mastermind.service.inspector import snapshot
from mastermind.store.events import Event, RunStatus
from tests.agents_for_tests import register_all
from tests.dask_cluster import LocalCluster, local_cluster
from tests.test_orphans import assert_no_overlap, intervals, mastermind, wait_until

Load = Callable[[str], Definition]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with local_cluster(2) as running:
        yield running


Lines = asyncio.Queue[tuple[str, asyncio.StreamWriter]]


@asynccontextmanager
async def reports() -> AsyncIterator[tuple[int, Lines]]:
    """A loopback server the step functions report to: (first line, writer) per connection."""
    lines: Lines = asyncio.Queue(maxsize=100)
    writers: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        line = await reader.readline()
        await lines.put((line.decode().strip(), writer))
        rest = await reader.readline()  # e.g. "ended", after the function stops
        if rest:
            await lines.put((rest.decode().strip(), writer))

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, lines
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def next_line(lines: Lines) -> tuple[str, asyncio.StreamWriter]:
    async with asyncio.timeout(60):
        return await lines.get()


def dask_registry(address: str) -> AgentRegistry:
    """The daemon-config path: `agents: {cpu: {executor: dask, scheduler: ...}}`."""
    settings = {"cpu": {"executor": "dask", "scheduler": address}}
    return register_all(AgentRegistry(load_plugins=False, settings=settings))


RESULTS = """
name: results
on_failure: continue
steps:
  fib: {agent: cpu, with: {function: "agents.examples:fib", args: [15]}}
  bad: {agent: cpu, with: {function: "agents.examples:fib", args: ["x"]}}
  nope: {agent: cpu, with: {function: "agents.nothing:here"}}
  key: {agent: cpu, for_each: [7], with: {function: "tests.dask_steps:current_key"}}
"""


def outcome(events: list[Event]) -> dict[str, tuple[str, object, str | None]]:
    return {
        e.step_id: (e.status, e.outputs, e.error)
        for e in events
        if e.step_id and e.item_index is None and e.status in ("succeeded", "failed")
    }


async def test_same_results_and_errors_as_the_local_pool(
    cluster: LocalCluster, registry: AgentRegistry, load: Load
) -> None:
    definition = load(RESULTS)
    seen: dict[str, dict[str, tuple[str, object, str | None]]] = {}
    run_ids: dict[str, str] = {}
    for name, reg in (("local", registry), ("dask", dask_registry(cluster.address))):
        async with Coordinator(reg, settings=Settings(process_pool_size=1)) as coordinator:
            events: list[Event] = []
            coordinator.subscribe(events.append)
            result = await coordinator.run(definition)
            run_ids[name] = result.run_id
            seen[name] = outcome(events)
            if name == "dask":
                assert coordinator.dask_pool.calls == 4
    local, dask = seen["local"], seen["dask"]
    for step in ("fib", "bad", "nope"):
        assert local[step] == dask[step], step
    assert dask["fib"][1] == 610
    assert "TypeError" in str(dask["bad"][2])
    assert "ModuleNotFoundError" in str(dask["nope"][2])
    # the local pool has no Dask key; on Dask the task is keyed by the idempotency key + attempt
    assert local["key"][0] == "failed"
    assert dask["key"] == ("succeeded", [f"{run_ids['dask']}/key/0#1"], None)


async def test_a_timed_out_step_cancels_its_future_and_stops_the_worker_thread(
    cluster: LocalCluster, load: Load
) -> None:
    async with reports() as (port, lines):
        definition = load(
            f"""
name: slow
steps:
  spin:
    agent: cpu
    timeout: 5s  # long enough for a loaded worker to start it; it spins until cancelled
    with: {{function: "tests.dask_steps:report_and_spin", args: [{port}], executor: dask,
            scheduler: "{cluster.address}"}}
"""
        )
        registry = register_all(AgentRegistry(load_plugins=False))
        async with Coordinator(registry) as coordinator:
            run_id = await coordinator.submit(definition)
            started, _ = await next_line(lines)
            result = await coordinator.wait(run_id)
            ended, _ = await next_line(lines)  # the function's finally ran: its thread stopped
            client = await coordinator.dask_pool.client(cluster.address)
            key = f"{run_id}/spin#1"
            on_scheduler = await client.run_on_scheduler(_has_task, key)
            from mastermind.engine.dask_pool import running_keys

            still_running = await client.run(running_keys)
    assert started.startswith("started ")
    assert ended == "ended"
    assert result.status == RunStatus.FAILED
    assert on_scheduler is False
    assert all(keys == [] for keys in still_running.values())


def _has_task(key: str, dask_scheduler: object) -> bool:
    return key in dask_scheduler.tasks  # type: ignore[attr-defined]


async def test_a_worker_killed_mid_step_is_retried_and_the_step_succeeds(
    cluster: LocalCluster, load: Load
) -> None:
    cluster.start_worker()  # three workers: two remain after the kill, for the next tests
    await asyncio.to_thread(cluster.wait_for_workers, 3)
    async with reports() as (port, lines):
        definition = load(
            f"""
name: survive
steps:
  work:
    agent: cpu
    retry: {{attempts: 3, initial: 1ms, jitter: false}}
    with: {{function: "tests.dask_steps:report_and_wait", args: [{port}]}}
"""
        )
        async with Coordinator(dask_registry(cluster.address)) as coordinator:
            events: list[Event] = []
            coordinator.subscribe(events.append)
            run_id = await coordinator.submit(definition)
            first, _ = await next_line(lines)
            victim = int(first.split()[0])
            inspected = snapshot(coordinator.inflight, None, run_id)["steps"]
            os.kill(victim, signal.SIGKILL)
            second, writer = await next_line(lines)
            writer.write(b"g")
            await writer.drain()
            result = await coordinator.wait(run_id)
    assert result.ok, result.error
    survivor, key = second.split()
    assert int(survivor) != victim
    assert key == f"{run_id}/work#2"
    assert inspected[0]["awaiting"] == {
        "kind": "dask",
        "detail": f"Dask task {run_id}/work#1",
        "pid": None,
    }
    assert [f["function"] for f in inspected[0]["stack"]][-1] == "DaskPool.run"
    retried = [e for e in events if e.status == "retrying"]
    assert len(retried) == 1 and "Dask worker running this step died" in (retried[0].error or "")
    final = [e for e in events if e.step_id == "work" and e.status == "succeeded"]
    assert final[0].outputs == {"pid": int(survivor), "key": key}


async def test_without_the_extra_the_error_names_it(
    registry: AgentRegistry, load: Load, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    definition = load(
        """
name: nodask
steps:
  fib: {agent: cpu, with: {function: "agents.examples:fib", args: [5], executor: dask,
        scheduler: "tcp://127.0.0.1:9"}}
"""
    )
    async with Coordinator(registry) as coordinator:
        events: list[Event] = []
        coordinator.subscribe(events.append)
        result = await coordinator.run(definition)
    assert result.status == RunStatus.FAILED
    failed = [e for e in events if e.step_id == "fib" and e.status == "failed"]
    assert "pip install 'mastermind[dask]'" in (failed[0].error or "")


async def test_no_scheduler_address_is_a_clear_error(registry: AgentRegistry, load: Load) -> None:
    definition = load(
        """
name: noaddress
steps:
  fib: {agent: cpu, with: {function: "agents.examples:fib", args: [5], executor: dask}}
"""
    )
    async with Coordinator(registry) as coordinator:
        events: list[Event] = []
        coordinator.subscribe(events.append)
        await coordinator.run(definition)
    failed = [e for e in events if e.step_id == "fib" and e.status == "failed"]
    assert "needs a scheduler address" in (failed[0].error or "")


async def test_dasks_own_scheduler_address_setting_is_the_last_fallback(
    cluster: LocalCluster, registry: AgentRegistry, load: Load
) -> None:
    import dask

    definition = load(
        """
name: fallback
steps:
  fib: {agent: cpu, with: {function: "agents.examples:fib", args: [10], executor: dask}}
"""
    )
    with dask.config.set({"scheduler-address": cluster.address}):  # DASK_SCHEDULER_ADDRESS
        async with Coordinator(registry) as coordinator:
            result = await coordinator.run(definition)
            calls = coordinator.dask_pool.calls
    assert result.ok, result.error
    assert calls == 1


DASK_MARKS_FLOW = """
name: long_dask
inputs: {marks: {type: string}, scheduler: {type: string}}
steps:
  work:
    agent: cpu
    with: {function: "tests.dask_steps:marks", args: ["${{ inputs.marks }}", 10, 2400],
           executor: dask, scheduler: "${{ inputs.scheduler }}"}
"""


@pytest.mark.timeout(300)
def test_a_killed_owners_dask_task_is_stopped_before_the_step_runs_again(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """SIGKILL the process running a Dask step: the scheduler forgets the task, but the worker
    thread computing it goes on. The resume must stop it before the step runs again (under the
    same key: the interrupted attempt runs again under its own number). The worker running the
    leftover is paused, so the new attempt goes to another one, as on any larger cluster; on
    the same worker Dask would join the leftover instead."""
    from distributed import Client

    from mastermind.engine.dask_pool import running_keys
    from tests.dask_steps import pause, worker_states

    flow = tmp_path / "dask.yaml"
    flow.write_text(DASK_MARKS_FLOW)
    state, log, marks = tmp_path / "state", tmp_path / "log", tmp_path / "marks"
    connect: Any = Client  # untyped
    with connect(cluster.address, timeout=60, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)
        inputs = ["-i", f"marks={marks}", "-i", f"scheduler={cluster.address}"]
        run = mastermind("run", "--state-dir", str(state), str(flow), *inputs, log=log)
        wait_until(lambda: marks.exists() and "tick" in marks.read_text(), "the task is working")
        run.send_signal(signal.SIGKILL)
        run.wait()
        pid = int(marks.read_text().split()[0].rsplit("@", 1)[1])
        busy = next(a for a, p in client.run(os.getpid).items() if p == pid)
        client.run(pause, True, workers=[busy])
        try:
            wait_until(lambda: client.run_on_scheduler(worker_states)[busy] == "paused", "paused")
            resume = mastermind("resume", "--state-dir", str(state), log=log)
            assert resume.wait(timeout=120) == 0, log.read_text()
        finally:
            client.run(pause, False, workers=[busy])
        spans = intervals(marks)
        left = client.run(running_keys)
    assert len(spans) == 2, spans
    assert_no_overlap(spans)  # the first attempt stopped before the second started
    assert all(keys == [] for keys in left.values()), left
    assert "stopped Dask task(s) of interrupted attempts" in log.read_text()
