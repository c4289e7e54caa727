"""`shell`: run a program. An argv list by default (no shell, no quoting problems); a shell
command only when the author asks with `shell: true`, and then data reaches it through
environment variables, never through the command text (which may hold no `${{ }}`).

The process runs in its own process group, led by a small supervisor
(`agents/shell_supervisor.sh`). When the step ends (timeout, cancellation, or normally with
stray background children) the whole group gets SIGTERM, then SIGKILL after `kill_grace`:
nothing survives the step. The supervisor is recorded (pid, start time, group) in a committed
`process` event before the command starts, so if the process running the step dies, the next
owner on this machine kills the group before the step runs again; and the supervisor kills the
group itself as soon as the process running the step dies (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
import signal
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, model_validator

from mastermind.engine.agent import Agent, Params, StepContext
from mastermind.errors import StepError
from mastermind.language.model import Duration, empty_dict

log = logging.getLogger(__name__)

SUPERVISOR = str(Path(__file__).with_name("shell_supervisor.sh"))


@functools.cache
def _supervisor() -> tuple[str, ...]:
    """The supervisor's command line: under `setpriv --pdeathsig TERM` (util-linux) where it
    exists, so the kernel tells the supervisor when the process running the step dies."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        log.warning("setpriv not found: shell steps do not die with their process at once")
        return ("/bin/sh", SUPERVISOR)
    return (setpriv, "--pdeathsig", "TERM", "/bin/sh", SUPERVISOR)


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


SPAWN_DEADLINE = 30.0  # seconds a cancelled attempt waits for its half-started process


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
        go_read, go_write = os.pipe()  # one byte once the supervisor is recorded
        try:
            spawn = asyncio.ensure_future(
                asyncio.create_subprocess_exec(
                    *_supervisor(),
                    str(os.getpid()),
                    str(go_read),
                    *argv,
                    stdin=asyncio.subprocess.PIPE
                    if params.stdin is not None
                    else asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    cwd=params.cwd,
                    env=env,
                    start_new_session=True,  # its own process group, so we can end all of it
                    pass_fds=(go_read,),
                )
            )
            try:
                try:
                    process = await asyncio.shield(spawn)
                except asyncio.CancelledError:
                    # cancelled (a timeout) while the supervisor was starting: let the start
                    # finish, then end it, so nothing the attempt started outlives it and no
                    # pipe is left open (it has not run the command: it waits for the go byte)
                    await _abandon_start(spawn, params.kill_grace)
                    raise
            except OSError as exc:
                raise StepError(f"cannot start {argv[0]!r}: {exc.strerror}") from None
            finally:
                os.close(go_read)
            try:
                await ctx.processes.started(process.pid, group=True)
                os.write(go_write, b"1")
                os.close(go_write)
                go_write = -1
                stdout, stderr, truncated = await _communicate(process, params)
                code = await process.wait()
            finally:
                if go_write >= 0:  # EOF: the supervisor exits without running the command
                    os.close(go_write)
                    go_write = -1
                await _end_group(process, params.kill_grace)
                _close_pipes(process)
        finally:
            if go_write >= 0:
                os.close(go_write)
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
    process: asyncio.subprocess.Process, params: ShellParams
) -> tuple[bytes, bytes, bool]:
    """Feed stdin and read both pipes, keeping at most max_output bytes of each.

    Reading ends when the program exits: background children it left holding the pipes are
    given a moment, then the group is killed (they would otherwise keep the step alive).
    """
    truncated = False

    async def read(stream: asyncio.StreamReader | None) -> bytes:
        nonlocal truncated
        kept = bytearray()
        if stream is None:
            return b""
        while chunk := await stream.read(65536):
            room = params.max_output - len(kept)
            if room > 0:
                kept += chunk[:room]
            if len(chunk) > room:
                truncated = True  # keep draining so the program is not blocked on a full pipe
        return bytes(kept)

    async def feed() -> None:
        if process.stdin is None:
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            process.stdin.write((params.stdin or "").encode())
            await process.stdin.drain()
        process.stdin.close()

    async with asyncio.TaskGroup() as group:
        group.create_task(feed())
        out = group.create_task(read(process.stdout))
        err = group.create_task(read(process.stderr))
        await _exited(process.pid)
        _, pending = await asyncio.wait({out, err}, timeout=0.2)
        if pending:
            _signal_group(process.pid, signal.SIGKILL)  # strays hold the pipes: end them
    return out.result(), err.result(), truncated


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


def _close_pipes(process: asyncio.subprocess.Process) -> None:
    """Release the process's pipes now that its group is gone. Read to the end they are closed
    already; after a cancelled read (a timeout) they would close only once the loop has seen
    EOF, which comes when the last killed member of the group has exited: on a loaded machine
    that can be after the step, and even the loop, has ended (a pipe transport left open, and
    EBUSY when the loop closes)."""
    transport = getattr(process, "_transport", None)  # asyncio keeps no public handle to it
    if transport is not None:
        transport.close()


async def _abandon_start(spawn: asyncio.Future[asyncio.subprocess.Process], grace: float) -> None:
    """End a process whose start was cancelled midway, once the start is complete."""
    try:
        async with asyncio.timeout(SPAWN_DEADLINE):
            process = await asyncio.shield(spawn)
    except (Exception, asyncio.CancelledError):  # it never started, or will not in time
        return
    with contextlib.suppress(asyncio.CancelledError):
        await _end_group(process, grace)
    _close_pipes(process)


async def _end_group(process: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM the process group, SIGKILL it after `grace`. A cancellation that arrives
    meanwhile is held until the group is gone, then re-raised."""
    pgid = process.pid  # start_new_session: the group id is the leader's pid
    cancelled = False
    if process.returncode is None:
        _signal_group(pgid, signal.SIGTERM)
        try:
            await asyncio.shield(asyncio.wait_for(process.wait(), grace))
        except TimeoutError:
            pass
        except asyncio.CancelledError:
            cancelled = True
    _signal_group(pgid, signal.SIGKILL)  # whatever is left of the group, leader or not
    if process.returncode is None:
        try:
            await asyncio.shield(process.wait())
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
