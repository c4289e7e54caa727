"""At most one live attempt per step: what an attempt starts (shell process groups, CPU pool
workers) is recorded before it works, dies with the process running the step, and is killed on
resume before the step runs again. Attempts append time marks to a file; their intervals must
never overlap. The first attempt is long (two minutes, longer than any wait here) and the next
one short, so an orphan left running would still be marking time when the next one starts."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from mastermind.engine.agent import AgentRegistry
from mastermind.engine.coordinator import Coordinator
from mastermind.engine.processes import (
    ProcessRecord,
    Unkillable,
    describe,
    kill_recorded,
    still_running,
)
from mastermind.store.base import RunRecord
from mastermind.store.events import Event
from mastermind.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parent.parent

SHELL_FLOW = """
name: long_shell
inputs: {dir: {type: string}}
steps:
  work:
    agent: shell
    with:
      shell: true
      env: {DIR: "${{ inputs.dir }}"}
      command: >-
        n=10; [ -e "$DIR/pids" ] || n=2400;
        echo "$$ $PPID" >> "$DIR/pids";
        mark() { echo "$$ $1 $(date +%s.%N)" >> "$DIR/marks"; };
        mark start; sleep 60 & i=0;
        while [ $i -lt $n ]; do mark tick; sleep 0.05; i=$((i+1)); done;
        mark end
"""

CPU_FLOW = """
name: long_cpu
inputs: {marks: {type: string}}
steps:
  work:
    agent: cpu
    with: {function: "tests.effects:marks", args: ["${{ inputs.marks }}", 10, 2400]}
"""


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def wait_until(condition: object, what: str, timeout: float = 60.0) -> None:
    """Wait for progress (a file appearing, a process ending); the bound only catches hangs."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no progress: {what}"
        time.sleep(0.01)


def mastermind(*args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "mastermind", *args],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=sink,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )


def intervals(marks: Path) -> dict[str, tuple[float, float, bool]]:
    """Per attempt (pid): first mark, last mark, whether it reached its end."""
    seen: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for line in marks.read_text().splitlines():
        pid, kind, at = line.split()
        seen[pid].append((kind, float(at)))
    return {
        pid: (min(t for _, t in m), max(t for _, t in m), any(k == "end" for k, _ in m))
        for pid, m in seen.items()
    }


def assert_no_overlap(spans: dict[str, tuple[float, float, bool]]) -> None:
    ordered = sorted(spans.values())
    for (_, end_a, _), (start_b, _, _) in itertools.pairwise(ordered):
        assert end_a < start_b, ordered
    assert ordered[-1][2], "the last attempt did not finish"


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("how", ["parent killed", "supervisor killed too"])
def test_a_killed_run_leaves_no_shell_attempt_alive(tmp_path: Path, how: str) -> None:
    flow = tmp_path / "long.yaml"
    flow.write_text(SHELL_FLOW)
    state, log, pids = tmp_path / "state", tmp_path / "log", tmp_path / "pids"
    run = mastermind("run", "--state-dir", str(state), str(flow), "-i", f"dir={tmp_path}", log=log)
    marks = tmp_path / "marks"
    wait_until(lambda: marks.exists() and "tick" in marks.read_text(), "the step is working")
    shell_pid, supervisor = (int(p) for p in pids.read_text().split())
    if how == "parent killed":
        run.send_signal(signal.SIGKILL)
        run.wait()
        # the supervisor learns of its parent's death (PR_SET_PDEATHSIG) and ends the group
        wait_until(lambda: not pid_alive(shell_pid), "the orphan died with its parent")
    else:
        # a crash the supervisor cannot act on: it dies first, then the process running the step
        run.send_signal(signal.SIGSTOP)
        os.kill(supervisor, signal.SIGKILL)
        run.send_signal(signal.SIGKILL)
        run.wait()
        assert pid_alive(shell_pid)  # an orphan, still working
    resume = mastermind("resume", "--state-dir", str(state), log=log)
    assert resume.wait(timeout=120) == 0, log.read_text()
    assert not pid_alive(shell_pid)
    spans = intervals(marks)
    assert len(spans) == 2, spans
    assert_no_overlap(spans)
    if how != "parent killed":  # the resume killed the orphaned group before running again
        killed = [line for line in log.read_text().splitlines() if "killed" in line]
        assert len(killed) == 1 and str(shell_pid) in killed[0], log.read_text()


def sleeping(tag: str) -> list[int]:
    """Live processes running `sleep <tag>...`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            alive = pid_alive(int(entry.name))
            if argv[0] == b"sleep" and argv[1].startswith(tag.encode()) and alive:
                found.append(int(entry.name))
    return found


@pytest.mark.timeout(120)
def test_a_killed_run_takes_what_left_the_step_group_along(tmp_path: Path) -> None:
    """SIGKILL of `mastermind run`: the supervisor (a child subreaper, told by
    PR_SET_PDEATHSIG) kills every descendant, also those in other sessions (setsid, a double
    fork, start_new_session). Before: those three survived the run, and any resume."""
    tag = f"{7000 + os.getpid() % 1000}.{os.getpid() % 997}"
    flow = tmp_path / "esc.yaml"
    flow.write_text(
        "name: esc\nsteps:\n  a:\n    agent: shell\n    with:\n      shell: true\n"
        f"      command: >-\n        sleep {tag}1 & setsid sleep {tag}2 &"
        f" (setsid sleep {tag}3 >/dev/null 2>&1 &); {sys.executable} -c 'import subprocess;"
        f' subprocess.Popen(["sleep", "{tag}4"], start_new_session=True)\';'
        f" touch {tmp_path}/up; sleep {tag}5\n"
    )
    state, log = tmp_path / "state", tmp_path / "log"
    run = mastermind("run", "--state-dir", str(state), str(flow), log=log)
    wait_until(lambda: (tmp_path / "up").exists() and len(sleeping(tag)) == 5, "all started")
    run.send_signal(signal.SIGKILL)
    run.wait()
    wait_until(lambda: not sleeping(tag), "every process of the step died with the run", 30)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_killed_run_leaves_no_cpu_attempt_alive(tmp_path: Path) -> None:
    flow = tmp_path / "cpu.yaml"
    flow.write_text(CPU_FLOW)
    state, log, marks = tmp_path / "state", tmp_path / "log", tmp_path / "marks"
    run = mastermind("run", "--state-dir", str(state), str(flow), "-i", f"marks={marks}", log=log)
    wait_until(lambda: marks.exists() and "tick" in marks.read_text(), "the step is working")
    worker = int(Path(f"{marks}.pid").read_text().split()[0])
    run.send_signal(signal.SIGKILL)
    run.wait()
    # the fork server exits with its owner, and the worker dies with the fork server
    wait_until(lambda: not pid_alive(worker), "the pool worker died with its owner")
    resume = mastermind("resume", "--state-dir", str(state), log=log)
    assert resume.wait(timeout=120) == 0, log.read_text()
    spans = intervals(marks)
    assert len(spans) == 2, spans
    assert_no_overlap(spans)


def test_records_name_one_process_by_pid_and_start_time(tmp_path: Path) -> None:
    group = subprocess.Popen(
        ["/bin/sh", "-c", "sleep 60 & sleep 60 & wait"], start_new_session=True
    )
    single = subprocess.Popen(["sleep", "60"])
    try:
        wait_until(lambda: len(still_running(describe(group.pid, group=True))) == 3, "group up")
        record = describe(group.pid, group=True)
        reused = ProcessRecord(group.pid, record.start + 1, True, record.host, record.boot)
        elsewhere = ProcessRecord(group.pid, record.start, True, "another-host", record.boot)
        assert still_running(reused) == [] and still_running(elsewhere) == []
        assert kill_recorded([reused, elsewhere]) == []  # not ours: untouched
        assert pid_alive(group.pid)
        members = still_running(record)
        assert sorted(kill_recorded([record, describe(single.pid, group=False)])) == sorted(
            [*members, single.pid]
        )
        assert not any(pid_alive(pid) for pid in members) and not pid_alive(single.pid)
    finally:
        for process in (group, single):
            process.kill()
            process.wait()


async def test_resume_kills_what_the_interrupted_attempt_left_before_running_it(
    tmp_path: Path,
) -> None:
    """The coordinator's resume path, with a leftover that no parent-death signal reached."""
    leftover = await asyncio.create_subprocess_exec("sleep", "60")
    marks = tmp_path / "marks"
    await asyncio.to_thread(Path(f"{marks}.pid").write_text, "1\n")  # a later, short attempt
    store = SqliteStore(tmp_path / "state")
    await store.open()
    try:
        text = CPU_FLOW
        record = RunRecord("r1", "long_cpu", "d", text, str(tmp_path / "cpu.yaml"), {})
        record.inputs = {"marks": str(marks)}
        await store.create_run(record)
        process = describe(leftover.pid, group=False).to_dict()
        for seq, status, fields in [
            (1, "running", {}),
            (2, "queued", {"step_id": "work"}),
            (3, "running", {"step_id": "work", "attempt": 1}),
            (4, "process", {"step_id": "work", "attempt": 1, "processes": [process]}),
        ]:
            await store.append(Event(run_id="r1", seq=seq, at=float(seq), status=status, **fields))  # type: ignore[arg-type]
    finally:
        await store.close()
    async with Coordinator(AgentRegistry(load_plugins=False), SqliteStore(tmp_path / "state")) as c:
        await c.resume("r1")
        assert leftover.returncode is None or leftover.returncode == -signal.SIGKILL
        result = await c.wait("r1")
    assert result.ok, result.error
    assert await leftover.wait() == -signal.SIGKILL


def test_a_leftover_that_cannot_be_killed_is_named_not_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """EPERM (not ours to signal): kill_recorded raises Unkillable naming it, and resume
    refuses the run with that reason (before: a logged warning, and the step ran again beside
    it)."""
    single = subprocess.Popen(["sleep", "60"])
    try:
        record = describe(single.pid, group=False)
        real_kill = os.kill

        def refuse(pid: int, signum: int) -> None:
            if pid == single.pid:
                raise PermissionError(1, "Operation not permitted")
            real_kill(pid, signum)

        monkeypatch.setattr(os, "kill", refuse)
        with pytest.raises(Unkillable, match=f"cannot kill process {single.pid}"):
            kill_recorded([record], timeout=0.2)
    finally:
        monkeypatch.undo()
        single.kill()
        single.wait()
