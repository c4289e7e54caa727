"""`shell`: run a program. An argv list by default (no shell, no quoting problems); a shell
command only when the author asks with `shell: true`, and then data reaches it through
environment variables, never through the command text (which may hold no `${{ }}`).

The process runs under a small supervisor (`agents/shell_supervisor.sh`) that leads its own
process group and session and is a child subreaper, so what the command leaves behind, even a
`setsid` or double-forked process in another session, stays its descendant. When the step ends
(normally, by timeout or cancellation) the supervisor SIGKILLs every descendant still alive
(after SIGTERM and `kill_grace` on a timeout or cancellation). It is recorded (pid, start time,
group) in a committed `process` event before the command starts, so if the process running the
step dies, the next owner on this machine kills it and its descendants before the step runs
again; and it kills them itself as soon as the process running the step dies
(PR_SET_PDEATHSIG). Not covered: a process handed to a service outside the tree
(`systemd-run`, `at`, a command run over `ssh` on the remote side), or one that is not ours to
signal (setuid).

The supervisor is started with `subprocess.Popen`, not the event loop's subprocess support:
uvloop's children inherit every inheritable descriptor of the daemon and copies of their own
stdout and stderr (libuv relies on close-on-exec), so a background process of the step kept
the step's pipes open; Popen closes every descendant other than 0, 1 and 2 (`close_fds`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, model_validator

from mastermind.engine.agent import Agent, Params, StepContext, process_tools
from mastermind.errors import StepError
from mastermind.language.model import Duration, empty_dict

log = logging.getLogger(__name__)

SUPERVISOR = str(Path(__file__).with_name("shell_supervisor.sh"))


@functools.cache
def _supervised() -> Callable[[], object] | None:
    """What makes the supervisor, between fork and exec, a child subreaper that gets SIGUSR2
    when we die (looked up here, in the parent), or None where prctl is missing (not Linux)."""
    tools = process_tools()
    if tools.prepare_prctl():
        return functools.partial(tools.supervise_children, signal.SIGUSR2)
    log.warning("no prctl: shell steps do not die with their process at once")
    return None


class ShellParams(Params):
    argv: list[str] | None = Field(None, min_length=1, description="program and arguments")
    command: str | None = Field(None, description="shell command text (needs shell: true)")
    shell: bool = Field(False, description="run `command` with /bin/sh -c")
    cwd: str | None = None
    env: dict[str, str] = Field(
        default_factory=empty_dict, description="extra environment variables"
    )
    inherit_env: bool = Field(True, description="start from the daemon's environment")
    stdin: str | None = None
    max_output: int = Field(1024 * 1024, ge=0, description="bytes kept of stdout and of stderr")
    ok_codes: list[int] = Field(default_factory=lambda: [0], description="exit codes that succeed")
    kill_grace: Duration = Field(5.0, description="SIGTERM to SIGKILL delay")

    @model_validator(mode="after")
    def _one_way_to_run(self) -> ShellParams:
        if self.shell:
            if self.command is None or self.argv is not None:
                raise ValueError("with shell: true, give `command` (and no argv)")
        elif self.argv is None or self.command is not None:
            raise ValueError("give `argv` as a list; `command` needs shell: true")
        return self


SUPERVISOR_DEADLINE = 5.0  # seconds the supervisor has to kill its descendants after SIGUSR1


class ShellAgent(Agent[ShellParams]):
    """Outputs `exit_code`, `stdout`, `stderr` (decoded as UTF-8), `truncated`."""

    name = "shell"
    examples = ({"argv": ["echo", "${{ inputs.message }}"]},)
    Params = ShellParams
    literal_fields: ClassVar[tuple[str, ...]] = ("command",)

    async def run(self, params: ShellParams, ctx: StepContext) -> Any:
        env = dict(os.environ) if params.inherit_env else {}
        env.update(params.env)
        env.update(
            MASTERMIND_IDEMPOTENCY_KEY=ctx.idempotency_key,
            MASTERMIND_RUN_ID=ctx.run_id,
            MASTERMIND_STEP_ID=ctx.step_id,
            MASTERMIND_ATTEMPT=str(ctx.attempt),
        )
        argv = ["/bin/sh", "-c", params.command or ""] if params.shell else list(params.argv or [])
        if not _runnable(argv[0], params.cwd, env.get("PATH", os.defpath)):
            raise StepError(f"cannot start {argv[0]!r}: no such program")
        try:
            # blocks only for fork and exec, as the loop's own spawn does
            process = subprocess.Popen(  # noqa: ASYNC220
                ["/bin/sh", SUPERVISOR, str(os.getpid()), *argv],
                stdin=subprocess.PIPE,  # "1" once the supervisor is recorded, then params.stdin
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=params.cwd,
                env=env,
                start_new_session=True,  # its own process group, so we can end all of it
                close_fds=True,
                preexec_fn=_supervised(),
            )
        except OSError as exc:
            raise StepError(f"cannot start {argv[0]!r}: {exc.strerror}") from None
        assert process.stdin is not None and process.stdout is not None
        assert process.stderr is not None
        for pipe in (process.stdin, process.stdout, process.stderr):
            os.set_blocking(pipe.fileno(), False)
        try:
            try:
                await ctx.processes.started(process.pid, group=True)
                os.write(process.stdin.fileno(), b"1\n")  # a new pipe: never blocks
                stdout, stderr, truncated = await _communicate(process, params)
                code = process.wait()  # it has exited: no blocking
            finally:
                process.stdin.close()  # EOF before "1": the supervisor exits without running
                await _end_group(process, params.kill_grace)
        finally:
            for pipe in (process.stdin, process.stdout, process.stderr):
                pipe.close()
        result = {
            "exit_code": code,
            "stdout": stdout.decode("utf-8", "replace"),
            "stderr": stderr.decode("utf-8", "replace"),
            "truncated": truncated,
        }
        if code not in params.ok_codes:
            tail = stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            detail = f": {' | '.join(tail)}" if tail else ""
            raise StepError(f"{argv[0]} exited with code {code}{detail}")
        return result


def _runnable(program: str, cwd: str | None, path: str) -> bool:
    """Whether exec would find `program` (checked up front: the supervisor runs it later)."""
    if "/" in program:
        return os.access(os.path.join(cwd or "", program), os.X_OK)
    return shutil.which(program, path=path) is not None


async def _communicate(
    process: subprocess.Popen[bytes], params: ShellParams
) -> tuple[bytes, bytes, bool]:
    """Feed stdin and read both pipes, keeping at most max_output bytes of each.

    Reading ends when the supervisor exits (it ends every process the command left first):
    anything still holding the pipes then is given a moment, then the group is killed.
    """
    truncated = False

    async def read(fd: int) -> bytes:
        nonlocal truncated
        kept = bytearray()
        while chunk := await _read(fd):
            room = params.max_output - len(kept)
            if room > 0:
                kept += chunk[:room]
            if len(chunk) > room:
                truncated = True  # keep draining so the program is not blocked on a full pipe
        return bytes(kept)

    async def feed() -> None:
        assert process.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await _write(process.stdin.fileno(), (params.stdin or "").encode())
        process.stdin.close()

    assert process.stdout is not None and process.stderr is not None
    async with asyncio.TaskGroup() as group:
        group.create_task(feed())
        out = group.create_task(read(process.stdout.fileno()))
        err = group.create_task(read(process.stderr.fileno()))
        await _exited(process.pid)
        _, pending = await asyncio.wait({out, err}, timeout=0.2)
        if pending:
            _signal_group(process.pid, signal.SIGKILL)  # strays hold the pipes: end them
    return out.result(), err.result(), truncated


async def _ready(fd: int, *, write: bool) -> None:
    """Wait until a non-blocking descriptor can be read (or written)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    (loop.add_writer if write else loop.add_reader)(fd, wake)
    try:
        await ready
    finally:
        (loop.remove_writer if write else loop.remove_reader)(fd)


async def _read(fd: int) -> bytes:
    """The next chunk from a non-blocking pipe (b"" at end of file)."""
    while True:
        try:
            return os.read(fd, 65536)
        except BlockingIOError:
            await _ready(fd, write=False)


async def _write(fd: int, data: bytes) -> None:
    """All of `data` into a non-blocking pipe, as the reader drains it."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            await _ready(fd, write=True)


async def _exited(pid: int) -> None:
    """Wait for a process to exit without reaping it (a pidfd becomes readable)."""
    loop = asyncio.get_running_loop()
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    exited: asyncio.Future[None] = loop.create_future()

    def on_exit() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(pidfd, on_exit)
    try:
        await exited
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)


async def _end_group(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process group (the supervisor passes it to the descendants that left the
    group); after `grace`, SIGUSR1 to the supervisor, which SIGKILLs every descendant; then
    SIGKILL the group. A cancellation that arrives meanwhile is held until the group is
    gone, then re-raised."""
    pgid = process.pid  # start_new_session: the group id is the leader's pid
    cancelled = False

    async def exited(within: float) -> bool:
        nonlocal cancelled
        try:
            await asyncio.shield(asyncio.wait_for(_exited(process.pid), within))
        except TimeoutError:
            return False
        except asyncio.CancelledError:
            cancelled = True
            return False
        return True

    if process.poll() is None:
        _signal_group(pgid, signal.SIGTERM)
        if not await exited(grace) and not cancelled:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGUSR1)  # not reaped: still our supervisor
            await exited(SUPERVISOR_DEADLINE)
    _signal_group(pgid, signal.SIGKILL)  # whatever is left of the group, leader or not
    while process.poll() is None:
        try:
            await asyncio.shield(_exited(process.pid))
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
