"""Where the embedded store keeps its files when nobody says otherwise, and keeping them private.

Runs hold their inputs and outputs, and the daemon keeps its API token here, so the directory is
0700 and every file in it 0600 whatever the umask. A directory that already exists with looser
permissions is tightened when it holds nothing but mastermind's own files (it is ours); a
directory that holds anything else (someone pointed --state-dir at a shared folder) is left as
it is, with a warning, because changing its mode could break whatever else lives there.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
# What mastermind itself keeps in a state directory.
OWN_FILES = frozenset({"mastermind.db", "mastermind.db-wal", "mastermind.db-shm", "api-token"})


def default_state_dir() -> Path:
    """$MASTERMIND_STATE_DIR, else $XDG_STATE_HOME/mastermind, else ~/.local/state/mastermind."""
    if os.environ.get("MASTERMIND_STATE_DIR"):
        return Path(os.environ["MASTERMIND_STATE_DIR"])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "mastermind"


def ensure_private_dir(folder: Path) -> Path:
    """Create `folder` 0700 (parents as the umask says), or tighten it if it is ours."""
    try:
        folder.mkdir(parents=True, mode=DIR_MODE)
        os.chmod(folder, DIR_MODE)  # mkdir's mode is masked by the umask; make it exact
        return folder
    except FileExistsError:
        pass
    mode = stat.S_IMODE(folder.stat().st_mode)
    if mode & 0o077 == 0:
        return folder
    others = sorted(p.name for p in folder.iterdir() if p.name not in OWN_FILES)
    if others or folder.stat().st_uid != os.geteuid():
        log.warning(
            "state directory %s is readable by other users (mode %o) and holds other files; "
            "leaving it as it is: runs' inputs and outputs there are not private",
            folder,
            mode,
        )
    else:
        os.chmod(folder, DIR_MODE)
        log.warning("state directory %s had mode %o; tightened to 0700", folder, mode)
    return folder


def make_private(path: Path) -> None:
    """Give an existing file of ours mode 0600 (no-op if it does not exist)."""
    try:
        if stat.S_IMODE(path.stat().st_mode) != FILE_MODE:
            os.chmod(path, FILE_MODE)
    except FileNotFoundError:
        pass


def create_private(path: Path) -> None:
    """Make sure `path` exists with mode 0600 before anyone (SQLite) writes to it. SQLite gives
    the WAL and shared-memory files the database file's mode, so they follow."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
