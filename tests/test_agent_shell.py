"""The shell agent with real processes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agents.shell import ShellAgent, ShellParams
from mastermind.engine.agent import AgentRegistry, StepContext
from mastermind.engine.clock import SystemClock
from mastermind.engine.coordinator import Coordinator
from mastermind.engine.ownership import pid_alive
from mastermind.engine.run import RunResult
from mastermind.language.loader import Definition
from mastermind.store.events import Event, RunStatus

Load = Callable[[str], Definition]


async def run(
    registry: AgentRegistry, definition: Definition, **inputs: object
) -> tuple[RunResult, dict[str, Event]]:
    async with Coordinator(registry) as coordinator:
        events: list[Event] = []
        coordinator.subscribe(events.append)
        result = await coordinator.run(definition, inputs)
    final = {e.step_id: e for e in events if e.step_id and e.status in ("succeeded", "failed")}
    return result, final


async def test_argv_exit_codes_and_output(registry: AgentRegistry, load: Load) -> None:
    definition = load(
        """
name: sh
on_failure: continue
steps:
  echo: {agent: shell, with: {argv: [echo, hello]}}
  code: {agent: shell, with: {argv: [sh, -c, "echo oops >&2; exit 3"]}}
  allowed: {agent: shell, with: {argv: ["false"], ok_codes: [1]}}
  stdin: {agent: shell, with: {argv: [cat], stdin: "piped"}}
  missing: {agent: shell, with: {argv: [/no/such/program]}}
  big: {agent: shell, with: {argv: [sh, -c, "yes | head -c 100000"], max_output: 10}}
"""
    )
    _result, final = await run(registry, definition)
    assert final["echo"].outputs == {
        "exit_code": 0,
        "stdout": "hello\n",
        "stderr": "",
        "truncated": False,
    }
    assert final["code"].error == "sh exited with code 3: oops"
    assert final["allowed"].outputs["exit_code"] == 1
    assert final["stdin"].outputs["stdout"] == "piped"
    assert "cannot start '/no/such/program'" in (final["missing"].error or "")
    assert final["big"].outputs["truncated"] is True and len(final["big"].outputs["stdout"]) == 10


async def test_arguments_stay_literal(registry: AgentRegistry, load: Load, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    definition = load(
        """
name: literal
inputs: {evil: {type: string}}
steps:
  echo: {agent: shell, with: {argv: [echo, "${{ inputs.evil }}", "$(id)"]}}
  via_env:
    agent: shell
    with: {shell: true, command: 'printf "%s" "$EVIL"', env: {EVIL: "${{ inputs.evil }}"}}
"""
    )
    evil = f"'; touch {marker}; '"
    _result, final = await run(registry, definition, evil=evil)
    assert final["echo"].outputs["stdout"] == f"{evil} $(id)\n"
    assert final["via_env"].outputs["stdout"] == evil
    assert not marker.exists()


async def test_idempotency_key_is_in_the_environment(registry: AgentRegistry, load: Load) -> None:
    definition = load(
        "name: env\nsteps:\n  k: {agent: shell, for_each: '${{ [1] }}', with: {shell: true,"
        " command: 'echo $MASTERMIND_IDEMPOTENCY_KEY'}}\n"
    )
    result, final = await run(registry, definition)
    assert final["k"].outputs[0]["stdout"].strip() == f"{result.run_id}/k/0"


async def test_timeout_kills_the_whole_process_tree(
    registry: AgentRegistry, load: Load, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    definition = load(
        f"""
name: tree
steps:
  stuck:
    agent: shell
    timeout: 3s  # room for three processes to start on a loaded machine
    with:
      shell: true
      kill_grace: 200ms
      command: >-
        trap '' TERM; sleep 60 & echo $! >> {pids};
        sh -c 'trap "" TERM; sleep 60' & echo $! >> {pids};
        echo $$ >> {pids}; wait
"""
    )
    _result, final = await run(registry, definition)
    assert final["stuck"].error == "timed out after 3s"
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == 3
    for _ in range(3000):  # until they are gone (the test's deadline bounds the wait)
        if not any(pid_alive(pid) for pid in started):
            break
        await asyncio.sleep(0.01)
    assert not any(pid_alive(pid) for pid in started), [p for p in started if pid_alive(p)]


async def test_background_children_do_not_hold_the_step(
    registry: AgentRegistry, load: Load
) -> None:
    definition = load(
        "name: bg\nsteps:\n  b: {agent: shell, timeout: 10s, with: {shell: true,"
        " command: 'sleep 60 & echo started'}}\n"
    )
    result, final = await run(registry, definition)
    assert result.status == RunStatus.SUCCEEDED
    assert final["b"].outputs["stdout"] == "started\n"


def _children() -> list[int]:
    """Live (not zombie) child processes of this process."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me and fields[0] != "Z":
                found.append(int(entry.name))
    return found


async def test_a_step_cancelled_while_its_process_starts_leaves_nothing_behind() -> None:
    """A timeout can land while the supervisor is being spawned: the start is let finish and
    the process ended, so no process outlives the attempt and no pipe is left open (the
    harness fails the test on an unclosed transport)."""
    agent = ShellAgent()
    params = ShellParams(argv=["sleep", "30"])
    ctx = StepContext("r", "s", None, 1, "w", SystemClock())
    before = set(_children())
    for yields in range(8):  # cancel at each point of the start in turn
        task = asyncio.ensure_future(agent.run(params, ctx))
        for _ in range(yields):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert set(_children()) <= before, f"cancelled after {yields} yields"
    gc.collect()  # an unclosed transport warns when collected


@pytest.fixture
def escaped(tmp_path: Path) -> Iterator[Path]:
    """Where a step writes the pid of a process it started outside its group; that process
    is ended after the test's event loop has closed."""
    pids = tmp_path / "escaped"
    yield pids
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        os.kill(int(pids.read_text()), signal.SIGKILL)


async def test_a_timed_out_step_releases_its_pipes_before_it_ends(
    registry: AgentRegistry, load: Load, escaped: Path
) -> None:
    """A process outside the step's group (here `setsid`) holds the step's stdout after the
    group is killed, as the last killed member of the group does for a moment on a loaded
    machine: the step closes its pipes itself, not when the loop sees EOF (before: a pipe
    transport left open until after the loop closed, EBUSY)."""
    definition = load(
        f"""
name: escaped
steps:
  stuck:
    agent: shell
    timeout: 1s
    with:
      shell: true
      kill_grace: 100ms
      command: "setsid sh -c 'echo $$ > {escaped}; exec sleep 30' & sleep 60"
"""
    )
    _result, final = await run(registry, definition)
    assert final["stuck"].error == "timed out after 1s"
