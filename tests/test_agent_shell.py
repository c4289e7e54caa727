"""The shell agent with real processes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
import time
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


def _sleeping(tag: str) -> list[int]:
    """Live processes running `sleep <tag>...` (a tag makes a test's sleeps its own)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if (
                argv[0] == b"sleep"
                and argv[1].startswith(tag.encode())
                and pid_alive(int(entry.name))
            ):
                found.append(int(entry.name))
    return found


def escapes(tag: str) -> str:
    """A command leaving processes behind in every way a step can: in the group, in a new
    session holding the step's stdout, double-forked into a new session, and from Python."""
    return (
        f"sleep {tag}1 & setsid sleep {tag}2 & (setsid sleep {tag}3 >/dev/null 2>&1 &);"
        f' {sys.executable} -c \'import subprocess; subprocess.Popen(["sleep", "{tag}4"],'
        " start_new_session=True, stdout=subprocess.DEVNULL)';"
    )


async def _gone(tag: str) -> list[int]:
    for _ in range(1000):  # they are being reaped; the test's deadline bounds the wait
        if not _sleeping(tag):
            break
        await asyncio.sleep(0.01)
    return _sleeping(tag)


async def test_the_program_sees_only_the_standard_descriptors(
    registry: AgentRegistry, load: Load
) -> None:
    """uvloop's children inherited the daemon's inheritable descriptors and copies of their own
    stdout and stderr: a background process kept the step's pipes open."""
    definition = load(
        "name: fds\nsteps:\n  a: {agent: shell, with: {argv: [sh, -c, 'ls /proc/$$/fd; true']}}\n"
    )
    _result, final = await run(registry, definition)
    assert final["a"].outputs["stdout"].split() == ["0", "1", "2"]


async def test_nothing_a_step_leaves_behind_survives_it(
    registry: AgentRegistry, load: Load
) -> None:
    """Processes in another session (setsid, a double fork, start_new_session) are
    re-parented to the supervisor, a child subreaper, which kills them when the step ends;
    the one holding stdout does not keep the step running until its timeout."""
    tag = f"{4000 + os.getpid() % 1000}.{int(time.time()) % 1000}"
    command = escapes(tag) + " echo started"
    definition = load(
        f"name: esc\nsteps:\n  b: {{agent: shell, timeout: 60s, with: {{shell: true,"
        f" command: '{command.replace(chr(39), chr(39) * 2)}'}}}}\n"
    )
    started = time.monotonic()
    result, final = await run(registry, definition)
    assert result.status == RunStatus.SUCCEEDED, final["b"].error
    assert final["b"].outputs["stdout"] == "started\n"
    assert time.monotonic() - started < 30
    assert await _gone(tag) == []


async def test_a_timeout_ends_what_left_the_group(
    registry: AgentRegistry, load: Load, tmp_path: Path
) -> None:
    tag = f"{5000 + os.getpid() % 1000}.{int(time.time()) % 1000}"
    command = "trap '' TERM; " + escapes(tag) + f" echo up > {tmp_path}/up; wait"
    definition = load(
        f"name: esc\nsteps:\n  b: {{agent: shell, timeout: 3s, with: {{shell: true,"
        f" kill_grace: 200ms, command: '{command.replace(chr(39), chr(39) * 2)}'}}}}\n"
    )
    _result, final = await run(registry, definition)
    assert final["b"].error == "timed out after 3s"
    assert (tmp_path / "up").exists()  # all of them had started
    assert await _gone(tag) == []
