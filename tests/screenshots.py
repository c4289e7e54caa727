"""Screenshots of every dashboard page, for the README: `python -m tests.screenshots [DIR]`.

Starts a real daemon on a copy of the example workflows (plus one broken file), runs a few of
them (one through a signed webhook, one left waiting for approval), and writes PNGs to
docs/screenshots/ (or DIR) from headless Chromium. Waits on page conditions, never on time.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from mastermind.service.triggers import delivery_headers
from tests.browser import chromium, missing, sign_in
from tests.daemon_harness import ROOT, TOKEN, RunningDaemon, daemon

BROKEN = "name: broken\nsteps:\n  a:\n    agent: noop\n    needs: [nope]\n"
FINISHED = ("succeeded", "failed", "cancelled")


def _submit(d: RunningDaemon, workflow: str, inputs: dict[str, object] | None = None) -> str:
    status, body = d.call("POST", "/api/v1/runs", {"workflow": workflow, "inputs": inputs or {}})
    if status != 201:
        raise SystemExit(f"could not start {workflow}: {body}")
    return str(body["run_id"])


def _webhook(d: RunningDaemon, workflow: str, key: str) -> str:
    body = json.dumps({"inputs": {"change": "rotate the TLS certificate"}}).encode()
    request = urllib.request.Request(f"{d.url}/api/v1/hooks/{workflow}", data=body, method="POST")
    for name, value in delivery_headers(key, body, now=time.time()).items():
        request.add_header(name, value)
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.loads(response.read())["run_id"])


def take(out: Path) -> list[Path]:
    """Start a daemon, make some history, photograph each page; the files written."""
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        folder = tmp / "workflows"
        shutil.copytree(ROOT / "workflows", folder)
        (folder / "broken.yaml").write_text(BROKEN)
        extra = "secrets: {approval_hook: screenshot-key}\n"
        with daemon(tmp, folder, extra=extra) as d, chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 860})

            def shot(name: str, full: bool = False) -> None:
                path = out / f"{name}.png"
                page.screenshot(path=str(path), full_page=full)
                written.append(path)

            page.goto(f"{d.url}/ui/")
            shot("login")
            sign_in(page, d.url, TOKEN)
            done = [
                _submit(d, "hello", {"names": ["Ada", "Grace", "Barbara", "Linus"]}),
                _submit(d, "resilient"),
                _submit(d, "shell"),
                _submit(d, "socratic"),
                _submit(d, "nested"),
                _submit(d, "pipeline"),
            ]
            waiting = _webhook(d, "approval", "screenshot-key")
            for run_id in done:
                row = page.locator(f'tr[data-run="{run_id}"]')
                expect(row).to_have_attribute("data-status", re.compile("|".join(FINISHED)))
            expect(page.locator(f'tr[data-run="{waiting}"]')).to_have_attribute(
                "data-status", "running"
            )
            shot("runs")

            page.goto(f"{d.url}/ui/runs/{waiting}")
            expect(page.locator('a.node[data-step="approve"]')).to_have_attribute(
                "data-status", "running"
            )
            shot("run-waiting")

            page.goto(f"{d.url}/ui/runs/{done[-1]}")
            expect(page.locator("svg.gantt")).to_be_visible()
            page.locator("details#step-lengths > summary").click()
            shot("run", full=True)

            page.goto(f"{d.url}/ui/runs/{done[3]}#step-fallacy")
            step = page.locator("details#step-fallacy")
            expect(step.locator(".reasoning")).to_be_visible()
            path = out / "socratic.png"
            step.screenshot(path=str(path))
            written.append(path)

            page.goto(f"{d.url}/ui/workflows")
            expect(page.locator(".broken-file")).to_be_visible()
            shot("workflows", full=True)

            page.goto(f"{d.url}/ui/workflows/approval")
            shot("workflow")

            page.goto(f"{d.url}/ui/health")
            expect(page.locator('[data-metric="state"]')).to_have_text("ready")
            shot("health")
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    reason = missing()
    if reason is not None:
        print(f"cannot take screenshots: {reason}", file=sys.stderr)
        return 2
    for path in take(Path(args[0]) if args else ROOT / "docs" / "screenshots"):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
