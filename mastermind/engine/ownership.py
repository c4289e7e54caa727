"""Which local process runs a run: owners are recorded as `host:pid`."""

from __future__ import annotations

import os
import socket


def pid_alive(pid: int) -> bool:
    """Is process `pid` running (a zombie is not)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists; it is someone else's
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False  # it ended just now
    except OSError:
        return True


def held_elsewhere(owner: str) -> bool:
    """Is `owner` (`host:pid`) another live process on this machine?"""
    host, _, pid_text = owner.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    return pid_alive(int(pid_text))
