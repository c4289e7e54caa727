"""systemd integration without libsystemd: sd_notify over the datagram socket in $NOTIFY_SOCKET."""

from __future__ import annotations

import os
import socket


def notify(state: str, environ: dict[str, str] | None = None) -> bool:
    """Send `state` (e.g. "READY=1") to systemd; False when not run under a notify socket."""
    address = (environ if environ is not None else os.environ).get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(address)
            sock.sendall(state.encode())
        except OSError:
            return False
    return True


def watchdog_interval(environ: dict[str, str] | None = None) -> float | None:
    """Half of WatchdogSec (systemd sets WATCHDOG_USEC for this process), or None."""
    env = environ if environ is not None else os.environ
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec or (pid and pid.isdigit() and int(pid) != os.getpid()):
        return None
    return int(usec) / 1_000_000 / 2
