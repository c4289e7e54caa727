"""Signals sent to a run (approve, retry, skip, ...): buffered until a step waits for them."""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from typing import Any


class SignalBox:
    """One run's mailbox. A signal sent before anyone waits is kept, not lost."""

    def __init__(self) -> None:
        self._pending: dict[str, deque[Any]] = defaultdict(deque)
        self._waiters: dict[str, deque[asyncio.Future[Any]]] = defaultdict(deque)

    def deliver(self, name: str, payload: Any = None) -> None:
        """Hand `payload` to the first waiter for `name`, or keep it for the next one."""
        waiters = self._waiters.get(name)
        while waiters:
            future = waiters.popleft()
            if not future.done():
                future.set_result(payload)
                return
        self._pending[name].append(payload)

    async def receive(self, name: str) -> Any:
        """The next payload sent as `name` (callers bound the wait with asyncio.timeout)."""
        pending = self._pending.get(name)
        if pending:
            return pending.popleft()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters[name].append(future)
        try:
            return await future
        finally:
            if not future.done():
                future.cancel()
            waiters = self._waiters.get(name)
            if waiters is not None and future in waiters:
                waiters.remove(future)
