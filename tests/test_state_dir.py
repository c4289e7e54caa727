"""Files at rest are private: the state directory 0700, the database with its WAL and SHM files
and the API token 0600, whatever the umask; a loose directory of ours is tightened."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mastermind.service.daemon import generated_token
from mastermind.store.events import Event
from mastermind.store.sqlite import DB_NAME, SqliteStore
from mastermind.store.state_dir import UnsafeStateDir, ensure_private_dir
from tests.test_postgres import record

ROOT = Path(__file__).resolve().parent.parent
HELLO = "workflows/hello.yaml"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


async def test_the_database_and_its_wal_and_shm_files_are_private(
    tmp_path: Path, umask: int
) -> None:
    state = tmp_path / "deeper" / "state"
    store = SqliteStore(state)
    await store.open()
    try:
        await store.create_run(record("r1"))
        await store.append(Event(run_id="r1", seq=1, at=1.0, status="running"))
        files = {p.name: mode(p) for p in state.iterdir()}
    finally:
        await store.close()
    assert mode(state) == 0o700
    assert files == {DB_NAME: 0o600, f"{DB_NAME}-wal": 0o600, f"{DB_NAME}-shm": 0o600}


def test_mastermind_run_makes_a_private_state_dir(tmp_path: Path, umask: int) -> None:
    state = tmp_path / "state"
    done = subprocess.run(
        [sys.executable, "-m", "mastermind", "run", "-q", "--state-dir", str(state), HELLO],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        umask=umask,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    assert mode(state) == 0o700
    # the WAL and its index stay after the run (closing does not checkpoint), private as well
    files = {p.name: mode(p) for p in state.iterdir()}
    assert files.pop(DB_NAME) == 0o600
    assert files == {f"{DB_NAME}-wal": 0o600, f"{DB_NAME}-shm": 0o600}


def test_the_generated_api_token_is_private(tmp_path: Path, umask: int) -> None:
    token, created = generated_token(tmp_path / "state")
    assert created and len(token) > 30
    assert mode(tmp_path / "state") == 0o700
    assert mode(tmp_path / "state" / "api-token") == 0o600
    assert generated_token(tmp_path / "state") == (token, False)


async def test_loose_files_and_directories_of_ours_are_tightened(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    (state / "api-token").write_text("t\n")
    os.chmod(state / "api-token", 0o644)
    store = SqliteStore(state)
    await store.open()
    await store.close()
    os.chmod(state / DB_NAME, 0o644)  # as an older version left it
    await store.open()
    await store.close()
    assert generated_token(state) == ("t", False)
    assert mode(state) == 0o700
    assert mode(state / DB_NAME) == 0o600 and mode(state / "api-token") == 0o600
    assert "tightened to 0700" in caplog.text


def test_a_shared_directory_is_left_alone_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)
    (shared / "somebody-elses.txt").write_text("x")
    ensure_private_dir(shared)
    assert mode(shared) == 0o755
    assert "readable by other users" in caplog.text


async def test_a_planted_symlink_is_never_followed(tmp_path: Path) -> None:
    """A symlink named like one of our files is refused, not followed: before, opening the
    store chmodded the symlink's target (`mastermind.db-wal -> victim`: the victim became
    0600) and the daemon took a planted `api-token` link's target as its token."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("their token\n")
    os.chmod(victim, 0o644)
    (state / f"{DB_NAME}-wal").symlink_to(victim)
    with pytest.raises(UnsafeStateDir, match="symbolic link"):
        await SqliteStore(state).open()
    assert mode(victim) == 0o644
    (state / "api-token").symlink_to(victim)
    with pytest.raises(UnsafeStateDir, match="symbolic link"):
        generated_token(state)


@pytest.mark.parametrize("how", ["world-writable", "sticky", "another user's"])
def test_a_directory_others_may_write_or_own_is_refused(tmp_path: Path, how: str) -> None:
    """As ssh refuses such a ~/.ssh: whoever may create entries there may plant a symlink.
    Before: used (with a warning at most)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, {"world-writable": 0o777, "sticky": 0o1777, "another user's": 0o700}[how])
    if how == "another user's":
        if os.geteuid() != 0:
            pytest.skip("needs root to give the directory away")
        os.chown(shared, 65534, 65534)
    with pytest.raises(UnsafeStateDir, match="refusing"):
        ensure_private_dir(shared)
    with pytest.raises(UnsafeStateDir, match="refusing"):
        generated_token(shared)
