"""The daemon's background chores (retention, reload, cron, leases, folder watch, loop lag,
watchdog), each supervised: a chore that raises is logged with its traceback, counted, and
started again after a backoff. Only cancellation ends a chore; none can end the daemon."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Chore = Callable[[], Awaitable[None]]


class Chores:
    """Starts chores and keeps them running; `aclose()` cancels them (bounded)."""

    def __init__(
        self,
        on_restart: Callable[[str], None] = lambda name: None,
        *,
        backoff: float = 0.5,
        max_backoff: float = 60.0,
        grace: float = 10.0,
    ) -> None:
        self.on_restart = on_restart
        self.grace = grace
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, chore: Chore) -> None:
        """Run `chore()` under supervision; restart it whenever it raises."""
        if name in self._tasks:
            raise ValueError(f"chore {name} is already running")
        task = asyncio.get_running_loop().create_task(self._supervise(name, chore), name=name)
        self._tasks[name] = task
        task.add_done_callback(lambda _: self._tasks.pop(name, None))

    async def _supervise(self, name: str, chore: Chore) -> None:
        loop = asyncio.get_running_loop()
        delay = self.backoff
        while True:
            started = loop.time()
            try:
                await chore()
                return  # it finished on its own (nothing to do, e.g. no watchdog configured)
            except asyncio.CancelledError:
                raise
            except Exception:
                if loop.time() - started > self.max_backoff:
                    delay = self.backoff  # it had been healthy for a while: restart promptly
                log.exception("background chore %s failed; restarting it in %.1fs", name, delay)
            self.on_restart(name)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff)

    @property
    def running(self) -> list[str]:
        return sorted(self._tasks)

    async def aclose(self) -> None:
        """Cancel every chore and wait (at most `grace` seconds) for them to end."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=self.grace)
            for task in stuck:
                log.warning("background chore %s ignored cancellation", task.get_name())
