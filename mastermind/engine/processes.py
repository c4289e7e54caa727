"""Processes a step starts: recorded before they do any work, killed before the step runs again.

A record names a process by what cannot be confused with another one: host, boot id, pid, and
the process's start time (clock ticks since boot, field 22 of /proc/PID/stat). A pid alone may
have been reused by the time a run is resumed; pid + start time on the same boot may not.

`group` records (a shell step's supervisor, which leads its own session) are killed as a whole
process group. Linux does not hand out a pid while a process group of that number still exists,
so a group whose leader is gone is still safely named by its number; when the leader is alive,
its start time must match. `kill_recorded` runs on resume and takeover, before the step runs
again, on the machine the record was made on (other machines cannot reach the process; there
the old owner stops its steps when it loses the lease).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    """One process (or process group) an attempt started."""

    pid: int
    start: int  # clock ticks after boot at which the process started
    group: bool  # kill its whole process group (it leads one), not just the process
    host: str
    boot: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProcessRecord:
        return cls(
            int(data["pid"]), int(data["start"]), bool(data["group"]), data["host"], data["boot"]
        )


@functools.cache
def this_boot() -> str:
    """The kernel's boot id: start times are only comparable within one boot."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


@functools.cache
def this_host() -> str:
    return socket.gethostname()


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, process group, start time) of a process, or None if there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    return fields[0], int(fields[2]), int(fields[19])


def describe(pid: int, *, group: bool) -> ProcessRecord:
    """The record of a live process this process just started."""
    stat = _stat(pid)
    start = stat[2] if stat is not None else 0
    return ProcessRecord(pid, start, group, this_host(), this_boot())


def _alive(stat: tuple[str, int, int] | None) -> bool:
    return stat is not None and stat[0] not in ("Z", "X")  # a zombie does no more work


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group `pgid`."""
    members = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if _alive(stat) and stat is not None and stat[1] == pgid:
                members.append(int(entry.name))
    return members


def still_running(record: ProcessRecord) -> list[int]:
    """The live processes a record still names on this machine (empty if none, or if it was
    made on another machine or boot, where this process cannot reach it)."""
    if record.host != this_host() or record.boot != this_boot():
        return []
    stat = _stat(record.pid)
    if stat is not None and stat[2] != record.start:
        return []  # the pid now belongs to another process; our group, if any, is gone
    if record.group:
        return _group_members(record.pid)
    return [record.pid] if _alive(stat) else []


def children(pid: int) -> list[int]:
    """The children of every thread of `pid` (Linux /proc/PID/task/TID/children)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as file:
                found.extend(int(child) for child in file.read().split())
        except (OSError, ValueError):
            continue
    return found


def descendants(pid: int) -> list[int]:
    """The live (not zombie) descendants of `pid`, parents before their children."""
    found: list[int] = []
    todo = children(pid)
    while todo:
        child = todo.pop()
        todo.extend(children(child))
        if _alive(_stat(child)):
            found.append(child)
    return found


def kill_descendants(pid: int, timeout: float = 10.0) -> list[int]:
    """SIGKILL every descendant of `pid` until none is left alive (bounded by `timeout`);
    returns the pids killed. `pid` should be a child subreaper that does not fork meanwhile
    (stopped, or ourselves): a descendant's orphans are then re-parented to it, never to init,
    and the next round finds them."""
    killed: list[int] = []
    deadline = time.monotonic() + timeout
    while found := descendants(pid):
        for child in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGKILL)
                if child not in killed:
                    killed.append(child)
        if time.monotonic() > deadline:
            log.error("descendants of %s survived SIGKILL for %.0fs: %s", pid, timeout, found)
            break
        time.sleep(0.001)
    return killed


def kill_tree(pid: int, *, group: bool, timeout: float = 10.0) -> None:
    """SIGKILL `pid` and all its descendants: first stopped (it forks no more and, a subreaper,
    adopts the orphans of what is killed below it), then its descendants, then itself (with
    its process group if `group`)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGSTOP)
    kill_descendants(pid, timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)


class Unkillable(Exception):
    """A recorded process could not be killed (not ours to signal, or it survived SIGKILL)."""


def kill_recorded(records: list[ProcessRecord], timeout: float = 10.0) -> list[int]:
    """SIGKILL what is left of `records` on this machine, with every descendant of the
    recorded process (also those that left its process group), and wait (up to `timeout`)
    until it is gone. Blocking: run it in a thread. Returns the pids that were still running;
    raises Unkillable, naming them, if any could not be signalled or survived."""
    found: list[int] = []
    refused: list[str] = []
    for record in records:
        members = still_running(record)
        if not members:
            continue
        stat = _stat(record.pid)
        if _alive(stat) and stat is not None and stat[2] == record.start:
            found.extend(p for p in descendants(record.pid) if p not in members)
            kill_tree(record.pid, group=record.group, timeout=timeout)
        found.extend(members)
        try:
            if record.group:
                os.killpg(record.pid, signal.SIGKILL)
            else:
                os.kill(record.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        except PermissionError as exc:
            refused.append(f"cannot kill process {record.pid}: {exc.strerror}")
    deadline = time.monotonic() + timeout
    pending = [r for r in records if still_running(r)]
    while pending and time.monotonic() < deadline:
        time.sleep(0.01)
        pending = [r for r in pending if still_running(r)]
    refused.extend(f"process {r.pid} survived SIGKILL for {timeout:.0f}s" for r in pending)
    if refused:
        raise Unkillable("; ".join(dict.fromkeys(refused)))
    return found


@functools.cache
def _prctl() -> Any:
    """libc's prctl, or None where there is none (not Linux)."""
    import ctypes  # only when needed: ctypes costs the CLI's cold start

    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def prepare_prctl() -> bool:
    """Look prctl up now (before a fork whose child calls `supervise_children`)."""
    return _prctl() is not None


def supervise_children(death_signal: int | None = None) -> bool:
    """Make this process a child subreaper (Linux PR_SET_CHILD_SUBREAPER: descendants that
    leave their parent or their session, e.g. by `setsid` or a double fork, are re-parented to
    it, not to init, so it can find and end them), and, if `death_signal`, have the kernel
    send it that signal when its parent dies. Async-signal-safe enough to run between fork and
    exec once `prepare_prctl()` was called in the parent. False where not supported."""
    prctl = _prctl()
    if prctl is None:
        return False
    if prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        return False
    if death_signal is not None:
        prctl(PR_SET_PDEATHSIG, int(death_signal), 0, 0, 0)
    return True


def die_with_parent(parent: int, signum: int = signal.SIGKILL) -> None:
    """Ask the kernel to send `signum` to this process when its parent dies (Linux
    PR_SET_PDEATHSIG); if the parent is already gone, act on it at once."""
    prctl = _prctl()
    if prctl is None:  # not Linux: resume-time kills still apply
        return
    prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
    if os.getppid() != parent:
        os.kill(os.getpid(), signum)
