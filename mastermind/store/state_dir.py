"""Where the embedded store keeps its files when nobody says otherwise, and keeping them private.

Runs hold their inputs and outputs, and the daemon keeps its API token here, so the directory is
0700 and every file in it 0600 whatever the umask. A directory that already exists with looser
permissions is tightened when it holds nothing but mastermind's own files (it is ours); a
directory that holds anything else (someone pointed --state-dir at a shared folder) is left as
it is, with a warning, because changing its mode could break whatever else lives there.

A directory that another user owns, or that others may write to (a world-writable shared
folder, even with the sticky bit), is refused, as ssh refuses such a ~/.ssh: anyone who can
create entries there can plant a symlink named like one of our files (`mastermind.db-wal ->
/their/victim` made us chmod the victim; a planted `api-token` chose the daemon's API token).
Our files are never reached through a symlink: each is opened with O_NOFOLLOW, checked to be a
regular file of ours, and changed through its descriptor (fchmod).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from pathlib import Path

from mastermind.errors import MastermindError

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
# What mastermind itself keeps in a state directory.
OWN_FILES = frozenset({"mastermind.db", "mastermind.db-wal", "mastermind.db-shm", "api-token"})


class UnsafeStateDir(MastermindError):
    """A state directory or file that others could have planted or may change."""


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
    info = folder.stat()
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid != os.geteuid():
        raise UnsafeStateDir(
            f"state directory {folder} belongs to another user (uid {info.st_uid}): "
            "refusing to use it (choose a directory of your own with --state-dir)"
        )
    if mode & 0o022:
        raise UnsafeStateDir(
            f"state directory {folder} may be written by other users (mode {mode:o}): "
            "refusing to use it, as they could plant files or symlinks there; "
            f"run `chmod 700 {folder}` or choose another --state-dir"
        )
    if mode & 0o077 == 0:
        return folder
    others = sorted(p.name for p in folder.iterdir() if p.name not in OWN_FILES)
    if others:
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


def open_own(path: Path, flags: int = os.O_RDONLY, mode: int = FILE_MODE) -> int:
    """Open a file of ours without following a symlink, and check that it is a regular file
    that we own; returns the descriptor. Raises FileNotFoundError if it does not exist (and
    O_CREAT is not in `flags`), UnsafeStateDir if it is a symlink or not ours."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeStateDir(f"{path} is a symbolic link: refusing to follow it") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            raise UnsafeStateDir(f"{path} is not a regular file of ours: refusing to use it")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def make_private(path: Path) -> None:
    """Give an existing file of ours mode 0600 (no-op if it does not exist)."""
    try:
        fd = open_own(path)
    except FileNotFoundError:
        return
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def create_private(path: Path) -> None:
    """Make sure `path` exists with mode 0600 before anyone (SQLite) writes to it. SQLite gives
    the WAL and shared-memory files the database file's mode, so they follow."""
    fd = open_own(path, os.O_WRONLY | os.O_CREAT)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
