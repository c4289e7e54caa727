"""`mastermind serve`: the coordinator, the HTTP API and metrics in one uvloop event loop,
a good citizen of systemd (Type=notify, watchdog, graceful stop, reload on SIGHUP).

Lifecycle: open the store → load the workflow folder → resume unfinished runs → bind the API →
READY=1. SIGTERM: STOPPING=1, refuse new runs, give running steps `drain_grace` to finish, then
stop the rest without writing (they stay resumable in the store) and exit 0. SIGHUP:
RELOADING=1, reread the config's tokens and the workflow folder (a broken file is reported and
its last good version keeps serving), READY=1.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import secrets
import signal
import time
from pathlib import Path

from aiohttp import web

from mastermind.engine.agent import AgentRegistry
from mastermind.engine.coordinator import Coordinator, Settings
from mastermind.engine.loop_watch import LoopWatch
from mastermind.errors import MastermindError, Problem
from mastermind.language.loader import Definition, LoadReport, workflow_files
from mastermind.service import systemd
from mastermind.service.api import make_app
from mastermind.service.chores import Chores
from mastermind.service.config import Config, load_config
from mastermind.service.leases import LeaseKeeper
from mastermind.service.logs import LogFormat, configure_logging
from mastermind.service.metrics import Metrics
from mastermind.service.triggers import CronScheduler
from mastermind.store.base import Store

log = logging.getLogger("mastermind.service.daemon")


class Daemon:
    """One daemon process."""

    def __init__(self, config: Config, config_path: str | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.metrics = Metrics()
        self.catalog: dict[str, Definition] = {}
        self.broken: list[Problem] = []
        self.tokens: list[str] = []
        self.ready = False
        self.draining = False
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        # what the last load served (names, digests, problems)
        self._served: tuple[frozenset[tuple[str, str]], frozenset[str]] | None = None
        self._loading = asyncio.Lock()
        self._watching = asyncio.Event()
        self.port: int | None = None
        self.registry = AgentRegistry(settings=config.agents)
        self.store = self._store()  # the API reads runs from here; the coordinator writes them
        self.coordinator = Coordinator(
            self.registry,
            self.store,
            settings=Settings(
                cancel_grace=config.limits.cancel_grace,
                step_timeout=config.limits.step_timeout,
                agent_limits=config.limits.agents,
                pools=config.limits.pools,
                default_pool_size=config.limits.default_pool_size,
                process_pool_size=config.limits.process_pool_size,
                max_items=config.limits.max_items,
            ),
            secrets=config.secrets,
        )
        self.metrics.attach(self.coordinator)  # events, and live state at every scrape
        self.loop_watch: LoopWatch | None = None  # the slow-callback detector
        if config.debug.slow_callback:
            self.loop_watch = LoopWatch(config.debug.slow_callback, self.coordinator.inflight)
            self.loop_watch.listeners.append(self.metrics.observe_blocked)
        self.scheduler = CronScheduler(self.coordinator, lambda: self.catalog)

    def _store(self) -> Store:
        store = self.config.store
        if store.dsn:
            from mastermind.store.postgres import PostgresStore

            return PostgresStore(
                store.dsn,
                schema=store.schema_name,
                lease_seconds=store.lease,
                max_output_bytes=store.max_output_bytes,
                command_timeout=store.command_timeout,
            )
        from mastermind.store.sqlite import SqliteStore
        from mastermind.store.state_dir import default_state_dir

        return SqliteStore(
            store.state_dir or default_state_dir(),
            synchronous=store.synchronous,
            max_output_bytes=store.max_output_bytes,
        )

    # ------------------------------------------------------------------------------ workflows

    async def load_workflows(self, *, quiet_if_unchanged: bool = False) -> None:
        """(Re)load the workflow folder; a broken file keeps its last good version serving.
        `quiet_if_unchanged`: log nothing when it serves what the last load served."""
        # One load at a time, in the order asked: a load that read the folder before an edit
        # must not land after one that read it since (the folder watch's first reload, slow
        # under load, undid a SIGHUP's reload of a file written in between).
        async with self._loading:
            await self._load_workflows(quiet_if_unchanged)

    async def _load_workflows(self, quiet_if_unchanged: bool) -> None:
        folder = self.config.workflows

        def load() -> LoadReport:
            report = LoadReport()
            for path in workflow_files([folder]) if folder.is_dir() else []:
                try:
                    report.add(path, self.registry)
                except Exception as exc:  # a loader bug must not stop the daemon: one bad file
                    log.exception("loading %s failed unexpectedly", path)
                    report.problems.append(
                        Problem(
                            str(path), 0, 0, "", f"cannot be loaded: {type(exc).__name__}: {exc}"
                        )
                    )
            return report

        report = await asyncio.get_running_loop().run_in_executor(None, load)
        catalog = {d.name: d for d in report.definitions}
        broken_files = {p.file for p in report.problems}
        for name, old in self.catalog.items():
            if name not in catalog and old.file in broken_files:
                catalog[name] = old  # last good version keeps serving
        self.catalog = catalog
        self.coordinator.catalog = dict(catalog)
        self.broken = report.problems
        self.metrics.workflows_broken.set(len(broken_files))
        self.scheduler.reschedule()
        served = (
            frozenset((d.name, d.digest) for d in catalog.values()),
            frozenset(str(p) for p in report.problems),
        )
        unchanged, self._served = served == self._served, served
        if unchanged and quiet_if_unchanged:  # the reload that covers the watch's start
            return
        for problem in report.problems:
            log.error("workflow not loaded: %s", problem)
        if catalog:
            log.info("serving %d workflow(s) from %s", len(catalog), folder)
        else:  # e.g. a config copied without its workflows folder: say so, loudly
            log.warning("serving no workflows: none loaded from %s", folder)

    def _load_tokens(self) -> None:
        tokens = list(self.config.api.tokens)
        if not tokens:
            tokens = [self._generated_token()]
        self.tokens = tokens

    def _generated_token(self) -> str:
        """No token configured: make one, keep it in the state directory (mode 0600)."""
        from mastermind.store.state_dir import default_state_dir

        folder = Path(self.config.store.state_dir or default_state_dir())
        token, created = generated_token(folder)
        if created:
            log.warning("no API token configured; generated one in %s", folder / "api-token")
        return token

    # ------------------------------------------------------------------------------ lifecycle

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._reload.set()

    async def serve(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit code. However it ends (a signal, a fatal
        error), runs still unfinished are left resumable, never marked cancelled."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        self._load_tokens()
        chores = Chores(lambda name: self.metrics.chore_restarts.labels(name).inc())
        # keepalive_timeout also bounds the wait for a connection's first request (headers
        # included): a client trickling header lines is cut off after api.read_timeout
        runner = web.AppRunner(
            make_app(self),
            access_log=None,
            handle_signals=False,
            keepalive_timeout=self.config.api.read_timeout,
        )
        async with self.coordinator:  # closing it abandons what still runs (resumable)
            try:
                await self._serve(chores, runner)
            finally:
                await chores.aclose()
                await runner.cleanup()
                await self._leave_resumable(self.coordinator.active_runs)
        return 0

    async def _serve(self, chores: Chores, runner: web.AppRunner) -> None:
        await self.load_workflows()
        await self._resume()
        await self.scheduler.catch_up()
        await runner.setup()
        site = web.TCPSite(runner, self.config.api.host, self.config.api.port)
        await site.start()
        addresses = runner.addresses  # the bound port, also when port 0 was asked for
        self.port = addresses[0][1] if addresses else self.config.api.port
        if self.config.store.dsn:  # leases are kept until the drain is over
            chores.start("leases", self._leases().run)
        chores.start("loop_lag", self.metrics.watch_loop_lag)
        chores.start("watchdog", self._watchdog)
        chores.start("reload", self._reloader)
        chores.start("retention", self._retention)
        chores.start("cron", self.scheduler.run)
        chores.start("folder_watch", self._watch_folder)
        if self.loop_watch is not None:
            chores.start("loop_watch", self.loop_watch.run)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await self._watching.wait()
        # Everything loaded so far lives as long as the process: keep the cyclic garbage
        # collector from rescanning it on every full collection (+25% steps/s measured).
        gc.freeze()
        self.ready = True
        log.info("listening on http://%s:%s", self.config.api.host, self.port)
        systemd.notify(f"READY=1\nSTATUS=listening on port {self.port}\nMAINPID={os.getpid()}")
        worker_stop = asyncio.Event()
        if self.config.store.dsn:
            chores.start("claims", lambda: self._work(worker_stop))
        await self._stop.wait()
        systemd.notify("STOPPING=1")
        self.draining = True
        worker_stop.set()
        log.info("stopping: draining running steps for up to %gs", self.config.drain_grace)
        await site.stop()  # no new connections; requests in flight finish
        await self._drain()

    async def _resume(self) -> None:
        """SQLite: resume every unfinished run now (PostgreSQL: the worker claims them)."""
        if self.config.store.dsn:
            return
        resumed, skipped = await self.coordinator.resume_unfinished()
        for run_id in resumed:
            log.info("resumed run %s", run_id)
        for run_id, why in skipped.items():
            log.error("not resuming run %s: %s", run_id, why)

    async def _drain(self) -> None:
        """Give running runs `drain_grace` to finish; leave the rest resumable."""
        active = self.coordinator.active_runs
        if active:
            waits = [asyncio.ensure_future(self.coordinator.wait(r)) for r in active]
            _, pending = await asyncio.wait(waits, timeout=self.config.drain_grace)
            for waiter in pending:
                waiter.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        await self._leave_resumable(self.coordinator.active_runs)

    async def _leave_resumable(self, left: list[str]) -> None:
        """Stop runs without writing (steps are cancelled, their processes killed): the store
        still shows them running, so the next start (or another daemon) resumes them."""
        if not left:
            return
        for run_id in left:
            self.coordinator.abandon(run_id)
        try:
            await self.store.release(left)
        except Exception as exc:  # the leases then expire on their own
            log.warning("could not hand back %d run(s) at once: %s", len(left), exc)
        log.info("left %d run(s) to resume at the next start", len(left))
        waits = [asyncio.ensure_future(self.coordinator.wait(r)) for r in left]
        await asyncio.wait(waits, timeout=self.config.limits.cancel_grace)
        for waiter in waits:
            waiter.cancel()
        await asyncio.gather(*waits, return_exceptions=True)

    async def _watchdog(self) -> None:
        interval = systemd.watchdog_interval()
        if interval is None:
            return
        while True:  # sent from the event loop: a blocked loop stops the pings
            systemd.notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    async def _reloader(self) -> None:
        while True:
            await self._reload.wait()
            self._reload.clear()
            systemd.notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")
            try:
                await self.reload()
                self.metrics.reloads.labels("ok").inc()
            except MastermindError as exc:
                log.error("reload failed, keeping the previous configuration: %s", exc)
                self.metrics.reloads.labels("failed").inc()
            finally:  # systemd waits for READY=1 after RELOADING=1, whatever happened
                systemd.notify("READY=1")

    async def reload(self) -> None:
        """Reread the config's tokens and log level, then the workflow folder (parsing and
        validating happen in a thread: the event loop keeps serving)."""
        if self.config_path is not None:
            fresh = await asyncio.to_thread(load_config, self.config_path)
            self.config.api.tokens = fresh.api.tokens
            self.config.workflows = fresh.workflows
            logging.getLogger("mastermind").setLevel(fresh.log_level)
            self._load_tokens()
        await self.load_workflows()

    async def _watch_folder(self) -> None:
        """Reload the workflow folder when a file in it changes (inotify, via watchfiles)."""
        from watchfiles import awatch

        folder = self.config.workflows
        if not folder.is_dir():
            self._watching.set()
            return
        # yield_on_timeout: the first (empty) yield says the watch is in place; reload once
        # then, for edits made between the first load and the watch starting
        async for changes in awatch(
            folder, debounce=200, recursive=True, yield_on_timeout=True, rust_timeout=500
        ):
            if not self._watching.is_set():
                self._watching.set()
                await self.load_workflows(quiet_if_unchanged=True)
            elif any(path.endswith((".yaml", ".yml")) for _, path in changes):
                log.info("workflow folder changed; reloading")
                await self.load_workflows()

    async def _retention(self) -> None:
        retention = self.config.store.retention
        if retention is None:
            return
        while True:
            count = await self.store.prune(time.time() - retention)  # failures: supervised
            if count:
                log.info("pruned %d finished run(s)", count)
            await asyncio.sleep(min(retention, 3600.0))

    def _leases(self) -> LeaseKeeper:
        from mastermind.store.postgres import PostgresStore

        assert isinstance(self.store, PostgresStore)
        return LeaseKeeper(self.coordinator, self.store)

    async def _work(self, stop: asyncio.Event) -> None:
        from mastermind.service.worker import Worker
        from mastermind.store.postgres import PostgresStore

        store = self.store
        assert isinstance(store, PostgresStore)
        await Worker(self.coordinator, store, capacity=self.config.limits.runs).run(stop)


def serve(config_path: str | None, log_format: LogFormat | None = None) -> int:
    """Entry point of `mastermind serve`."""
    from mastermind.engine.runtime import run_with_loop

    config = load_config(config_path)
    configure_logging(config.log_level, log_format or config.log_format)
    return int(run_with_loop(Daemon(config, config_path).serve()))


def generated_token(folder: Path) -> tuple[str, bool]:
    """The API token kept in `folder/api-token` (0600 in a 0700 directory, whatever the umask),
    made on first use; returns it and whether it was just made."""
    from mastermind.store.state_dir import FILE_MODE, ensure_private_dir, make_private, open_own

    ensure_private_dir(folder)
    path = folder / "api-token"
    try:  # never through a symlink, never a file someone else planted
        existing = open_own(path)
    except FileNotFoundError:
        pass
    else:
        with os.fdopen(existing) as handle:
            make_private(path)
            return handle.read().strip(), False
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token, True
