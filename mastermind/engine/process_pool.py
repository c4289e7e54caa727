"""A process pool for CPU-bound steps that can really stop work and survive dying workers.

Why not `concurrent.futures.ProcessPoolExecutor`: it cannot stop a call that is running (a
timed-out step would keep a core busy), and one dead worker breaks the whole executor, failing
every call in flight. Here each worker is a process with its own pipe, so the pool knows which
worker runs which call: cancelling a call kills exactly that worker and starts a replacement,
and a worker that dies (os._exit, SIGKILL, segfault) fails only its own call, with a retryable
WorkerLost error. Results arrive through `loop.add_reader`, so the event loop never blocks
waiting for them; processes are started and reaped in threads.

The parent's end of each worker's socket pair is non-blocking (uvloop makes a watched fd so
anyway) and speaks multiprocessing's framing itself (`_Frames`): a reply arrives in pieces
across wakeups and a request is written as the worker drains it. `Connection.recv` there took
the second piece of a reply over 16 KiB, not yet arrived (EAGAIN), for a dead worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
from collections import deque
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any

from mastermind.engine.processes import (
    die_with_parent,
    kill_descendants,
    kill_tree,
    supervise_children,
)
from mastermind.errors import MastermindError, RetryableStepError, StepError

log = logging.getLogger(__name__)


class WorkerLost(RetryableStepError):
    """The worker process running a call died before answering."""


class PoolClosed(MastermindError):
    """The pool is shutting down."""


def _worker_main(conn: Connection, parent: int) -> None:
    """A worker: call `module:function` for each request until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    # A child subreaper: what a function starts and leaves behind, even in a new session
    # (start_new_session, a double fork), stays our descendant, and is killed when the call
    # returns (and by the pool, which stops us and kills our descendants, on a timeout).
    supervise_children()
    # The fork server is our parent, and it exits when the process that owns the pool dies:
    # SIGTERM then, which kills our descendants and exits (SIGKILL would orphan them to init);
    # a handler waits for the Python code running to reach a bytecode boundary, so a resume
    # also kills the recorded worker and its descendants before the step runs again.
    signal.signal(signal.SIGTERM, _die)
    die_with_parent(parent, signal.SIGTERM)
    functions: dict[str, Callable[..., Any]] = {}
    while True:
        try:
            reference, args, kwargs = conn.recv()
        except (EOFError, OSError):
            return
        try:
            function = functions.get(reference)
            if function is None:
                module_name, _, attribute = reference.partition(":")
                target: Any = importlib.import_module(module_name)
                for part in attribute.split("."):
                    target = getattr(target, part)
                function = functions[reference] = target
            reply: tuple[str, Any, bool] = ("ok", function(*args, **kwargs), False)
        except Exception as exc:
            retryable = bool(getattr(exc, "retryable", False))
            reply = ("error", f"{type(exc).__name__}: {exc}", retryable)
        try:
            conn.send(reply)
        except Exception as exc:  # e.g. a result that cannot be pickled
            conn.send(("error", f"result cannot be sent back: {type(exc).__name__}: {exc}", False))
        _end_leftovers()


def _end_leftovers() -> None:
    """Kill and reap whatever the call left running (nothing survives a step)."""
    kill_descendants(os.getpid())
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _die(_signum: int, _frame: object) -> None:
    kill_descendants(os.getpid())
    os._exit(1)


def _bootstrap(conn: Connection) -> None:
    _let_the_fork_server_go()
    _worker_main(conn, os.getppid())


def _let_the_fork_server_go() -> None:
    """Close this worker's copy of the fork server's "alive" pipe. The fork server exits when
    every copy is closed, which should happen when the process owning the pool dies; but each
    forked child inherits one, so a busy worker would keep the fork server (and so itself)
    alive forever. multiprocessing keeps the copy only so that a worker can start processes of
    its own through the fork server, which ours never do."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if isinstance(fd, int):
        with contextlib.suppress(OSError):
            os.close(fd)
        server._forkserver_alive_fd = None  # type: ignore[union-attr]


def _frame(message: Any) -> bytes:
    """`message` as `Connection.send` frames it: a big-endian length, then the pickle."""
    payload = bytes(ForkingPickler.dumps(message))
    if len(payload) > 0x7FFFFFFF:
        return struct.pack("!iQ", -1, len(payload)) + payload
    return struct.pack("!i", len(payload)) + payload


class _Frames:
    """Reassembles `Connection.send` frames from the pieces a non-blocking read returns."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        """Add what was read; return every message now complete."""
        self._buffer += data
        messages = []
        while len(self._buffer) >= 4:
            (size,) = struct.unpack_from("!i", self._buffer)
            start = 4
            if size == -1:
                if len(self._buffer) < 12:
                    break
                (size,) = struct.unpack_from("!Q", self._buffer, 4)
                start = 12
            if len(self._buffer) < start + size:
                break
            messages.append(pickle.loads(memoryview(self._buffer)[start : start + size]))
            del self._buffer[: start + size]
        return messages


class _Worker:
    __slots__ = ("frames", "future", "process", "sock")

    def __init__(self, process: Any, sock: socket.socket) -> None:
        self.process = process
        self.sock = sock  # the parent's end, non-blocking
        self.frames = _Frames()
        self.future: asyncio.Future[Any] | None = None


class ProcessPool:
    """`size` worker processes; `await pool.run("module:function", args, kwargs)`."""

    def __init__(self, size: int | None = None, *, start_method: str = "forkserver") -> None:
        self.size = size or os.cpu_count() or 1
        self._context = multiprocessing.get_context(start_method)
        self._workers: set[_Worker] = set()
        self._idle: deque[_Worker] = deque()
        self._waiting: deque[asyncio.Future[_Worker]] = deque()
        self._chores: set[asyncio.Task[None]] = set()
        self._started = False
        self._start_lock = asyncio.Lock()
        self._closed = False
        self.replaced = 0  # workers replaced after dying or being stopped
        self.calls = 0

    @property
    def alive(self) -> int:
        return len(self._workers)

    @property
    def busy(self) -> int:
        return len(self._workers) - len(self._idle)

    async def start(self) -> None:
        """Start the workers (idempotent); the first call starts the fork server."""
        async with self._start_lock:
            if self._started:
                return
            workers = await asyncio.gather(
                *(asyncio.to_thread(self._spawn) for _ in range(self.size))
            )
            self._started = True
            for worker in workers:
                self._adopt(worker)

    def _spawn(self) -> _Worker:
        parent, child_end = socket.socketpair()  # what Pipe(duplex=True) makes on Unix
        child = Connection(child_end.detach())
        process = self._context.Process(  # type: ignore[attr-defined]
            target=_bootstrap, args=(child,), daemon=True
        )
        try:
            process.start()
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        parent.setblocking(False)
        return _Worker(process, parent)

    def _adopt(self, worker: _Worker) -> None:
        if self._closed:
            self._chore(asyncio.to_thread(_stop, worker))
            return
        self._workers.add(worker)
        asyncio.get_running_loop().add_reader(worker.sock.fileno(), self._readable, worker)
        self._release(worker)

    def _release(self, worker: _Worker) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(worker)
                return
        self._idle.append(worker)

    async def _acquire(self) -> _Worker:
        if not self._started:
            await self.start()
        if self._closed:
            raise PoolClosed("the process pool is closed")
        if self._idle:
            return self._idle.popleft()
        waiter: asyncio.Future[_Worker] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release(waiter.result())  # handed a worker just as we were cancelled
            raise

    async def run(
        self,
        reference: str,
        args: list[Any] | tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        started: Callable[[int], Awaitable[None]] | None = None,
    ) -> Any:
        """Call `module:function(*args, **kwargs)` in a worker; cancelling stops the worker.
        `started(pid)` is awaited with the worker's pid before the call is sent (the step
        records the process that will do its work)."""
        worker = await self._acquire()
        if started is not None:
            try:
                await started(worker.process.pid)
            except BaseException:
                self._release(worker)  # nothing was sent: the worker is idle
                raise
        try:
            request = _frame((reference, list(args), dict(kwargs or {})))
        except BaseException:  # e.g. arguments that cannot be pickled: nothing was sent
            self._release(worker)
            raise
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        worker.future = future
        self.calls += 1
        # Written as the worker drains it; `future` fails first if the worker dies meanwhile.
        sending = loop.create_task(loop.sock_sendall(worker.sock, request))
        try:
            await asyncio.wait((sending, future), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            sending.cancel()
            future.cancel()
            if worker.future is future:  # a request half written, or a call running: stop it
                self._lose(worker, stop=True)
            raise
        if not sending.done():  # the worker was lost while the request was being written
            sending.cancel()
        elif sending.exception() is not None:  # e.g. a broken pipe: the worker died
            self._lose(worker)
        try:
            return await future
        except asyncio.CancelledError:
            if worker.future is future:  # no reply yet: the call is still running
                self._lose(worker, stop=True)  # really stop the work: kill its process
            raise

    def _readable(self, worker: _Worker) -> None:
        try:
            data = worker.sock.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return  # woken without data: wait for the next wakeup
        except OSError:
            data = b""
        if not data:  # end of file: the worker died
            self._lose(worker)
            return
        try:
            replies = worker.frames.feed(data)
        except Exception:  # a torn or foreign frame: nothing more from it can be trusted
            log.exception("process pool: unreadable reply from worker %s", worker.process.pid)
            self._lose(worker, stop=True)
            return
        for reply in replies:
            self._reply(worker, *reply)

    def _reply(self, worker: _Worker, kind: str, payload: Any, retryable: bool) -> None:
        future, worker.future = worker.future, None
        self._release(worker)
        if future is None or future.done():
            return
        if kind == "ok":
            future.set_result(payload)
        else:
            future.set_exception(StepError(payload, retryable=retryable))

    def _lose(self, worker: _Worker, *, stop: bool = False) -> None:
        """A worker died (or is being stopped): fail its call, replace it."""
        if worker not in self._workers:
            return
        self._workers.discard(worker)
        if worker in self._idle:
            self._idle.remove(worker)
        asyncio.get_running_loop().remove_reader(worker.sock.fileno())
        future, worker.future = worker.future, None
        if future is not None and not future.done():
            code = worker.process.exitcode
            how = f" (exit code {code})" if code is not None else ""
            future.set_exception(WorkerLost(f"the worker process running this step died{how}"))
        self._chore(self._replace(worker, stop))

    async def _replace(self, worker: _Worker, stop: bool) -> None:
        await asyncio.to_thread(_stop, worker)
        if self._closed:
            return
        self.replaced += 1
        log.warning(
            "process pool: worker %s %s; starting a replacement",
            worker.process.pid,
            "stopped" if stop else "died",
        )
        self._adopt(await asyncio.to_thread(self._spawn))

    def _chore(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    async def aclose(self) -> None:
        """Stop every worker and wait (bounded) for the bookkeeping tasks."""
        self._closed = True
        for waiter in self._waiting:
            if not waiter.done():
                waiter.set_exception(PoolClosed("the process pool is closed"))
        self._waiting.clear()
        loop = asyncio.get_running_loop()
        workers = list(self._workers)
        self._workers.clear()
        self._idle.clear()
        for worker in workers:
            loop.remove_reader(worker.sock.fileno())
            if worker.future is not None and not worker.future.done():
                worker.future.set_exception(PoolClosed("the process pool is closed"))
        await asyncio.gather(*(asyncio.to_thread(_stop, w) for w in workers))
        # Replacements under way finish by stopping their new worker; wait for all of them.
        loop_deadline = loop.time() + 10
        while self._chores and loop.time() < loop_deadline:
            await asyncio.wait(list(self._chores), timeout=loop_deadline - loop.time())

    def pids(self) -> list[int]:
        """The workers' process ids (for tests and metrics)."""
        return [w.process.pid for w in self._workers if w.process.pid is not None]


def _stop(worker: _Worker) -> None:
    """Kill (if still running), reap, and close one worker (blocking: run in a thread)."""
    worker.sock.close()
    if worker.process.is_alive():  # stopped, its descendants killed, then killed
        kill_tree(worker.process.pid, group=False)
    worker.process.join(5)
