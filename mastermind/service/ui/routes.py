"""The dashboard's pages and actions, mounted at /ui/ on the daemon's own aiohttp app.

Reads go through the daemon's store; actions through its coordinator (never HTTP to itself).
Every page needs a session (the login form checks a bearer token and sets the cookie); every
POST but the login also needs the session's CSRF token and, when the browser sends one, a
same-origin `Origin`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import jinja2
from aiohttp import web

from mastermind import __version__
from mastermind.errors import InputError, MastermindError
from mastermind.language.loader import Definition, load_text
from mastermind.service.triggers import cron_entries
from mastermind.service.ui import forms, session, views
from mastermind.service.ui.health import HealthSampler
from mastermind.service.ui.layout import format_seconds, layout_dag, layout_timeline
from mastermind.service.ui.stream import serve_changes
from mastermind.store.base import RunRecord
from mastermind.store.events import RunStatus

if TYPE_CHECKING:
    from mastermind.service.daemon import Daemon

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HERE = Path(__file__).resolve().parent
PAGE_SIZE = 25
BUILDS = 2  # run pages read and built at once: the default executor stays free for the store
BUILD_WAIT = 30.0  # seconds a run page waits for its turn before the daemon says it is busy
STATUSES = [s.value for s in RunStatus]
NOTICES = {  # ?notice= codes a redirect may carry; the text is ours, never the request's
    "cancelling": "Cancel requested: running steps are being stopped.",
    "signal": "Signal sent.",
    "rerun": "This is a new run with the same inputs and the same definition.",
    "started": "Run started.",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Dashboard:
    """What the pages share: the daemon, templates, health readings, loaded definitions."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["seconds"] = format_seconds
        self.templates.filters["when"] = views.when
        self.templates.globals["static"] = self.static_url
        self.templates.globals["version"] = __version__
        self.sampler = HealthSampler(daemon.metrics.registry)
        self.closing = asyncio.Event()  # set at shutdown: live streams end
        self.builds = asyncio.Semaphore(BUILDS)
        self._definitions: OrderedDict[str, Definition] = OrderedDict()
        digest = hashlib.sha256()
        for path in sorted((HERE / "static").iterdir()):
            digest.update(path.read_bytes())
        self._assets = digest.hexdigest()[:10]  # cache-busting: a new release, new URLs

    def static_url(self, name: str) -> str:
        return f"/ui/static/{name}?v={self._assets}"

    def render(
        self, request: web.Request, template: str, http_status: int = 200, **context: Any
    ) -> web.Response:
        html = self.html(template, signed_in_as(request), **context)
        return web.Response(text=html, content_type="text/html", status=http_status)

    def html(self, template: str, signed: tuple[str, str] | None, **context: Any) -> str:
        """A page for a person signed in with `signed` (cookie, token), or for no one."""
        cookie, key = signed or ("", "")
        context.setdefault("csrf", session.csrf_token(cookie, key) if key else "")
        context.setdefault("nav", "")
        context.setdefault("signed_in", bool(key))
        return self.templates.get_template(template).render(**context)

    async def definition_for(self, run: RunRecord) -> Definition:
        """The exact definition a run is pinned to (the catalog's if the digest matches)."""
        served = self.daemon.catalog.get(run.workflow)
        if served is not None and served.digest == run.digest:
            return served
        found = self._definitions.get(run.digest)
        if found is None:
            registry = self.daemon.coordinator.registry
            found = await asyncio.get_running_loop().run_in_executor(
                None, load_text, run.definition, run.file, registry
            )
            self._definitions[run.digest] = found
            while len(self._definitions) > 32:
                self._definitions.popitem(last=False)
        self._definitions.move_to_end(run.digest)
        return found


DASHBOARD: web.AppKey[Dashboard] = web.AppKey("dashboard", Dashboard)


def _dashboard(request: web.Request) -> Dashboard:
    return request.app[DASHBOARD]


# ---------------------------------------------------------------------------------- middleware


@web.middleware
async def pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Errors as HTML pages (the API's JSON errors are for programs), and security headers."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = _dashboard(request).render(
            request, "error.html", http_status=exc.status, title=exc.reason, message=exc.text or ""
        )
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("dashboard error serving %s %s", request.method, request.path)
        response = _dashboard(request).render(
            request,
            "error.html",
            http_status=500,
            title="Internal error",
            message="The daemon logged the details.",
        )
    if not response.prepared:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.path.startswith("/ui/static/"):  # versioned URLs: cache them for good
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


OPEN = ("/ui/login", "/ui/static/")


@web.middleware
async def signed_in(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A valid session for every page; a CSRF token and same origin for every change."""
    if request.path.startswith(OPEN):
        if request.method == "POST":
            _same_origin(request)
        return await handler(request)
    signed = signed_in_as(request)
    if signed is None:
        if request.method == "GET" and not _for_a_script(request):
            target = "/ui/login?" + urlencode({"next": request.path_qs})
            raise web.HTTPSeeOther(target)
        raise web.HTTPUnauthorized(text="Your session has ended; sign in again.")
    cookie, key = signed
    if request.method not in ("GET", "HEAD"):
        _same_origin(request)
        form = await request.post()
        presented = str(form.get("csrf", "")) or request.headers.get("X-CSRF-Token", "")
        if not session.csrf_ok(cookie, key, presented):
            raise web.HTTPForbidden(
                text="This form was not sent from a page of this dashboard (no valid CSRF "
                "token). Reload the page and try again."
            )
    return await handler(request)


def _for_a_script(request: web.Request) -> bool:
    """A page's script asks (a fragment, or the live stream): a 401 it can act on, not a
    redirect to the sign-in page it would take for its answer."""
    return "X-Fragment" in request.headers or "text/event-stream" in request.headers.get(
        "Accept", ""
    )


def signed_in_as(request: web.Request) -> tuple[str, str] | None:
    """The request's valid session cookie and the token that signed it, if any. (Checked
    again where needed rather than stored on the request: two HMACs cost nothing.)"""
    cookie = request.cookies.get(session.COOKIE, "")
    key = session.session_key(cookie, _dashboard(request).daemon.tokens) if cookie else None
    return (cookie, key) if key is not None else None


def _same_origin(request: web.Request) -> None:
    origin = request.headers.get("Origin")
    if origin is not None and origin not in _own_origins(request):
        raise web.HTTPForbidden(text="Cross-site requests are refused.")


def _forwarded(request: web.Request, name: str) -> str | None:
    """What a reverse proxy says the browser used (`X-Forwarded-Proto`/`-Host`)."""
    value = request.headers.get(f"X-Forwarded-{name}", "").split(",", 1)[0].strip()
    return value or None


def _own_origins(request: web.Request) -> set[str]:
    """The origins this page may have been served from: as the daemon sees the request, and
    as a reverse proxy in front (TLS, another host name) says the browser sent it. Trusting
    those headers is safe here: a cross-site page cannot add them to a request (they are not
    CORS-safelisted), and every POST but the login also needs the session's CSRF token."""
    schemes = {request.scheme, _forwarded(request, "Proto") or request.scheme}
    hosts = {request.host, _forwarded(request, "Host") or request.host}
    return {f"{scheme}://{host}" for scheme in schemes for host in hosts}


def _secure(request: web.Request) -> bool:
    return request.secure or _forwarded(request, "Proto") == "https"


# ---------------------------------------------------------------------------------- sign in


def _safe_next(target: str) -> str:
    return target if target.startswith("/ui/") and not target.startswith("//") else "/ui/runs"


async def login_page(request: web.Request) -> web.Response:
    return _dashboard(request).render(
        request, "login.html", next=_safe_next(request.query.get("next", "")), error=None
    )


async def login(request: web.Request) -> web.Response:
    dashboard = _dashboard(request)
    form = await request.post()
    token = str(form.get("token", "")).strip()
    target = _safe_next(str(form.get("next", "")))
    if not session.valid_token(token, dashboard.daemon.tokens):
        log.warning("dashboard: refused a sign-in from %s (wrong token)", request.remote)
        return dashboard.render(
            request,
            "login.html",
            http_status=401,
            next=target,
            error="That token is not valid. Use one of the daemon's API tokens.",
        )
    response = web.HTTPSeeOther(target)
    response.set_cookie(
        session.COOKIE,
        session.new_session(token),
        path="/ui/",
        httponly=True,
        samesite="Strict",
        secure=_secure(request),
    )
    raise response


async def logout(request: web.Request) -> web.Response:
    response = web.HTTPSeeOther("/ui/login")
    response.del_cookie(session.COOKIE, path="/ui/")
    raise response


# ---------------------------------------------------------------------------------- runs


async def index(request: web.Request) -> web.Response:
    raise web.HTTPFound("/ui/runs")


async def _runs_context(request: web.Request) -> dict[str, Any]:
    daemon = _dashboard(request).daemon
    status = request.query.get("status") or None
    workflow = request.query.get("workflow") or None
    if status is not None and status not in STATUSES:
        raise web.HTTPBadRequest(text=f"Unknown status {status!r}.")
    try:
        page = max(int(request.query.get("page", "1")), 1)
    except ValueError:
        raise web.HTTPBadRequest(text="The page is a number.") from None
    page = min(page, 1_000_000)
    runs = await daemon.store.list_runs(
        status=status, workflow=workflow, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE
    )
    filters = {k: v for k, v in (("status", status), ("workflow", workflow)) if v}

    def page_url(number: int, fragment: bool = False) -> str:
        query = urlencode({**filters, **({"page": number} if number > 1 else {})})
        return ("/ui/runs/table" if fragment else "/ui/runs") + (f"?{query}" if query else "")

    return {
        "rows": views.run_rows(runs[:PAGE_SIZE]),
        "status": status or "",
        "workflow": workflow or "",
        "statuses": STATUSES,
        "workflows": sorted(set(daemon.catalog) | ({workflow} if workflow else set())),
        "page": page,
        "first": (page - 1) * PAGE_SIZE + 1,
        "newer": page_url(page - 1) if page > 1 else None,
        "older": page_url(page + 1) if len(runs) > PAGE_SIZE else None,
        "table_url": page_url(page, fragment=True),
        "filtered": bool(filters),
    }


async def runs_page(request: web.Request) -> web.Response:
    context = await _runs_context(request)
    return _dashboard(request).render(request, "runs.html", nav="runs", **context)


async def runs_table(request: web.Request) -> web.Response:
    context = await _runs_context(request)
    return _dashboard(request).render(request, "_runs_table.html", **context)


async def _run(request: web.Request) -> RunRecord:
    run = await _dashboard(request).daemon.store.get_run(request.match_info["run_id"])
    if run is None:
        raise web.HTTPNotFound(text="There is no run with that id in this daemon's store.")
    return run


async def _run_response(request: web.Request, template: str, **extra: Any) -> web.Response:
    """A run's page or live fragment. Reading and building it is CPU work proportional to the
    run (10,000 fan-out items: a few hundred milliseconds), so it happens in a thread, not on
    the loop, and only BUILDS at a time: forty tabs on a huge run once queued forty builds in
    the default executor, and every store read of the daemon (API, engine) waited behind them."""
    dashboard = _dashboard(request)
    try:
        async with asyncio.timeout(BUILD_WAIT):
            await dashboard.builds.acquire()
    except TimeoutError:
        raise web.HTTPServiceUnavailable(
            text="The daemon is busy drawing other run pages; try again in a moment."
        ) from None
    try:
        return await _build_run_response(request, template, **extra)
    finally:
        dashboard.builds.release()


async def _build_run_response(request: web.Request, template: str, **extra: Any) -> web.Response:
    dashboard = _dashboard(request)
    daemon = dashboard.daemon
    run = await _run(request)
    records = await daemon.store.steps(run.run_id)
    try:
        definition = await dashboard.definition_for(run)
    except MastermindError as exc:
        raise web.HTTPInternalServerError(
            text=f"This run's pinned definition no longer loads: {exc}"
        ) from None
    secrets = list(daemon.coordinator.secrets)
    here = run.run_id in daemon.coordinator.active_runs
    notice = NOTICES.get(request.query.get("notice", ""))
    signed = signed_in_as(request)

    def build() -> str:
        now = time.time()
        view = views.run_view(definition, run, records, secrets, now)
        order = definition.order
        dag = layout_dag(order, {s: definition.steps[s].needs for s in order})
        rows, hidden = views.timeline_rows(view)
        start = run.started_at or run.created_at
        return dashboard.html(
            template,
            signed,
            view=view,
            run=run,
            dag=dag,
            steps={s.id: s for s in view.steps},
            timeline=layout_timeline(rows, start, run.finished_at or now) if rows else None,
            timeline_hidden=hidden,
            here=here,
            can_rerun=not daemon.draining,
            notice=notice,
            **extra,
        )

    html = await asyncio.get_running_loop().run_in_executor(None, build)
    return web.Response(text=html, content_type="text/html")


async def run_page(request: web.Request) -> web.Response:
    return await _run_response(request, "run.html", nav="runs")


async def run_live(request: web.Request) -> web.Response:
    return await _run_response(request, "_run_live.html")


async def run_stacks(request: web.Request) -> web.Response:
    """The live coroutine stack of each of the run's steps in flight (the inspector's view)."""
    from mastermind.service.inspector import snapshot

    dashboard = _dashboard(request)
    run = await _run(request)
    daemon = dashboard.daemon
    view = snapshot(daemon.coordinator.inflight, daemon.loop_watch, run.run_id)
    return dashboard.render(request, "stacks.html", nav="runs", run=run, view=view)


def _back_to(run_id: str, notice: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/ui/runs/{quote(run_id)}?notice={notice}")


async def cancel_run(request: web.Request) -> web.Response:
    run = await _run(request)
    if run.finished:
        raise web.HTTPConflict(text=f"The run already {run.status}.")
    if not _dashboard(request).daemon.coordinator.cancel(run.run_id):
        raise web.HTTPConflict(text="The run is not running in this daemon.")
    raise _back_to(run.run_id, "cancelling")


async def signal_run(request: web.Request) -> web.Response:
    run = await _run(request)
    form = await request.post()
    name = str(form.get("name", "")).strip()
    raw = str(form.get("payload", "")).strip()
    if not name:
        raise web.HTTPBadRequest(text="A signal needs a name.")
    payload: Any = None
    if raw:
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = raw  # plain text is a string payload
    if run.finished:
        raise web.HTTPConflict(text=f"The run already {run.status}.")
    if not _dashboard(request).daemon.coordinator.signal(run.run_id, name, payload):
        raise web.HTTPConflict(text="The run is not running in this daemon.")
    log.info("dashboard: signal %s sent to run %s", name, run.run_id)
    raise _back_to(run.run_id, "signal")


async def rerun(request: web.Request) -> web.Response:
    dashboard = _dashboard(request)
    run = await _run(request)
    if dashboard.daemon.draining:
        raise web.HTTPConflict(text="The daemon is shutting down; start the run elsewhere.")
    definition = await dashboard.definition_for(run)
    try:
        run_id = await dashboard.daemon.coordinator.submit(definition, run.inputs)
    except MastermindError as exc:
        raise web.HTTPUnprocessableEntity(text=str(exc)) from None
    raise _back_to(run_id, "rerun")


async def stream(request: web.Request) -> web.StreamResponse:
    dashboard = _dashboard(request)
    daemon = dashboard.daemon
    run_id = request.query.get("run") or None

    async def finished() -> bool:
        run = await daemon.store.get_run(run_id) if run_id else None
        return run is None or run.finished

    return await serve_changes(
        request, daemon.coordinator.subscribe, dashboard.closing, run_id, finished
    )


# ---------------------------------------------------------------------------------- workflows


async def workflows_page(request: web.Request) -> web.Response:
    daemon = _dashboard(request).daemon
    now = time.time()
    cron = {}
    for entry in cron_entries(daemon.catalog):
        cron[(entry.workflow, entry.index)] = entry.next_after(now)
    folder = str(daemon.config.workflows).rstrip("/") + "/"

    def short(path: str) -> str:  # files are named relative to the folder the page shows
        return path.removeprefix(folder)

    served = []
    for definition in sorted(daemon.catalog.values(), key=lambda d: d.name):
        triggers = []
        for index, trigger in enumerate(definition.spec.triggers):
            if trigger.cron is not None:
                fire = cron.get((definition.name, index))
                triggers.append(
                    {
                        "kind": "cron",
                        "what": trigger.cron,
                        "next": views.when(fire),
                        "next_iso": views.iso(fire),
                        "in": format_seconds(fire - now) if fire else "",
                    }
                )
            elif trigger.webhook is not None:
                path = f"/api/v1/hooks/{definition.name}"
                triggers.append({"kind": "webhook", "what": f"POST {path}", "next": ""})
        served.append(
            {"definition": definition, "file": short(definition.file), "triggers": triggers}
        )
    broken: dict[str, list[str]] = {}
    for problem in daemon.broken:
        broken.setdefault(short(problem.file), []).append(short(str(problem)))
    return _dashboard(request).render(
        request,
        "workflows.html",
        nav="workflows",
        served=served,
        broken=broken,
        folder=str(daemon.config.workflows),
    )


def _workflow(request: web.Request) -> Definition:
    definition = _dashboard(request).daemon.catalog.get(request.match_info["name"])
    if definition is None:
        raise web.HTTPNotFound(text="This daemon serves no workflow by that name.")
    return definition


def _workflow_page(
    request: web.Request,
    definition: Definition,
    fields: list[forms.FormField],
    problem: str | None = None,
    status: int = 200,
) -> web.Response:
    dag = layout_dag(definition.order, {s: definition.steps[s].needs for s in definition.order})
    return _dashboard(request).render(
        request,
        "workflow.html",
        http_status=status,
        nav="workflows",
        definition=definition,
        dag=dag,
        fields=fields,
        problem=problem,
        draining=_dashboard(request).daemon.draining,
    )


async def workflow_page(request: web.Request) -> web.Response:
    definition = _workflow(request)
    return _workflow_page(request, definition, forms.form_fields(definition.spec))


async def start_run(request: web.Request) -> web.Response:
    daemon = _dashboard(request).daemon
    definition = _workflow(request)
    form = {k: str(v) for k, v in (await request.post()).items() if k != "csrf"}
    inputs, errors = forms.parse_inputs(definition.spec, form)
    fields = forms.form_fields(definition.spec, form, errors)
    if errors:
        return _workflow_page(request, definition, fields, "Some inputs need fixing.", 422)
    if daemon.draining:
        raise web.HTTPConflict(text="The daemon is shutting down; start the run elsewhere.")
    try:
        run_id = await daemon.coordinator.submit(definition, inputs)
    except InputError as exc:
        return _workflow_page(request, definition, fields, str(exc), 422)
    raise _back_to(run_id, "started")


# ---------------------------------------------------------------------------------- health


def _health_context(request: web.Request) -> dict[str, Any]:
    dashboard = _dashboard(request)
    daemon = dashboard.daemon
    return {
        "figures": dashboard.sampler.figures(),
        "workflows": len(daemon.catalog),
        "state": "draining" if daemon.draining else ("ready" if daemon.ready else "starting"),
        "store": "PostgreSQL" if daemon.config.store.dsn else "SQLite",
        "now": views.when(time.time()),
    }


async def health_page(request: web.Request) -> web.Response:
    return _dashboard(request).render(
        request, "health.html", nav="health", **_health_context(request)
    )


async def health_figures(request: web.Request) -> web.Response:
    return _dashboard(request).render(request, "_health.html", **_health_context(request))


# ---------------------------------------------------------------------------------- wiring

ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/", index),
    ("GET", "/login", login_page),
    ("POST", "/login", login),
    ("POST", "/logout", logout),
    ("GET", "/runs", runs_page),
    ("GET", "/runs/table", runs_table),
    ("GET", "/runs/{run_id}", run_page),
    ("GET", "/runs/{run_id}/live", run_live),
    ("GET", "/runs/{run_id}/stacks", run_stacks),
    ("POST", "/runs/{run_id}/cancel", cancel_run),
    ("POST", "/runs/{run_id}/signal", signal_run),
    ("POST", "/runs/{run_id}/rerun", rerun),
    ("GET", "/stream", stream),
    ("GET", "/workflows", workflows_page),
    ("GET", "/workflows/{name}", workflow_page),
    ("POST", "/workflows/{name}/run", start_run),
    ("GET", "/health", health_page),
    ("GET", "/health/figures", health_figures),
]


def dashboard_app(daemon: Daemon) -> web.Application:
    """The dashboard as an aiohttp sub-application (mount it at /ui/)."""
    app = web.Application(
        middlewares=[pages, signed_in], client_max_size=daemon.config.api.max_body_bytes
    )
    dashboard = Dashboard(daemon)
    app[DASHBOARD] = dashboard
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    app.router.add_static("/static/", HERE / "static", append_version=False)

    async def started(_: web.Application) -> None:
        dashboard.sampler.take()  # the first reading: rates are known from the first look

    async def stopping(_: web.Application) -> None:
        dashboard.closing.set()

    app.on_startup.append(started)
    app.on_shutdown.append(stopping)
    return app
