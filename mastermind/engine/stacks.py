"""A suspended task's coroutine stack, and what it is waiting for, read without disturbing it.

`Task.get_stack()` gives only the outermost frame of a suspended coroutine (its `f_back` is
None); the chain of awaits is in `cr_await` (`gi_yieldfrom` for generators, `ag_await` for async
generators). `task_frames` follows that chain down to the innermost Python frame, and
`awaiting` reads the innermost frames it recognises (a sleep, a socket, a pool worker, a named
pool's limit, a signal, a Dask task, a child process, an asyncio primitive) to say in words what
the task waits for. Frame locals are read only from suspended coroutines on the loop's own
thread; `thread_frames` (for a thread caught blocking the loop) reads only code and line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

MAX_DEPTH = 200  # bounds the walk (a cycle is not possible, but a very deep chain is)


@dataclass(frozen=True, slots=True)
class FrameInfo:
    """One frame: where it is (file:line) and which function."""

    file: str
    line: int
    function: str

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "function": self.function}

    def __str__(self) -> str:
        return f"{self.file}:{self.line} in {self.function}"


@dataclass(frozen=True, slots=True)
class Awaiting:
    """What a suspended task waits for: a kind (sleep, socket, pool worker, limit, signal,
    dask, process, sub-run, lock, event, queue, future, ready) and the details in words."""

    kind: str
    detail: str
    pid: int | None = None  # the process doing the work, where there is one

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "detail": self.detail, "pid": self.pid}


def frame_info(frame: FrameType) -> FrameInfo:
    code = frame.f_code
    return FrameInfo(code.co_filename, frame.f_lineno, code.co_qualname)


def task_frames(task: asyncio.Task[Any]) -> list[FrameType]:
    """The task's await chain as frames, outermost (the task's coroutine) first."""
    frames: list[FrameType] = []
    awaitable: Any = task.get_coro()
    for _ in range(MAX_DEPTH):
        if awaitable is None:
            break
        if isinstance(awaitable, asyncio.Task):  # awaiting another task: show its stack too
            awaitable = awaitable.get_coro()
            continue
        frame = _first_attribute(awaitable, ("cr_frame", "gi_frame", "ag_frame"))
        if frame is not None:
            frames.append(frame)
        awaitable = _first_attribute(awaitable, ("cr_await", "gi_yieldfrom", "ag_await"))
    return frames


def thread_frames(frame: FrameType | None, limit: int = 60) -> list[FrameInfo]:
    """A running thread's stack from one of its frames (sys._current_frames()), outermost
    first, the innermost `limit` frames."""
    found: list[FrameInfo] = []
    while frame is not None and len(found) < limit:
        found.append(frame_info(frame))
        frame = frame.f_back
    found.reverse()
    return found


def _first_attribute(value: Any, names: tuple[str, ...]) -> Any:
    for name in names:
        found = getattr(value, name, None)
        if found is not None:
            return found
    return None


# ------------------------------------------------------------------------------ what it awaits

Describer = Callable[[FrameType, list[FrameType]], Awaiting | None]


def _local(frame: FrameType, name: str) -> Any:
    try:
        return frame.f_locals.get(name)
    except Exception:  # reading locals must never break the inspector
        return None


def _peer(transport: Any) -> str:
    try:
        peer = transport.get_extra_info("peername")
    except Exception:
        return "?"
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer) if peer else "?"


def _sleep(frame: FrameType, chain: list[FrameType]) -> Awaiting:
    delay = _local(frame, "delay")
    handle = _local(frame, "h")
    left = ""
    if handle is not None:
        try:
            left = f", {max(0.0, handle.when() - asyncio.get_running_loop().time()):.3g}s left"
        except Exception:
            left = ""
    # a retry backoff is the run's own clock.sleep between attempts, not an agent's sleep
    outer = [f for f in chain if not f.f_code.co_qualname.endswith("sleep")]
    inside = chain.index(frame) if frame in chain else len(chain)
    before = [f for f in outer if chain.index(f) < inside]
    backoff = bool(before) and before[-1].f_code.co_qualname == "RunExecution._attempts"
    what = "retry backoff" if backoff else "asyncio.sleep"
    return Awaiting("sleep", f"{what} {delay!s}s{left}" if delay is not None else what)


def _stream(frame: FrameType, chain: list[FrameType]) -> Awaiting:
    name = frame.f_code.co_qualname
    owner = _local(frame, "self")
    if name == "open_connection":
        return Awaiting("socket", f"connecting to {_local(frame, 'host')}:{_local(frame, 'port')}")
    transport = getattr(owner, "_transport", None) or getattr(owner, "transport", None)
    verb = "write to" if "drain" in name else "read from"
    return Awaiting("socket", f"{verb} {_peer(transport)}")


def _selector_socket(frame: FrameType, chain: list[FrameType]) -> Awaiting:
    sock = _local(frame, "sock")
    address = _local(frame, "address")
    try:
        peer = address if address is not None else sock.getpeername()
    except Exception:
        peer = "?"
    return Awaiting("socket", f"{frame.f_code.co_qualname.split('.')[-1]} {peer}")


def _aiohttp(frame: FrameType, chain: list[FrameType]) -> Awaiting:
    for outer in chain:
        if outer.f_code.co_qualname == "ClientSession._request":
            method = _local(outer, "method")
            url = _local(outer, "str_or_url")
            return Awaiting("socket", f"HTTP {method} {url} ({frame.f_code.co_qualname})")
    return Awaiting("socket", f"aiohttp {frame.f_code.co_qualname}")


def _pool_run(frame: FrameType, chain: list[FrameType]) -> Awaiting:
    worker = _local(frame, "worker")
    pid = getattr(getattr(worker, "process", None), "pid", None)
    return Awaiting("pool worker", f"process pool worker pid {pid}", pid)


def _pool_acquire(frame: FrameType, chain: list[FrameType]) -> Awaiting:
    return Awaiting("pool worker", "waiting for a free process pool worker")


def _limit(frame: FrameType, chain: list[FrameType]) -> Awaiting:
    limiter = _local(frame, "self")
    name = getattr(limiter, "name", "?")
    in_use, capacity = getattr(limiter, "in_use", "?"), getattr(limiter, "capacity", "?")
    return Awaiting("limit", f"a slot of {name} ({in_use}/{capacity} in use)")


def _signal(frame: FrameType, chain: list[FrameType]) -> Awaiting:
    return Awaiting("signal", f"signal {_local(frame, 'name')!s}")


def _dask(frame: FrameType, chain: list[FrameType]) -> Awaiting:
    if frame.f_code.co_qualname == "DaskPool.client":
        return Awaiting("dask", "connecting to the Dask scheduler")
    return Awaiting("dask", f"Dask task {_local(frame, 'key')}")


def _subrun(frame: FrameType, chain: list[FrameType]) -> Awaiting:
    return Awaiting("sub-run", f"child run {_local(frame, 'run_id')}")


def _process(frame: FrameType, chain: list[FrameType]) -> Awaiting:
    process = _local(frame, "self")
    pid = getattr(process, "pid", None)
    return Awaiting("process", f"child process pid {pid}", pid)


def _primitive(kind: str) -> Describer:
    def describe(frame: FrameType, chain: list[FrameType]) -> Awaiting:
        return Awaiting(kind, f"asyncio {frame.f_code.co_qualname}")

    return describe


# (module, qualified function name) -> describer; a module ending in "." matches by prefix
DESCRIBERS: dict[tuple[str, str], Describer] = {
    ("asyncio.tasks", "sleep"): _sleep,
    ("asyncio.streams", "StreamReader._wait_for_data"): _stream,
    ("asyncio.streams", "StreamWriter.drain"): _stream,
    ("asyncio.streams", "open_connection"): _stream,
    ("asyncio.selector_events", "BaseSelectorEventLoop.sock_recv"): _selector_socket,
    ("asyncio.selector_events", "BaseSelectorEventLoop.sock_recv_into"): _selector_socket,
    ("asyncio.selector_events", "BaseSelectorEventLoop.sock_sendall"): _selector_socket,
    ("asyncio.selector_events", "BaseSelectorEventLoop.sock_connect"): _selector_socket,
    ("asyncio.selector_events", "BaseSelectorEventLoop.sock_accept"): _selector_socket,
    ("mastermind.engine.process_pool", "ProcessPool.run"): _pool_run,
    ("mastermind.engine.process_pool", "ProcessPool._acquire"): _pool_acquire,
    ("mastermind.engine.limits", "FairLimiter.acquire"): _limit,
    ("mastermind.engine.signals", "SignalBox.receive"): _signal,
    ("mastermind.engine.dask_pool", "DaskPool.run"): _dask,
    ("mastermind.engine.dask_pool", "DaskPool.client"): _dask,
    ("mastermind.engine.subruns", "CoordinatorSubRuns.run_child"): _subrun,
    ("asyncio.subprocess", "Process.wait"): _process,
    ("asyncio.subprocess", "Process.communicate"): _process,
    ("asyncio.locks", "Lock.acquire"): _primitive("lock"),
    ("asyncio.locks", "Event.wait"): _primitive("event"),
    ("asyncio.locks", "Condition.wait"): _primitive("condition"),
    ("asyncio.locks", "Semaphore.acquire"): _primitive("semaphore"),
    ("asyncio.queues", "Queue.get"): _primitive("queue"),
    ("asyncio.queues", "Queue.put"): _primitive("queue"),
}
PREFIX_DESCRIBERS: dict[str, Describer] = {"aiohttp.": _aiohttp}
PRIMITIVES = frozenset({"lock", "event", "condition", "semaphore", "queue"})


def awaiting(task: asyncio.Task[Any], chain: list[FrameType] | None = None) -> Awaiting:
    """What a suspended task waits for, from its innermost recognised frame outwards."""
    chain = task_frames(task) if chain is None else chain
    primitive: Awaiting | None = None
    for frame in reversed(chain):
        module = frame.f_globals.get("__name__", "")
        describe = DESCRIBERS.get((module, frame.f_code.co_qualname))
        if describe is None:
            describe = next((d for p, d in PREFIX_DESCRIBERS.items() if module.startswith(p)), None)
        found = describe(frame, chain) if describe is not None else None
        if found is None:
            continue
        if found.kind not in PRIMITIVES:
            return found
        # an asyncio lock or queue inside something we know (aiohttp's connector, say):
        # the outer thing says more
        primitive = primitive or found
    if primitive is not None:
        return primitive
    waiter = getattr(task, "_fut_waiter", None)  # the future the task is suspended on
    if waiter is not None:
        return Awaiting("future", _short(repr(waiter)))
    if task.done():
        return Awaiting("done", "the task has ended")
    return Awaiting("ready", "scheduled to run (not waiting)")


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
