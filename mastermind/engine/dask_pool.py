"""CPU steps on a Dask cluster: the same calls as the local process pool, on other machines.

One asynchronous `distributed.Client` per scheduler address, shared by every step of the process
and closed with the coordinator. A call is submitted under a key made of the step's idempotency
key and attempt, so the Dask dashboard names the step, and a second submission of the same
attempt (another daemon that lost the lease, say) joins the task instead of running it twice.

Every task is recorded (key and scheduler address, a `process` event of the step) before it is
submitted. When the process running a step dies (SIGKILL, a lost machine), the scheduler drops
its tasks but the worker thread computing one goes on: Dask never stops a running thread. So a
resume or takeover calls `stop_leftovers` before the step runs again: it cancels the recorded
keys, stops their threads, and waits until neither the scheduler nor any worker has them.

What Dask cannot do on its own, done here:
- stopping a running task: cancelling a Dask future only forgets it, the worker's thread keeps
  computing. The function runs inside `_call`, which records its thread; a cancelled or
  timed-out step raises `_Stopped` in that thread (PyThreadState_SetAsyncExc), so it stops at
  its next Python instruction (a long C call finishes that call first);
- errors in the pool's shape: `_call` returns tagged tuples like the pool's workers do, so a
  function's error reads the same on both executors, and a `KilledWorker` (the worker running the
  step died more often than the scheduler's `allowed-failures`) is a retryable `WorkerLost`.

`distributed` is the optional extra `mastermind[dask]`; it is imported on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from mastermind.errors import MastermindError, RetryableStepError, StepError

if TYPE_CHECKING:
    from distributed import Future

Client = Any  # distributed's Client methods are untyped: handled as Any here

log = logging.getLogger(__name__)

EXTRA_HINT = "the Dask executor needs the optional extra: pip install 'mastermind[dask]'"


class WorkerLost(RetryableStepError):
    """The Dask worker running a call died, or the scheduler dropped the task (retryable, like
    the process pool's WorkerLost; not imported from there, which would load multiprocessing)."""


class DaskUnavailable(StepError):
    """`distributed` is not installed, or no scheduler address is configured."""


# ------------------------------------------------------------------------------ on the worker

_running: dict[str, int] = {}  # task key -> id of the worker thread running it
_running_lock = threading.Lock()


class _Stopped(Exception):
    """Raised inside a worker thread whose step was cancelled."""


def _call(reference: str, args: list[Any], kwargs: dict[str, Any], key: str) -> tuple[Any, ...]:
    """Run `module:function` on a Dask worker; reply like a process pool worker does."""
    try:
        try:
            with _running_lock:
                _running[key] = threading.get_ident()
            module_name, _, attribute = reference.partition(":")
            target: Any = importlib.import_module(module_name)
            for part in attribute.split("."):
                target = getattr(target, part)
            return ("ok", target(*args, **kwargs))
        finally:
            with _running_lock:
                _running.pop(key, None)
    except _Stopped:
        _running.pop(key, None)
        return ("stopped", "the step was cancelled")
    except Exception as exc:
        return ("error", f"{type(exc).__name__}: {exc}", bool(getattr(exc, "retryable", False)))


def _stop(key: str) -> bool:
    """On every worker: stop the thread running `key`, if it runs here."""
    with _running_lock:
        ident = _running.get(key)
        if ident is None:
            return False
        import ctypes  # only on workers, only when a step is stopped

        # holding the lock: the thread cannot leave _call's try block before the exception lands
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(ident), ctypes.py_object(_Stopped)
        )
        return True


def _still_there(key: str, dask_worker: Any = None) -> bool:
    """On every worker: stop `key`'s thread if it runs here; whether the worker still has the
    task (its state keeps a cancelled task until the thread running it returns)."""
    _stop(key)
    with _running_lock:
        if key in _running:
            return True
    if dask_worker is None:
        return False
    task = dask_worker.state.tasks.get(key)
    return task is not None and task.state not in _GONE


_GONE = frozenset({"released", "forgotten", "memory", "error"})  # a worker task's done states


def _on_scheduler(key: str, dask_scheduler: Any = None) -> bool:
    return dask_scheduler is not None and key in dask_scheduler.tasks


def running_keys() -> list[str]:
    """On a worker: the keys of the calls running now (tests check that a stop really stops)."""
    with _running_lock:
        return sorted(_running)


# ------------------------------------------------------------------------------ in mastermind


class DaskPool:
    """`await pool.run("module:function", args, kwargs, key=..., scheduler=...)` on a cluster."""

    def __init__(
        self,
        default_scheduler: str | None = None,
        *,
        connect_timeout: float = 10.0,
        cleanup_timeout: float = 5.0,
        stop_timeout: float = 30.0,
    ) -> None:
        self.default_scheduler = default_scheduler
        self.connect_timeout = connect_timeout
        self.cleanup_timeout = cleanup_timeout
        self.stop_timeout = stop_timeout
        self._clients: dict[str, Client] = {}
        self._connecting: dict[str, asyncio.Lock] = {}
        self._closed = False
        self.calls = 0

    def address(self, scheduler: str | None) -> str:
        """The scheduler to use: the step's, else the configured default, else Dask's own
        `scheduler-address` setting (DASK_SCHEDULER_ADDRESS)."""
        found = scheduler or self.default_scheduler
        if found is None:
            dask = _import_distributed()[1]
            found = dask.config.get("scheduler-address", None)
        if not found:
            raise DaskUnavailable(
                "executor dask needs a scheduler address: set `scheduler:` on the step, "
                "agents.cpu.scheduler in the daemon config, or DASK_SCHEDULER_ADDRESS"
            )
        return str(found)

    async def client(self, scheduler: str | None = None) -> Client:
        """The shared client of a scheduler, connected on first use."""
        # importing distributed takes ~0.4 s: in a thread, so the loop (and the slow-callback
        # detector, which would blame the step) never waits for it
        await asyncio.to_thread(_import_distributed)
        address = self.address(scheduler)
        found = self._clients.get(address)
        if found is not None:
            return found
        lock = self._connecting.setdefault(address, asyncio.Lock())
        async with lock:
            found = self._clients.get(address)
            if found is not None:
                return found
            if self._closed:
                raise MastermindError("the Dask pool is closed")
            distributed, _ = _import_distributed()
            try:
                async with asyncio.timeout(self.connect_timeout):
                    client: Client = await distributed.Client(
                        address,
                        asynchronous=True,
                        set_as_default=False,
                        timeout=self.connect_timeout,
                    )
            except (OSError, TimeoutError) as exc:
                reason = str(exc) or type(exc).__name__  # a TimeoutError's text is empty
                raise StepError(
                    f"cannot reach the Dask scheduler at {address}: {reason}",
                    retryable=True,
                ) from None
            self._clients[address] = client
            log.info("connected to the Dask scheduler at %s", address)
            return client

    async def run(
        self,
        reference: str,
        args: list[Any] | tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        key: str,
        scheduler: str | None = None,
        submitting: Callable[[str], Awaitable[None]] | None = None,
    ) -> Any:
        """Call `module:function(*args, **kwargs)` on the cluster under the Dask key `key`;
        cancelling cancels the future and stops the worker thread running it. `submitting` is
        awaited with the scheduler's address just before the task is submitted."""
        client = await self.client(scheduler)
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        if submitting is not None:
            await submitting(self.address(scheduler))
        future = client.submit(
            _call, reference, list(args), dict(kwargs or {}), key, key=key, pure=False, retries=0
        )
        self.calls += 1
        try:
            reply = await future
        except FutureCancelledError as exc:  # cancelled by Dask, not by us: lost, not cancelled
            raise WorkerLost(f"Dask dropped the task ({exc.reason})") from None
        except KilledWorker as exc:
            raise WorkerLost(f"the Dask worker running this step died ({exc})") from None
        except OSError as exc:  # CommClosedError and kin: the connection to the cluster broke
            raise WorkerLost(f"lost the connection to the Dask cluster: {exc}") from None
        except asyncio.CancelledError:
            await self._stop(client, future, key)
            raise
        kind = reply[0]
        if kind == "ok":
            return reply[1]
        if kind == "stopped":  # a stop meant for an earlier life of this key
            raise WorkerLost(reply[1])
        raise StepError(reply[1], retryable=reply[2])

    async def _stop(self, client: Client, future: Future[Any], key: str) -> None:
        """Cancel the future, stop the thread running it and wait until it has stopped, so the
        next attempt does not run beside it (bounded: we are being cancelled)."""
        try:
            async with asyncio.timeout(self.cleanup_timeout):
                await client.cancel([future], force=True, reason="the step was cancelled")
                await self._wait_gone(client, key)
        except Exception as exc:  # the step ends either way; say what may still run
            reason = str(exc) or f"its thread still runs after {self.cleanup_timeout:g}s"
            log.warning("Dask: could not stop task %s: %s", key, reason)

    async def stop_leftovers(self, tasks: list[tuple[str, str]]) -> None:
        """Stop the Dask tasks (key, scheduler address) an interrupted attempt submitted, and
        wait until neither the scheduler nor any worker has them (a resume or takeover, before
        the step runs again). Raises MastermindError if that cannot be confirmed within
        `stop_timeout` (scheduler unreachable, or a thread still inside one long C call): the
        step must not run again while its last attempt may still be running."""
        for key, address in tasks:
            try:
                async with asyncio.timeout(self.stop_timeout):
                    client = await self.client(address)
                    await self._stop_leftover(client, key)
            except (TimeoutError, OSError, StepError) as exc:
                reason = str(exc) or f"still running after {self.stop_timeout:g}s"
                raise MastermindError(
                    f"cannot confirm that Dask task {key} on {address} has stopped ({reason}): "
                    "the step does not run again until it has; resume the run later"
                ) from None

    async def _stop_leftover(self, client: Client, key: str) -> None:
        distributed, _ = _import_distributed()
        # a Future made here only names the key: cancelling with force drops it for every
        # client (the dead owner's client, or a paused one's, may still want it)
        await client.cancel(
            [distributed.Future(key, client)], force=True, reason="a new owner took the step"
        )
        await self._wait_gone(client, key)

    @staticmethod
    async def _wait_gone(client: Client, key: str) -> None:
        """Stop `key`'s thread on every worker until neither they nor the scheduler have it."""
        delay = 0.01
        while True:
            on_workers = await client.run(_still_there, key, on_error="ignore")
            on_scheduler = await client.run_on_scheduler(_on_scheduler, key)
            if not on_scheduler and not any(v is True for v in on_workers.values()):
                return
            await asyncio.sleep(delay)  # asking the cluster again: nothing here to wait on
            delay = min(delay * 2, 0.2)

    async def aclose(self) -> None:
        """Close every client (bounded)."""
        self._closed = True
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.cleanup_timeout):
                    await client.close()


def _import_distributed() -> tuple[Any, Any]:
    try:
        import dask
        import distributed
    except ImportError:
        raise DaskUnavailable(EXTRA_HINT) from None
    return distributed, dask
