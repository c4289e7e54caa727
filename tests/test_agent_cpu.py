"""The cpu agent and the process pool, with real worker processes."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

from mastermind.engine.agent import AgentRegistry
from mastermind.engine.clock import FakeClock
from mastermind.engine.coordinator import Coordinator, Settings
from mastermind.engine.ownership import pid_alive
from mastermind.engine.process_pool import ProcessPool
from mastermind.language.loader import Definition
from mastermind.store.events import Event, RunStatus

Load = Callable[[str], Definition]


async def test_a_killed_worker_is_replaced_and_every_step_completes(
    registry: AgentRegistry, load: Load
) -> None:
    definition = load(
        """
name: cpu
inputs: {items: {type: array}}
steps:
  work:
    agent: cpu
    for_each: ${{ inputs.items }}
    with: {function: "agents.examples:spin", args: [0.005]}
    retry: {attempts: 3, initial: 1ms, jitter: false}
"""
    )
    async with Coordinator(registry, settings=Settings(process_pool_size=2)) as coordinator:
        events: list[Event] = []
        started = asyncio.Event()

        def listen(event: Event) -> None:
            events.append(event)
            if event.status == "succeeded" and event.item_index == 20:
                started.set()

        coordinator.subscribe(listen)
        run_id = await coordinator.submit(definition, {"items": list(range(200))})
        await started.wait()
        pool = coordinator.process_pool
        victim = pool.pids()[0]
        os.kill(victim, signal.SIGKILL)
        result = await coordinator.wait(run_id)
        replaced = pool.replaced
    assert result.ok
    succeeded = {
        e.item_index for e in events if e.status == "succeeded" and e.item_index is not None
    }
    assert succeeded == set(range(200))
    assert replaced >= 1
    lost = [e for e in events if e.status == "retrying"]
    assert all("worker process" in (e.error or "") for e in lost)


async def test_a_step_that_always_kills_its_worker_fails_after_its_attempts(
    registry: AgentRegistry, load: Load
) -> None:
    definition = load(
        """
name: doomed
steps:
  die:
    agent: cpu
    with: {function: "agents.examples:die"}
    retry: {attempts: 3, initial: 1ms}
"""
    )
    async with Coordinator(
        registry, clock=FakeClock(), settings=Settings(process_pool_size=1)
    ) as coordinator:
        events: list[Event] = []
        coordinator.subscribe(events.append)
        result = await coordinator.run(definition)
        replaced = coordinator.process_pool.replaced
    assert result.status == RunStatus.FAILED
    failed = [e for e in events if e.step_id == "die" and e.status == "failed"]
    assert failed[0].attempt == 3
    assert "died" in (failed[0].error or "")
    assert replaced >= 2


async def test_a_timed_out_cpu_step_stops_its_worker(registry: AgentRegistry, load: Load) -> None:
    definition = load(
        """
name: slow
steps:
  spin: {agent: cpu, timeout: 200ms, with: {function: "agents.examples:spin", args: [30]}}
"""
    )
    async with Coordinator(registry, settings=Settings(process_pool_size=1)) as coordinator:
        await coordinator.process_pool.start()
        before = coordinator.process_pool.pids()
        result = await coordinator.run(definition)
        pool = coordinator.process_pool
        for _ in range(3000):  # the replacement starts in the background
            if pool.alive == 1 and pool.pids() != before:
                break
            await asyncio.sleep(0.01)
        after = pool.pids()
    assert result.status == RunStatus.FAILED
    assert before != after
    assert not pid_alive(before[0])


async def test_function_errors_and_results(registry: AgentRegistry, load: Load) -> None:
    definition = load(
        """
name: results
on_failure: continue
steps:
  fib: {agent: cpu, with: {function: "agents.examples:fib", args: [15]}}
  bad: {agent: cpu, with: {function: "agents.examples:fib", args: ["x"]}}
  nope: {agent: cpu, with: {function: "agents.nothing:here"}}
"""
    )
    async with Coordinator(registry, settings=Settings(process_pool_size=1)) as coordinator:
        events: list[Event] = []
        coordinator.subscribe(events.append)
        await coordinator.run(definition)
    final = {e.step_id: e for e in events if e.step_id and e.status in ("succeeded", "failed")}
    assert final["fib"].outputs == 610
    assert "TypeError" in (final["bad"].error or "")
    assert "ModuleNotFoundError" in (final["nope"].error or "")


async def test_large_arguments_and_results_cross_the_pipe() -> None:
    """On uvloop a watched fd is non-blocking: a reply sent as a header and then a payload
    (multiprocessing does so above 16 KiB) must be read across several wakeups, and a large
    request written as the worker drains it; neither is a dead worker (the review's 40,000-
    character result failed every time under `mastermind run`)."""
    pool = ProcessPool(1)
    try:
        for size in (10, 20_000, 1 << 20, 8 << 20):
            assert await pool.run("operator:mul", ["x", size]) == "x" * size
            assert await pool.run("builtins:len", ["y" * size]) == size
        assert pool.replaced == 0
    finally:
        await pool.aclose()


def _sleeping(tag: str) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as file:
                    argv = file.read().split(b"\0")
            except OSError:
                continue
            alive = pid_alive(int(entry.name))
            if argv[0] == b"sleep" and argv[1].startswith(tag.encode()) and alive:
                found.append(int(entry.name))
    return found


async def test_processes_a_function_leaves_in_new_sessions_do_not_survive_its_step(
    registry: AgentRegistry, load: Load
) -> None:
    """The worker is a child subreaper: processes started in a new session (directly or
    double-forked) stay its descendants and are killed when the call returns, or when the
    pool stops the worker (a timeout). Before: both kinds survived both ways."""
    tag = f"{6000 + os.getpid() % 1000}.{os.getpid() % 997}"
    definition = load(
        f"""
name: leave
on_failure: continue
steps:
  returns: {{agent: cpu, with: {{function: "tests.effects:leave_behind", args: ["{tag}0", 0]}}}}
  times_out:
    agent: cpu
    timeout: 3s
    with: {{function: "tests.effects:leave_behind", args: ["{tag}5", 60]}}
"""
    )
    async with Coordinator(registry, settings=Settings(process_pool_size=2)) as coordinator:
        result = await coordinator.run(definition, {})
    assert result.status == RunStatus.FAILED  # the timeout
    for _ in range(1000):  # being reaped; the test's deadline bounds the wait
        if not _sleeping(tag):
            break
        await asyncio.sleep(0.01)
    assert _sleeping(tag) == []
