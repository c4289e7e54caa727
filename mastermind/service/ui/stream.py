"""Live updates for the dashboard: Server-Sent Events fed by the coordinator's event stream
(the same subscription the API's per-run SSE uses).

A page does not need every event, only to know that what it shows changed: the subscriber
marks runs as changed (a bounded set) and wakes the stream, which sends one `change` message
per burst, at most every MIN_INTERVAL seconds, and the page fetches its fragment again. So a
daemon committing thousands of events a second costs each open page a few small messages.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from aiohttp import web

from mastermind.store.events import RUN_FINAL, Event

MIN_INTERVAL = 0.3  # seconds between messages to one page: a rate limit, not a poll
KEEPALIVE = 15.0  # seconds of silence before a comment line keeps proxies from closing
MAX_MARKED = 200  # run ids remembered per burst; beyond that the page just refreshes


class ChangeFeed:
    """An event listener that remembers which runs changed since the last message."""

    def __init__(self, run_id: str | None) -> None:
        self.run_id = run_id  # one run's page: its step events too; else run events only
        self.changed: set[str] = set()
        self.ended = False  # the watched run reached a final status
        self.wake = asyncio.Event()

    def __call__(self, event: Event) -> None:
        if self.run_id is not None:
            if event.run_id != self.run_id:
                return
            if event.step_id is None and event.status in RUN_FINAL:
                self.ended = True
        elif event.step_id is not None:
            return
        if len(self.changed) < MAX_MARKED:
            self.changed.add(event.run_id)
        self.wake.set()

    def take(self) -> list[str]:
        changed = sorted(self.changed)
        self.changed.clear()
        self.wake.clear()
        return changed


async def serve_changes(
    request: web.Request,
    subscribe: Callable[[Callable[[Event], None]], Callable[[], None]],
    closing: asyncio.Event,
    run_id: str | None,
    finished: Callable[[], Awaitable[bool]],
) -> web.StreamResponse:
    """Stream `change` messages until the client leaves, the daemon stops, or the watched
    run has ended (then one `end` message). `finished` is asked after subscribing, so a run
    that ends in between is not missed."""
    feed = ChangeFeed(run_id)
    unsubscribe = subscribe(feed)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    try:
        await response.prepare(request)
        await response.write(b"retry: 3000\n\n")
        if run_id is not None and await finished():
            await response.write(b"event: end\ndata: {}\n\n")
            return response
        stopping = asyncio.ensure_future(closing.wait())
        try:
            while not closing.is_set():
                waking = asyncio.ensure_future(feed.wake.wait())
                try:
                    await asyncio.wait(
                        {waking, stopping}, timeout=KEEPALIVE, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    waking.cancel()
                if closing.is_set():
                    break
                if not feed.wake.is_set():
                    await response.write(b": keep-alive\n\n")
                    continue
                ended = feed.ended
                data = json.dumps({"runs": feed.take()})
                await response.write(f"event: change\ndata: {data}\n\n".encode())
                if ended:
                    await response.write(b"event: end\ndata: {}\n\n")
                    break
                await asyncio.sleep(MIN_INTERVAL)
        finally:
            stopping.cancel()
    except ConnectionError:
        pass  # the page went away
    finally:
        unsubscribe()
    return response
