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


def kill_recorded(records: list[ProcessRecord], timeout: float = 10.0) -> list[int]:
    """SIGKILL what is left of `records` on this machine and wait (up to `timeout`) until it is
    gone. Blocking: run it in a thread. Returns the pids that were still running."""
    found: list[int] = []
    for record in records:
        members = still_running(record)
        if not members:
            continue
        found.extend(members)
        try:
            if record.group:
                os.killpg(record.pid, signal.SIGKILL)
            else:
                os.kill(record.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError) as exc:
            log.warning("cannot kill leftover process %s: %s", record.pid, exc)
    deadline = time.monotonic() + timeout
    pending = [r for r in records if still_running(r)]
    while pending and time.monotonic() < deadline:
        time.sleep(0.01)
        pending = [r for r in pending if still_running(r)]
    for record in pending:
        log.error("leftover process %s survived SIGKILL for %.0fs", record.pid, timeout)
    return found


def die_with_parent(parent: int, signum: int = signal.SIGKILL) -> None:
    """Ask the kernel to send `signum` to this process when its parent dies (Linux
    PR_SET_PDEATHSIG); if the parent is already gone, act on it at once."""
    import ctypes  # only in pool workers: ctypes costs the CLI's cold start

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: resume-time kills still apply
        return
    if os.getppid() != parent:
        os.kill(os.getpid(), signum)
