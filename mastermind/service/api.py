"""The HTTP API (aiohttp): submit, watch and cancel runs; list and validate workflows.

Every error is JSON with a message (400, 401, 404, 409, 413, 422), never a traceback. Bearer
tokens are compared in constant time; everything but /healthz, /readyz and /metrics needs one.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from mastermind import __version__
from mastermind.errors import InputError, InvalidInputData, RunExists, StoreUnavailable
from mastermind.language.expressions import data_problem
from mastermind.service.bodies import BodyError, Hook, Signal, SubmitRun, ValidateText, parse
from mastermind.service.triggers import SIGNATURE_HEADER, check_delivery, delivery_run_id, verify
from mastermind.service.ui import is_dashboard_path, mount
from mastermind.service.validation import validate
from mastermind.store.base import AmbiguousRunId, RunNotInStore, expand_run_id, fold_texts
from mastermind.store.events import RUN_FINAL, Event

if TYPE_CHECKING:
    from mastermind.service.daemon import Daemon
    from mastermind.store.base import Store

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
STORE_RETRY_AFTER = 5  # seconds a client is asked to wait after the store refused a write
HOOKS = "/api/v1/hooks/"
DAEMON: web.AppKey[Daemon] = web.AppKey("daemon")


def problem(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, "status": status, **extra}, status=status)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into a JSON error; log the unexpected ones."""
    try:
        return await handler(request)
    except BodyError as exc:
        return problem(422, str(exc))
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[DAEMON].config.api.max_body_bytes
        return problem(413, f"the request body is larger than {limit} bytes")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem(exc.status, exc.reason)
    except StoreUnavailable as exc:
        # the disk is full or the database is gone: say so, and when to try again
        request.app[DAEMON].coordinator.note_store_failure(exc)
        log.error("store unavailable serving %s %s: %s", request.method, request.path, exc)
        response = problem(503, f"the store is unavailable: {exc}")
        response.headers["Retry-After"] = str(STORE_RETRY_AFTER)
        return response
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unexpected error serving %s %s", request.method, request.path)
        return problem(500, "internal error; the daemon logged the details")


@web.middleware
async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in OPEN_PATHS or request.path.startswith(HOOKS):  # hooks carry a signature
        return await handler(request)
    if is_dashboard_path(request.path):  # the dashboard checks its own session cookie
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    tokens = request.app[DAEMON].tokens
    if scheme.lower() != "bearer" or not token:
        return problem(401, "a bearer token is required (Authorization: Bearer TOKEN)")
    # constant-time comparison against every configured token
    if not any(hmac.compare_digest(token.encode(), known.encode()) for known in tokens):
        return problem(401, "the bearer token is not valid")
    return await handler(request)


async def read_body(request: web.Request) -> bytes:
    """The raw body, read within `api.read_timeout` (a client trickling it is cut off)."""
    try:
        async with asyncio.timeout(request.app[DAEMON].config.api.read_timeout):
            return await request.read()
    except TimeoutError:
        raise web.HTTPRequestTimeout(reason="the request body took too long to arrive") from None


async def json_body(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object ({} when empty). Reads through aiohttp's cached body, so a
    handler that already read the raw bytes (to check a signature) can still call it."""
    raw = await read_body(request)
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise web.HTTPBadRequest(reason="the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(reason="the body must be a JSON object")
    return data


def run_json(run: Any) -> dict[str, Any]:
    data = asdict(run)
    data.pop("definition", None)
    return data


async def submit_run(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    body = parse(SubmitRun, await json_body(request))
    name, inputs = body.workflow, body.inputs
    definition = daemon.catalog.get(name)
    if definition is None:
        return problem(404, f"no workflow named {name!r}", known=sorted(daemon.catalog))
    if daemon.draining:
        return problem(409, "the daemon is shutting down; submit to another one")
    if (full := at_capacity(daemon)) is not None:
        return full
    try:
        run_id = await daemon.coordinator.submit(definition, inputs)
    except InvalidInputData as exc:  # not data a store keeps (NaN, 1e400, 2**63)
        return problem(400, str(exc))
    except InputError as exc:
        return problem(422, str(exc))
    return web.json_response({"run_id": run_id, "status": "queued"}, status=201)


RETRY_AFTER_SECONDS = 5


def at_capacity(daemon: Daemon) -> web.Response | None:
    """429 when this daemon already runs `limits.runs` runs (admission control), else None."""
    limit = daemon.config.limits.runs
    if len(daemon.coordinator.active_runs) < limit:
        return None
    response = problem(429, f"this daemon runs {limit} runs already (limits.runs); retry later")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


async def list_runs(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    query = request.query
    try:
        limit = int(query.get("limit", "50"))
        offset = int(query.get("offset", "0"))
    except ValueError:
        return problem(400, "limit and offset are integers")
    if not (1 <= limit <= 1000 and 0 <= offset <= 1_000_000_000):
        return problem(400, "limit is 1 to 1000 and offset 0 to 1000000000")
    runs = await daemon.store.list_runs(
        status=query.get("status"), workflow=query.get("workflow"), limit=limit, offset=offset
    )
    next_offset = offset + limit if len(runs) == limit else None
    return web.json_response(
        {"runs": [run_json(r) for r in runs], "next_offset": next_offset}, dumps=_dumps
    )


async def get_run(request: web.Request) -> web.Response:
    store = request.app[DAEMON].store
    try:  # any unique prefix of the id, as on the command line
        run = await store.get_run(await expand_run_id(store, request.match_info["run_id"]))
    except AmbiguousRunId as exc:
        return problem(409, str(exc))
    except RunNotInStore:
        run = None
    if run is None:
        return problem(404, "no such run")
    texts = await store.event_log(run.run_id)
    body = await asyncio.to_thread(render_run, run, texts)
    return web.Response(body=body, content_type="application/json")


def render_run(run: Any, texts: list[str]) -> bytes:
    """Decode and fold the run's events and render the JSON (in a thread). The cyclic
    collector is paused meanwhile: all it builds is garbage once the bytes exist (freed by
    reference counting), and a collector pass over it, in any thread, stalls the loop for
    hundreds of milliseconds on a 20,000-item run."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return run_body(run, fold_texts(texts))
    finally:
        if collecting:
            gc.enable()


def run_body(run: Any, steps: list[Any]) -> bytes:
    """GET /runs/{id} as JSON (CPU work: a thread runs it for the handler). One small orjson
    call per step: a single json.dumps of 20,000 steps holds the GIL, and so stalls the event
    loop, for its whole length."""
    parts = [b'{"run":', orjson.dumps(run_json(run), default=str), b',"steps":[']
    for index, step in enumerate(steps):
        if index:
            parts.append(b",")
        parts.append(orjson.dumps(step, default=str, option=orjson.OPT_NON_STR_KEYS))
    parts.append(b"]}")
    return b"".join(parts)


async def cancel_run(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    run_id = request.match_info["run_id"]
    run = await daemon.store.get_run(run_id)
    if run is None:
        return problem(404, "no such run")
    if run.finished:
        return problem(409, f"the run already {run.status}")
    if not daemon.coordinator.cancel(run_id):
        return problem(409, "the run is not running in this daemon")
    return web.json_response({"run_id": run_id, "status": "cancelling"}, status=202)


async def signal_run(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    run_id, name = request.match_info["run_id"], request.match_info["name"]
    body = parse(Signal, await json_body(request))
    run = await daemon.store.get_run(run_id)
    if run is None:
        return problem(404, "no such run")
    if run.finished:
        return problem(409, f"the run already {run.status}")
    payload = body.payload
    trouble = data_problem(payload, "payload")
    if trouble is not None:  # else a waiting step would fail on outputs no store keeps
        return problem(400, f"the signal's {trouble}")
    if not daemon.coordinator.signal(run_id, name, payload):
        return problem(409, "the run is not running in this daemon")
    return web.json_response({"run_id": run_id, "signal": name}, status=202)


REPLAY_PAGE = 1000  # stored events read (and held) at a time while replaying


class SlowClient(Exception):
    """An event-stream client stopped taking writes."""


async def run_events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: the stored events (page by page), then live ones, in order, until
    the run ends. Memory per client is bounded (a queue of `api.sse_queue` live events, one
    page of stored ones). A client that takes no write for `api.read_timeout` is dropped: a
    final `dropped` event (if it still takes one) names the last event it got, for
    Last-Event-ID, and the connection is closed."""
    daemon = request.app[DAEMON]
    run_id = request.match_info["run_id"]
    store = daemon.store
    run = await store.get_run(run_id)
    if run is None:
        return problem(404, "no such run")
    try:
        after = int(request.headers.get("Last-Event-ID", request.query.get("after", "0")))
    except ValueError:
        return problem(400, "Last-Event-ID is an event number")
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    stream = _EventStream(request, response, daemon.config.api.read_timeout)
    stream.last = after
    metrics = daemon.metrics
    metrics.sse_subscribers.inc()
    try:
        if await stream.replay(store, run_id) or request.query.get("follow") == "0":
            return response
        await stream.follow(daemon, run_id)
    except SlowClient as exc:
        metrics.sse_dropped.inc()
        log.info("event stream of run %s: dropped a client (%s)", run_id, exc)
        await stream.drop(str(exc))
    except (ConnectionResetError, ConnectionError):
        pass  # the client went away
    finally:
        metrics.sse_subscribers.dec()
    return response


def _frame(event: Event) -> bytes:
    """One Server-Sent Event."""
    data = json.dumps(event.to_dict(), default=str)
    return f"id: {event.seq}\nevent: {event.status}\ndata: {data}\n\n".encode()


def _frames(events: list[Event]) -> bytes:
    return b"".join(_frame(event) for event in events)


def _ends_run(event: Event) -> bool:
    return event.step_id is None and event.status in RUN_FINAL


class _EventStream:
    """One client's event stream: where it is (`last`), and writes with a deadline."""

    def __init__(
        self, request: web.Request, response: web.StreamResponse, write_timeout: float
    ) -> None:
        self.request = request
        self.response = response
        self.write_timeout = write_timeout
        self.last = 0

    async def write(self, data: bytes) -> None:
        try:
            async with asyncio.timeout(self.write_timeout):
                await self.response.write(data)
        except TimeoutError:
            raise SlowClient(f"a write waited more than {self.write_timeout:g}s") from None

    async def send(self, event: Event) -> bool:
        """Send one event (once, in order); True if it ends the run."""
        if event.seq <= self.last:
            return False
        await self.write(_frame(event))
        self.last = event.seq
        return _ends_run(event)

    async def send_page(self, events: list[Event]) -> bool:
        """Send stored events (once, in order) in one write, encoded in a thread: a page of a
        large run costs the loop one write, not a thousand encodings (twenty stalled clients of
        a 20,000-item run held the loop for a second). True if one of them ends the run."""
        fresh = [event for event in events if event.seq > self.last]
        ending = next((i for i, event in enumerate(fresh) if _ends_run(event)), None)
        if ending is not None:
            fresh = fresh[: ending + 1]
        if not fresh:
            return False
        await self.write(await asyncio.to_thread(_frames, fresh))
        self.last = fresh[-1].seq
        return ending is not None

    async def replay(self, store: Store, run_id: str) -> bool:
        """Send the stored events after `last`, a page at a time; True if the run ended."""
        while True:
            page = await store.events(run_id, after=self.last, limit=REPLAY_PAGE)
            if await self.send_page(page):
                return True
            if len(page) < REPLAY_PAGE:
                return False

    async def follow(self, daemon: Daemon, run_id: str) -> None:
        """Live events through a bounded queue, until the run's final event. When the queue
        overflows (the client reads slower than the run writes), what is queued is dropped and
        the client catches up from the store, a page at a time: memory stays bounded, and a
        client that keeps reading gets every event."""
        live: asyncio.Queue[Event] = asyncio.Queue(maxsize=daemon.config.api.sse_queue)
        behind = True  # first, catch up with what was committed before subscribing

        def listen(event: Event) -> None:
            nonlocal behind
            if event.run_id != run_id or behind:
                return
            try:
                live.put_nowait(event)
            except asyncio.QueueFull:
                behind = True  # queue nothing more until it caught up

        unsubscribe = daemon.coordinator.subscribe(listen)
        try:
            while True:
                if behind:
                    while not live.empty():
                        live.get_nowait()
                    behind = False  # queue what is committed from now on, then catch up
                    if await self.replay(daemon.store, run_id):
                        return
                    continue
                try:
                    async with asyncio.timeout(15):
                        event = await live.get()
                except TimeoutError:
                    await self.write(b": keep-alive\n\n")
                    record = await daemon.store.get_run(run_id)
                    if record is None or record.finished:
                        await self.replay(daemon.store, run_id)  # the final event, if missed
                        return
                    continue
                if await self.send(event):
                    return
        finally:
            unsubscribe()

    async def drop(self, reason: str) -> None:
        """Tell the client why the stream ends, if it still takes writes; then close."""
        data = json.dumps({"error": reason, "last_event_id": self.last})
        self.response.force_close()
        try:
            await self.write(f"event: dropped\ndata: {data}\n\n".encode())
        except (SlowClient, ConnectionError):
            transport = self.request.transport
            if transport is not None:
                transport.abort()  # it takes nothing more: do not wait to flush


async def webhook(request: web.Request) -> web.Response:
    """Start a run of a workflow with a webhook trigger; the body is signed with HMAC-SHA256
    (`X-Mastermind-Signature: sha256=HEX`) under the secret the trigger names."""
    daemon = request.app[DAEMON]
    definition = daemon.catalog.get(request.match_info["workflow"])
    hooks = [t for t in definition.spec.triggers if t.webhook] if definition else []
    if definition is None or not hooks:
        return problem(404, "no workflow with a webhook trigger by that name")
    body = await read_body(request)
    signature = request.headers.get(SIGNATURE_HEADER, "")
    delivery = check_delivery(
        request.headers,
        daemon.coordinator.clock.time(),
        tolerance=daemon.config.api.webhook_tolerance,
    )
    if isinstance(delivery, str):
        return problem(401, delivery)
    for trigger in hooks:
        assert trigger.webhook is not None
        key = daemon.coordinator.secrets.get(trigger.webhook.secret)
        if (
            key
            and signature
            and verify(
                key, body, signature, timestamp=delivery.timestamp, delivery=delivery.delivery
            )
        ):
            break
    else:
        return problem(401, f"missing or wrong {SIGNATURE_HEADER}")
    payload = parse(Hook, await json_body(request))
    inputs = {**trigger.inputs, **payload.inputs}
    if daemon.draining:
        return problem(409, "the daemon is shutting down")
    if (full := at_capacity(daemon)) is not None:
        return full
    run_id = delivery_run_id(definition.name, delivery.delivery)
    try:
        await daemon.coordinator.submit(definition, inputs, run_id=run_id, trigger="webhook")
    except InvalidInputData as exc:  # not data a store keeps (NaN, 1e400, 2**63)
        return problem(400, str(exc))
    except InputError as exc:
        return problem(422, str(exc))
    except RunExists:  # a replay, or the sender's retry of a delivery we already took
        return web.json_response({"run_id": run_id, "status": "duplicate"}, status=200)
    return web.json_response({"run_id": run_id, "status": "queued"}, status=201)


async def list_workflows(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    return web.json_response(
        {
            "workflows": [
                {
                    "name": d.name,
                    "file": d.file,
                    "digest": d.digest,
                    "steps": len(d.steps),
                    "description": d.spec.description,
                }
                for d in sorted(daemon.catalog.values(), key=lambda d: d.name)
            ],
            "broken": [p.as_dict() for p in daemon.broken],
        }
    )


async def validate_workflow(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    text = await read_body(request)
    if request.content_type == "application/json":
        text = parse(ValidateText, await json_body(request)).text.encode()
    verdict = await validate(text, daemon.coordinator.registry)  # off the event loop
    if not verdict.valid:
        return web.json_response({"valid": False, "problems": verdict.problems}, status=400)
    return web.json_response({"valid": True, "name": verdict.name, "steps": verdict.steps})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": __version__})


async def readyz(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    if not daemon.ready or daemon.draining:
        return problem(503, "not ready" if not daemon.draining else "draining")
    trouble = daemon.coordinator.store_trouble()
    if trouble is not None:
        return problem(503, f"the store is unavailable: {trouble}")
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[DAEMON].metrics.render()
    return web.Response(
        body=body,
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )


async def openapi(request: web.Request) -> web.Response:
    from mastermind.service.openapi import document

    return web.json_response(document())


async def debug_tasks(request: web.Request) -> web.Response:
    """Every step task in flight, its live coroutine stack and what it awaits (?run_id=)."""
    from mastermind.service.inspector import DEFAULT_LIMIT, snapshot

    daemon = request.app[DAEMON]
    try:
        limit = int(request.query.get("limit", str(DEFAULT_LIMIT)))
    except ValueError:
        return problem(400, "limit is an integer")
    if not 1 <= limit <= 10_000:
        return problem(400, "limit is 1 to 10000")
    query = request.query.get("run_id")
    if query:  # any unique prefix of the id, as on the command line
        try:
            query = await expand_run_id(daemon.store, query)
        except AmbiguousRunId as exc:
            return problem(409, str(exc))
        except RunNotInStore:
            return problem(404, "no such run")
    body = snapshot(daemon.coordinator.inflight, daemon.loop_watch, query, limit)
    return web.json_response(body, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/api/v1/runs", submit_run),
    ("GET", "/api/v1/runs", list_runs),
    ("GET", "/api/v1/runs/{run_id}", get_run),
    ("POST", "/api/v1/runs/{run_id}/cancel", cancel_run),
    ("POST", "/api/v1/runs/{run_id}/signals/{name}", signal_run),
    ("GET", "/api/v1/runs/{run_id}/events", run_events),
    ("GET", "/api/v1/workflows", list_workflows),
    ("POST", "/api/v1/hooks/{workflow}", webhook),
    ("POST", "/api/v1/workflows/validate", validate_workflow),
    ("GET", "/api/v1/openapi.json", openapi),
    ("GET", "/api/v1/debug/tasks", debug_tasks),
    ("GET", "/healthz", healthz),
    ("GET", "/readyz", readyz),
    ("GET", "/metrics", metrics),
]


def make_app(daemon: Daemon) -> web.Application:
    """The aiohttp application serving `daemon`."""
    app = web.Application(
        middlewares=[errors, auth], client_max_size=daemon.config.api.max_body_bytes
    )
    app[DAEMON] = daemon
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    mount(app, daemon)
    return app
