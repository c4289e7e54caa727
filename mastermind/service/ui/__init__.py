"""The web dashboard `mastermind serve` serves at /ui/: runs, a run's DAG and timeline,
workflows, health. Server-rendered HTML (Jinja2), a small script of our own for live updates,
no build step and nothing fetched from the internet."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from mastermind.service.daemon import Daemon

PREFIX = "/ui"


def mount(app: web.Application, daemon: Daemon) -> None:
    """Serve the dashboard from `app` at /ui/ (and send /ui there)."""
    from mastermind.service.ui.routes import dashboard_app

    async def to_dashboard(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(PREFIX + "/")

    app.router.add_get(PREFIX, to_dashboard)
    app.add_subapp(PREFIX + "/", dashboard_app(daemon))


def is_dashboard_path(path: str) -> bool:
    """Paths the dashboard authenticates itself (with its session cookie)."""
    return path == PREFIX or path.startswith(PREFIX + "/")
