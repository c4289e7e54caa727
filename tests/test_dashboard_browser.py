"""The dashboard in a real browser (headless Chromium through Playwright) against a real
`mastermind serve`: sign in, watch a run live, approve it, read the workflows and health pages,
and be refused with a wrong token or a forged form. Every wait is on a page condition."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser import chromium, missing, sign_in
from tests.daemon_harness import ROOT, TOKEN, RunningDaemon, daemon

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

pytestmark = pytest.mark.skipif(missing() is not None, reason=missing() or "")

AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
AXE_RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
BROKEN = "name: broken\nsteps:\n  a:\n    agent: noop\n    needs: [nope]\n"
WAIT = 20_000  # ms a page condition may take on a busy machine (a bound, not a pause)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    tmp = tmp_path_factory.mktemp("dashboard")
    folder = tmp / "workflows"
    folder.mkdir()
    shutil.copy(ROOT / "workflows" / "approval.yaml", folder)
    shutil.copy(ROOT / "workflows" / "hello.yaml", folder)
    shutil.copy(ROOT / "workflows" / "nested.yaml", folder)
    (folder / "zz_broken.yaml").write_text(BROKEN)
    with daemon(tmp, folder) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT)
    with chromium() as launched:
        yield launched


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(WAIT)
    yield ctx
    ctx.close()


def submit(d: RunningDaemon, change: str) -> str:
    status, body = d.call(
        "POST", "/api/v1/runs", {"workflow": "approval", "inputs": {"change": change}}
    )
    assert status == 201, body
    return str(body["run_id"])


def test_sign_in_refuses_a_wrong_token_and_every_forged_form(
    served: RunningDaemon, context: BrowserContext
) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    page.goto(f"{served.url}/ui/runs")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=/ui/runs$"))
    page.get_by_label("API token").fill("not-the-token")
    with page.expect_response(f"{served.url}/ui/login") as refused:
        page.get_by_role("button", name="Sign in").click()
    assert refused.value.status == 401
    expect(page.get_by_role("alert")).to_contain_text("That token is not valid")
    assert context.cookies() == []

    sign_in(page, served.url, TOKEN)
    (cookie,) = context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert TOKEN not in cookie["value"]  # a signed session, not the API token
    # the cookie is for the dashboard only: the API still wants the bearer token
    assert page.request.get(f"{served.url}/api/v1/runs").status == 401

    run_id = submit(served, "forged")
    cancel = f"{served.url}/ui/runs/{run_id}/cancel"
    # the session cookie alone, as a cross-site form would carry it: refused
    assert page.request.post(cancel, form={"x": "1"}).status == 403
    assert page.request.post(cancel, form={"csrf": "guessed"}).status == 403
    page.goto(f"{served.url}/ui/runs/{run_id}")
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    assert csrf
    evil = {"Origin": "http://evil.example"}
    assert page.request.post(cancel, form={"csrf": csrf}, headers=evil).status == 403
    assert served.call("GET", f"/api/v1/runs/{run_id}")[1]["run"]["status"] == "running"
    # the real button, with its token, works
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel run").click()
    expect(page.locator("#run-status")).to_have_attribute("data-status", "cancelled")


def test_a_run_appears_live_and_finishes_when_approved(
    served: RunningDaemon, context: BrowserContext
) -> None:
    from playwright.sync_api import expect

    runs = context.new_page()
    sign_in(runs, served.url, TOKEN)
    runs.evaluate("window.loadedOnce = true")  # gone if the page reloads
    run_id = submit(served, "live")
    row = runs.locator(f'tr[data-run="{run_id}"]')
    expect(row).to_have_attribute("data-status", "running")
    assert runs.evaluate("window.loadedOnce") is True

    page = context.new_page()
    page.goto(f"{served.url}/ui/runs")
    page.get_by_role("link", name=f"run {run_id}").click()
    nodes = page.locator("svg.dag a.node")
    expect(nodes).to_have_count(3)
    expect(nodes.nth(0)).to_have_attribute("data-status", "succeeded")
    expect(page.locator('a.node[data-step="approve"]')).to_have_attribute("data-status", "running")
    expect(page.locator('a.node[data-step="apply"]')).to_have_attribute("data-status", "pending")
    expect(page.locator("details#step-approve")).to_contain_text(f"{run_id}/approve")

    page.get_by_label("Payload (JSON or text, optional)").first.fill('{"by": "ada"}')
    page.get_by_role("button", name="Send approve").click()
    expect(page.get_by_role("status")).to_contain_text("Signal sent")
    expect(page.locator("#run-status")).to_have_attribute("data-status", "succeeded")
    for step in ("prepare", "approve", "apply"):
        expect(page.locator(f'a.node[data-step="{step}"]')).to_have_attribute(
            "data-status", "succeeded"
        )
    expect(page.locator("section.io")).to_contain_text("approved by ada")
    expect(page.locator("svg.gantt rect.bar")).to_have_count(3)
    # the runs page saw the change too, still without a reload
    expect(row).to_have_attribute("data-status", "succeeded")
    assert runs.evaluate("window.loadedOnce") is True
    body = served.call("GET", f"/api/v1/runs/{run_id}")[1]
    assert json.dumps(body["run"]["outputs"]).count("approved by ada") == 1

    # keyboard: a DAG node is a link to its step's details, which it opens
    page.locator('a.node[data-step="apply"]').focus()
    page.keyboard.press("Enter")
    expect(page.locator("details#step-apply")).to_have_attribute("open", "")
    # re-run: a new run, same inputs, waiting for its own approval
    page.get_by_role("button", name="Re-run").click()
    expect(page.get_by_role("status")).to_contain_text("a new run with the same inputs")
    again = page.url.split("/ui/runs/", 1)[1].split("?", 1)[0]
    assert again != run_id
    expect(page.locator('a.node[data-step="approve"]')).to_have_attribute("data-status", "running")
    assert served.call("GET", f"/api/v1/runs/{again}")[1]["run"]["inputs"]["change"] == "live"
    assert served.call("POST", f"/api/v1/runs/{again}/cancel")[0] == 202


def test_workflows_health_and_a_run_from_the_form(
    served: RunningDaemon, context: BrowserContext
) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    sign_in(page, served.url, TOKEN)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Workflows").click()
    broken = page.locator(".broken-file")
    expect(broken).to_contain_text("zz_broken.yaml:5:13: error: steps.a.needs[0]: no step named")
    expect(page.locator('tr[data-workflow="approval"]')).to_contain_text("webhook")
    expect(page.locator('tr[data-workflow="nested"]')).to_contain_text(
        re.compile(r"cron 0 6 \* \* 1-5\s*next: \d{4}-\d\d-\d\d 06:00:00")
    )

    page.get_by_role("link", name="Run approval").click()
    page.get_by_label("change").fill("from the form")
    page.get_by_label("approval_timeout").fill("")
    page.get_by_role("button", name="Start run").click()
    expect(page.get_by_role("status")).to_contain_text("Run started")
    expect(page.locator("section.io")).to_contain_text("from the form")
    expect(page.locator('a.node[data-step="approve"]')).to_have_attribute("data-status", "running")

    status, body = served.call(
        "POST", "/api/v1/runs", {"workflow": "hello", "inputs": {"names": ["a", "b", "c"]}}
    )
    assert status == 201, body
    page.goto(f"{served.url}/ui/runs/{body['run_id']}")
    group = page.locator('a.node[data-step="greet"]')  # a for_each step: a stack, with counts
    expect(group).to_have_attribute("data-status", "succeeded")
    expect(group.locator("rect.stack")).to_have_count(2)
    expect(group).to_contain_text("3/3 done")
    expect(page.locator("details#step-greet section.instance")).to_have_count(3)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Health").click()
    expect(page.locator('[data-metric="state"]')).to_have_text("ready")
    expect(page.locator('[data-metric="runs_active"]')).not_to_have_text("0")


SHOW = """hidden => {
  Object.defineProperty(document, "visibilityState", {value: hidden ? "hidden" : "visible",
                                                      configurable: true});
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_many_tabs_load_because_hidden_tabs_give_their_stream_back(
    served: RunningDaemon, context: BrowserContext
) -> None:
    """Chromium opens at most 6 connections to one host and a live page's stream holds one:
    six open tabs left a seventh loading forever. Tabs in the background give theirs back.
    (Headless Chromium never hides a tab, so the test hides them with the browser's own
    visibilitychange event; the connection limit is the real one.)"""
    from playwright.sync_api import expect

    first = context.new_page()
    sign_in(first, served.url, TOKEN)
    tabs = [first]
    for _ in range(5):
        tab = context.new_page()
        tab.goto(f"{served.url}/ui/runs")
        tabs.append(tab)
    for tab in tabs:
        tab.evaluate(SHOW, True)
    more = []
    for _ in range(3):  # with every connection held, these would wait for WAIT and fail
        tab = context.new_page()
        tab.goto(f"{served.url}/ui/runs")
        more.append(tab)
    run_id = submit(served, "many tabs")
    row = f'tr[data-run="{run_id}"]'
    for tab in more:
        expect(tab.locator(row)).to_have_attribute("data-status", "running")
    first.evaluate("window.loadedOnce = true")
    first.evaluate(SHOW, False)  # shown again: it reconnects and catches up, without a reload
    expect(first.locator(row)).to_have_attribute("data-status", "running")
    assert first.evaluate("window.loadedOnce") is True
    assert served.call("POST", f"/api/v1/runs/{run_id}/cancel")[0] == 202


def test_after_a_crash_a_person_decides_an_unknown_step(browser: Browser, tmp_path: Path) -> None:
    """kill -9 while an at_most_once step runs; after the restart the page offers retry or
    skip, and the session cookie still works (it is signed, not stored)."""
    from playwright.sync_api import expect

    folder = tmp_path / "workflows"
    folder.mkdir()
    shutil.copy(ROOT / "workflows" / "approval.yaml", folder)
    state = tmp_path / "state"
    ctx = browser.new_context()
    ctx.set_default_timeout(WAIT)
    try:
        page = ctx.new_page()
        with daemon(tmp_path, folder, state=state) as first:
            sign_in(page, first.url, TOKEN)
            run_id = submit(first, "crash")
            page.goto(f"{first.url}/ui/runs/{run_id}")
            approve = page.locator('a.node[data-step="approve"]')
            expect(approve).to_have_attribute("data-status", "running")
            first.process.kill()
            first.process.wait(timeout=30)
        with daemon(tmp_path, folder, state=state) as second:
            page.goto(f"{second.url}/ui/runs/{run_id}")  # no sign-in: same cookie, new process
            expect(approve).to_have_attribute("data-status", "unknown")
            page.get_by_role("button", name="Retry approve").click()
            expect(approve).to_have_attribute("data-status", "running")
            page.get_by_role("button", name="Send approve").click()
            expect(page.locator("#run-status")).to_have_attribute("data-status", "succeeded")
            assert second.call("GET", f"/api/v1/runs/{run_id}")[1]["run"]["status"] == "succeeded"
    finally:
        ctx.close()


def test_every_page_passes_the_axe_accessibility_checks(
    served: RunningDaemon, browser: Browser
) -> None:
    """axe-core's WCAG 2.1 A/AA rules (labels, names, contrast, keyboard access to scrolling
    regions, heading order) on every kind of page, with every step's details open."""
    from playwright.sync_api import expect

    run_id = submit(served, "accessible")  # stays waiting: the page shows the approve form
    ctx = browser.new_context(bypass_csp=True)  # the checker is injected as an inline script
    ctx.set_default_timeout(WAIT)
    try:
        page = ctx.new_page()
        page.goto(f"{served.url}/ui/login")
        found: dict[str, list[str]] = {}

        def check(path: str) -> None:
            page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
            page.add_script_tag(content=AXE.read_text())
            violations = page.evaluate(
                "async rules => (await axe.run(document, {runOnly: rules})).violations"
                ".map(v => `${v.id} (${v.impact}): ${v.nodes[0].target.join(' ')}`)",
                AXE_RULES,
            )
            if violations:
                found[path] = violations

        check("/ui/login")
        sign_in(page, served.url, TOKEN)
        expect(page.locator(f'tr[data-run="{run_id}"]')).to_be_visible()
        pages = ["/ui/runs", "/ui/workflows", "/ui/workflows/approval", "/ui/health"]
        runs = page.eval_on_selector_all("tr[data-run]", "rows => rows.map(r => r.dataset.run)")
        pages += [f"/ui/runs/{r}" for r in runs[:4]]  # newest: waiting, fan-out, form, re-run
        for path in pages:
            page.goto(f"{served.url}{path}")
            if path.endswith(run_id):
                expect(page.get_by_role("button", name="Send approve")).to_be_visible()
            check(path)
    finally:
        ctx.close()
    assert not found, found
