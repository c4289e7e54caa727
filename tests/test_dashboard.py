"""The dashboard's parts without a browser: sessions, layout, forms, what a run page shows
(rendered inputs with secrets masked, fan-out counts, the Socratic reading), health figures
and the live-change feed. The browser tests drive the whole of it."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mastermind.engine.agent import AgentRegistry
from mastermind.engine.coordinator import Coordinator
from mastermind.language.loader import Definition
from mastermind.service.metrics import Metrics
from mastermind.service.ui import session
from mastermind.service.ui.forms import form_fields, parse_inputs
from mastermind.service.ui.health import HealthSampler
from mastermind.service.ui.layout import NODE_H, NODE_W, layers, layout_dag, layout_timeline
from mastermind.service.ui.stream import MAX_MARKED, ChangeFeed
from mastermind.service.ui.views import reading, run_view, timeline_rows
from mastermind.store.events import Event
from tests.daemon_harness import ROOT

Load = Callable[[str], Definition]


def test_sessions_are_signed_expire_and_end_with_their_token() -> None:
    cookie = session.new_session("alpha", now=1000.0)
    assert "alpha" not in cookie
    assert session.session_key(cookie, ["beta", "alpha"], now=1001.0) == "alpha"
    assert session.session_key(cookie, ["beta"], now=1001.0) is None  # token removed
    assert session.session_key(cookie, ["alpha"], now=1000.0 + session.LIFETIME + 1) is None
    assert session.session_key(cookie, ["alpha"], now=999.0) is None  # issued in the future
    issued, nonce, signature = cookie.split(".")
    assert session.session_key(f"{int(issued) + 9}.{nonce}.{signature}", ["alpha"]) is None
    assert session.session_key("garbage", ["alpha"]) is None
    csrf = session.csrf_token(cookie, "alpha")
    assert session.csrf_ok(cookie, "alpha", csrf)
    assert not session.csrf_ok(cookie, "alpha", "")
    assert not session.csrf_ok(session.new_session("alpha"), "alpha", csrf)  # another session
    assert session.valid_token("alpha", ["alpha"]) and not session.valid_token("", ["alpha"])


def test_dag_layers_follow_the_topological_order_and_nodes_never_overlap() -> None:
    order = ["a", "b", "c", "d", "e"]
    needs = {"b": ["a"], "c": ["a"], "d": ["b", "c"], "e": []}
    assert layers(order, needs) == {"a": 0, "b": 1, "c": 1, "d": 2, "e": 0}
    drawn = layout_dag(order, needs)
    assert [n.id for n in drawn.nodes] == order
    assert len(drawn.edges) == 4
    boxes = [(n.x, n.y) for n in drawn.nodes]
    for i, (x1, y1) in enumerate(boxes):
        for x2, y2 in boxes[i + 1 :]:
            assert abs(x1 - x2) >= NODE_W or abs(y1 - y2) >= NODE_H
    by_id = {n.id: n for n in drawn.nodes}
    assert by_id["a"].x < by_id["b"].x == by_id["c"].x < by_id["d"].x
    assert all(n.x + NODE_W <= drawn.width and n.y + NODE_H <= drawn.height for n in drawn.nodes)


def test_timeline_scales_attempts_and_draws_unfinished_ones_to_now() -> None:
    from mastermind.service.ui.layout import CHART_W, LABEL_W, Attempt

    rows = [
        ("a", [Attempt(1, 100.0, 101.0, "failed", "boom"), Attempt(2, 102.0, 104.0, "succeeded")]),
        ("b", [Attempt(1, 103.0, None, "running")]),
    ]
    drawn = layout_timeline(rows, 100.0, 110.0)
    first, second, running = drawn.bars
    assert first.x == LABEL_W and first.width == pytest.approx(CHART_W / 10, abs=0.1)
    assert "boom" in first.title and second.row == 0
    assert running.row == 1 and running.x + running.width == pytest.approx(LABEL_W + CHART_W)
    assert drawn.ticks[0].label == "0 ms" and len(drawn.ticks) >= 4


def test_the_run_form_follows_declared_inputs(load: Load) -> None:
    spec = load(
        """
name: form
inputs:
  who: {type: string, required: true}
  count: {type: integer, default: 3}
  ratio: {type: number}
  loud: {type: boolean, default: false}
  tags: {type: array, default: [a]}
  extra: {type: object}
steps: {s: {agent: noop}}
"""
    ).spec
    fields = {f.name: f for f in form_fields(spec)}
    assert fields["who"].required and fields["who"].widget == "text"
    assert fields["count"].widget == "number" and fields["count"].value == "3"
    assert fields["loud"].widget == "boolean" and fields["tags"].widget == "json"
    form = {"who": "ada", "count": "", "ratio": "0.5", "loud": "true", "tags": '["x"]'}
    assert parse_inputs(spec, form) == (
        {"who": "ada", "ratio": 0.5, "loud": True, "tags": ["x"]},
        {},
    )
    _, errors = parse_inputs(spec, {"count": "1.5", "tags": "{}", "extra": "{", "loud": "yes"})
    assert set(errors) == {"count", "tags", "extra", "loud"}
    refilled = {f.name: f for f in form_fields(spec, {"count": "1.5"}, errors)}
    assert refilled["count"].value == "1.5" and refilled["count"].error


async def test_a_run_page_shows_rendered_inputs_with_secrets_masked(
    registry: AgentRegistry, load: Load
) -> None:
    definition = load(
        """
name: shown
inputs: {names: {type: array, default: [ada, grace]}}
steps:
  greet:
    agent: noop
    for_each: ${{ inputs.names }}
    with: {value: "hello ${{ item }} with ${{ secrets.api_key }}"}
  count:
    agent: noop
    needs: [greet]
    with: {value: "${{ len(steps.greet.outputs) }}"}
  later:
    agent: noop
    needs: [count]
    if: ${{ false }}
"""
    )
    async with Coordinator(registry, secrets={"api_key": "hunter2"}) as coordinator:
        result = await coordinator.run(definition)
        run = await coordinator.store.get_run(result.run_id)
        assert run is not None
        records = await coordinator.store.steps(result.run_id)
    view = run_view(definition, run, records, ["api_key"])
    greet, count, later = view.steps
    assert greet.group and greet.counts == {"succeeded": 2} and greet.summary == "2/2 done"
    first = greet.instances[0]
    assert first.key == f"{run.run_id}/greet/0"
    assert first.inputs is not None and "hello ada with [secret]" in first.inputs
    assert "hunter2" not in (first.inputs + (count.instances[0].inputs or ""))
    assert count.instances[0].inputs is not None and '"value": 2' in count.instances[0].inputs
    assert later.status == "skipped" and later.instances[0].inputs is None
    rows, hidden = timeline_rows(view)
    assert [label for label, _ in rows][:2] == ["greet[0]", "greet[1]"] and hidden == 0


async def test_a_cancelled_attempt_ends_with_its_step_not_running_forever(
    registry: AgentRegistry, load: Load
) -> None:
    definition = load(
        "name: stopped\nsteps:\n  hold:\n    agent: wait\n    with: {signal: never, timeout: 1h}\n"
    )
    async with Coordinator(registry) as coordinator:
        running = asyncio.Event()

        def watch(event: Event) -> None:
            if event.step_id == "hold" and event.status == "running":
                running.set()

        unsubscribe = coordinator.subscribe(watch)
        run_id = await coordinator.submit(definition, {})
        await asyncio.wait_for(running.wait(), 30)
        assert coordinator.cancel(run_id)
        await asyncio.wait_for(coordinator.wait(run_id), 30)
        unsubscribe()
        run = await coordinator.store.get_run(run_id)
        assert run is not None
        records = await coordinator.store.steps(run_id)
    view = run_view(definition, run, records, [])
    (hold,) = view.steps
    assert hold.status == "cancelled"
    (attempt,) = hold.instances[0].attempts  # drawn and listed as cancelled, not running
    assert attempt.status == "cancelled" and attempt.finished == records[0].finished_at
    assert attempt.finished is not None and attempt.finished >= attempt.started
    rows, _ = timeline_rows(view)
    (bar,) = layout_timeline(rows, attempt.started, attempt.finished + 1).bars
    assert bar.status == "cancelled" and "running" not in bar.title


def test_a_fan_out_whose_items_all_ended_is_still_running_until_it_ends(load: Load) -> None:
    from mastermind.store.base import RunRecord, StepRecord

    definition = load("name: fan\nsteps:\n  each: {agent: noop, for_each: [1, 2]}\n")
    run = RunRecord("r", "fan", definition.digest, "", "test.yaml", {}, status="running")
    items = [StepRecord("r", "each", i, "succeeded", 1, 1.0, 2.0) for i in (0, 1)]
    whole = StepRecord("r", "each", None, "running", 0, 1.0)
    (each,) = run_view(definition, run, [whole, *items], []).steps
    assert each.status == "running" and each.summary == "2/2 done"  # was drawn "queued"


def test_the_socratic_reading_is_written_for_people() -> None:
    shown = reading(
        {
            "premises": ["if it rains then street is wet", "street is wet"],
            "conclusion": "it rains",
            "consistent": True,
            "valid": False,
            "counterexample": {"atoms": {"it rains": False}, "individuals": {"street": ["wet"]}},
            "explanation": ["It does not follow."],
            "rejected": [{"premise": "Blah", "reason": "not a sentence I know"}],
        }
    )
    assert shown["verdict"] == "Not valid: “it rains” does not follow from the premises."
    assert shown["tone"] == "bad"
    assert shown["counterexample"] == ["“it rains” is false", "street: wet"]
    assert shown["rejected"] == ["Blah: not a sentence I know"]
    assert reading({"valid": True, "conclusion": "x"})["tone"] == "ok"


def _step_event(seq: int, status: str, run: str = "r") -> Event:
    return Event(run, seq, 0.0, status, step_id="s", attempt=1, duration=0.01, agent="noop")


def test_health_figures_come_from_the_exported_metrics() -> None:
    metrics = Metrics()
    sampler = HealthSampler(metrics.registry)
    sampler.take(now=0.0)
    for seq in range(1, 21):
        metrics.observe(_step_event(seq, "succeeded"))
    metrics.loop_lag.observe(0.004)
    metrics.loop_lag.observe(0.002)
    figures = sampler.figures(now=10.0)
    assert figures.steps_per_second == pytest.approx(2.0)
    assert figures.steps_total == 20
    assert figures.loop_lag_mean == pytest.approx(0.003)
    assert figures.window == 10.0
    assert "mastermind_steps_total" in metrics.render().decode()


def test_the_change_feed_marks_runs_and_is_bounded() -> None:
    page = ChangeFeed(None)  # the runs table: run transitions only
    page(_step_event(1, "running"))
    assert not page.wake.is_set()
    page(Event("r", 2, 0.0, "running"))
    assert page.wake.is_set() and page.take() == ["r"] and not page.wake.is_set()
    for n in range(MAX_MARKED * 3):
        page(Event(f"r{n}", 1, 0.0, "running"))
    assert len(page.take()) == MAX_MARKED
    one = ChangeFeed("r")  # one run's page: its steps too, and the end
    one(Event("other", 1, 0.0, "succeeded"))
    assert not one.wake.is_set()
    one(_step_event(3, "running"))
    assert one.wake.is_set() and not one.ended
    one(Event("r", 4, 0.0, "failed"))
    assert one.ended


async def test_pages_filter_page_and_refuse_what_they_should(tmp_path: Path) -> None:
    """The dashboard over real HTTP (an in-process daemon's app on a loopback port): filters
    and paging of the runs table, the sign-in redirect (never off-site), HTML errors, a form
    sent back with its errors, and long-lived caching only for versioned assets."""
    import aiohttp

    from mastermind.service.api import make_app
    from mastermind.service.config import Config
    from mastermind.service.daemon import Daemon
    from mastermind.service.ui.routes import PAGE_SIZE
    from tests.servers import serve

    folder = tmp_path / "workflows"
    folder.mkdir()
    shutil.copy(ROOT / "workflows" / "hello.yaml", folder)
    shutil.copy(ROOT / "workflows" / "approval.yaml", folder)
    config = Config.model_validate(
        {"workflows": folder, "store": {"state_dir": tmp_path / "state"}, "api": {"tokens": ["t"]}}
    )
    d = Daemon(config)
    d.tokens = ["t"]
    async with d.coordinator:
        await d.load_workflows()
        hello = d.catalog["hello"]
        runs = [
            await d.coordinator.submit(hello, {"names": [str(n)]}) for n in range(PAGE_SIZE + 2)
        ]
        for run_id in runs:
            await d.coordinator.wait(run_id)
        waiting = await d.coordinator.submit(d.catalog["approval"], {"change": "x"})
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
        async with serve(make_app(d)) as url, aiohttp.ClientSession(cookie_jar=jar) as http:

            async def get(path: str, **kwargs: Any) -> tuple[int, str, aiohttp.ClientResponse]:
                async with http.get(url + path, allow_redirects=False, **kwargs) as response:
                    return response.status, await response.text(), response

            status, _, response = await get("/ui/runs?status=failed")
            assert status == 303
            target = urlsplit(response.headers["Location"])
            assert target.path == "/ui/login"
            assert parse_qs(target.query) == {"next": ["/ui/runs?status=failed"]}
            assert (await get("/ui/runs/table", headers={"X-Fragment": "1"}))[0] == 401
            # the live stream too: an EventSource would take the sign-in page for its stream,
            # give up for good, and leave the page looking live
            assert (await get("/ui/stream", headers={"Accept": "text/event-stream"}))[0] == 401
            login = {"token": "t", "next": "//evil.example/"}
            async with http.post(f"{url}/ui/login", data=login, allow_redirects=False) as sent:
                assert sent.status == 303 and sent.headers["Location"] == "/ui/runs"

            _, page1, _ = await get("/ui/runs?workflow=hello")
            assert page1.count('data-run="') == PAGE_SIZE and waiting not in page1
            assert runs[-1] in page1 and runs[0] not in page1  # newest first
            assert 'href="/ui/runs?workflow=hello&amp;page=2"' in page1
            _, page2, _ = await get("/ui/runs?workflow=hello&page=2")
            assert page2.count('data-run="') == 2 and runs[0] in page2
            _, running, _ = await get("/ui/runs?status=running")
            assert running.count('data-run="') == 1 and waiting in running
            assert (await get("/ui/runs?status=nonsense"))[0] == 400

            status, body, response = await get("/ui/runs/no-such-run")
            assert status == 404 and "no run with that id" in body
            assert response.content_type == "text/html"
            assert "default-src 'self'" in response.headers["Content-Security-Policy"]

            _, form, _ = await get("/ui/workflows/hello")
            csrf = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            bad = {"csrf": csrf, "names": "[unclosed"}
            async with http.post(f"{url}/ui/workflows/hello/run", data=bad) as sent:
                assert sent.status == 422 and "expected a JSON array" in await sent.text()

            _, _, asset = await get("/ui/static/app.js?v=1")
            assert "immutable" in asset.headers["Cache-Control"]
            _, _, page = await get("/ui/health")
            assert page.headers["Cache-Control"] == "no-store"
        d.coordinator.cancel(waiting)
        await d.coordinator.wait(waiting)


def test_the_trigger_column_names_what_started_a_run() -> None:
    from mastermind.service.ui.views import trigger
    from mastermind.store.base import RunRecord

    def run(**fields: Any) -> RunRecord:
        return RunRecord("r", "w", "d", "", "f", {}, **fields)

    assert trigger(run()) == ("manual", None)
    assert trigger(run(trigger="webhook")) == ("webhook", None)
    assert trigger(run(trigger="cron:w:0:1700000000")) == ("cron", None)
    assert trigger(run(parent="0123abcd/step/2")) == ("sub-run", "0123abcd")


async def test_run_pages_are_built_a_few_at_a_time_and_the_rest_are_told_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forty tabs on a huge run once queued forty builds in the default executor, and every
    store read of the daemon waited behind them (an API call took 24 s). Builds are bounded:
    while BUILDS are in progress, the others wait their turn (here briefly), then hear 503."""
    import threading

    import aiohttp

    from mastermind.service.api import make_app
    from mastermind.service.config import Config
    from mastermind.service.daemon import Daemon
    from mastermind.service.ui import routes, views
    from tests.servers import serve

    entered = 0
    full = asyncio.Event()  # BUILDS builds are in progress
    release = threading.Event()
    real_run_view = views.run_view
    loop = asyncio.get_running_loop()

    def slow_run_view(*args: Any, **kwargs: Any) -> Any:
        nonlocal entered
        entered += 1  # only BUILDS threads get here while release is unset
        if entered == routes.BUILDS:
            loop.call_soon_threadsafe(full.set)
        release.wait(60)
        return real_run_view(*args, **kwargs)

    monkeypatch.setattr(views, "run_view", slow_run_view)
    monkeypatch.setattr(routes, "BUILD_WAIT", 0.05)
    folder = tmp_path / "workflows"
    folder.mkdir()
    shutil.copy(ROOT / "workflows" / "hello.yaml", folder)
    config = Config.model_validate(
        {"workflows": folder, "store": {"state_dir": tmp_path / "state"}, "api": {"tokens": ["t"]}}
    )
    d = Daemon(config)
    d.tokens = ["t"]
    async with d.coordinator:
        await d.load_workflows()
        run_id = await d.coordinator.submit(d.catalog["hello"], {})
        await d.coordinator.wait(run_id)
        jar = aiohttp.CookieJar(unsafe=True)
        async with serve(make_app(d)) as url, aiohttp.ClientSession(cookie_jar=jar) as http:
            async with http.post(f"{url}/ui/login", data={"token": "t"}) as signed:
                assert signed.status == 200

            async def fetch() -> int:
                async with http.get(f"{url}/ui/runs/{run_id}/live") as response:
                    await response.read()
                    return response.status

            try:
                pages = [asyncio.create_task(fetch()) for _ in range(routes.BUILDS + 4)]
                async with asyncio.timeout(30):
                    await full.wait()
                    busy = []
                    for page in asyncio.as_completed(pages):
                        busy.append(await page)
                        if len(busy) == 4:
                            break
                assert busy == [503] * 4 and entered == routes.BUILDS
            finally:
                release.set()
            assert sorted(await asyncio.gather(*pages)) == [200] * routes.BUILDS + [503] * 4


async def test_behind_a_tls_proxy_sign_in_and_buttons_work_and_other_sites_do_not(
    tmp_path: Path,
) -> None:
    """A reverse proxy terminating TLS sends the browser's `Origin: https://...` to a daemon
    that sees http: every sign-in was refused as cross-site. The proxy's X-Forwarded-Proto /
    -Host count as the page's own origin; any other origin is still refused."""
    import aiohttp

    from mastermind.service.api import make_app
    from mastermind.service.config import Config
    from mastermind.service.daemon import Daemon
    from tests.servers import serve

    folder = tmp_path / "workflows"
    folder.mkdir()
    shutil.copy(ROOT / "workflows" / "approval.yaml", folder)
    config = Config.model_validate(
        {"workflows": folder, "store": {"state_dir": tmp_path / "state"}, "api": {"tokens": ["t"]}}
    )
    d = Daemon(config)
    d.tokens = ["t"]
    async with d.coordinator:
        await d.load_workflows()
        run_id = await d.coordinator.submit(d.catalog["approval"], {"change": "x"})
        jar = aiohttp.CookieJar(unsafe=True)
        async with serve(make_app(d)) as url, aiohttp.ClientSession(cookie_jar=jar) as http:
            proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "mm.example.com"}
            evil = {**proxy, "Origin": "https://evil.example"}
            login = {"token": "t"}
            async with http.post(f"{url}/ui/login", data=login, headers=evil) as refused:
                assert refused.status == 403
            same_host = {"X-Forwarded-Proto": "https", "Origin": url.replace("http:", "https:")}
            async with http.post(
                f"{url}/ui/login", data=login, headers=same_host, allow_redirects=False
            ) as signed:
                assert signed.status == 303
            mine = {**proxy, "Origin": "https://mm.example.com"}
            async with http.post(
                f"{url}/ui/login", data=login, headers=mine, allow_redirects=False
            ) as signed:
                assert signed.status == 303
                cookie = signed.cookies[session.COOKIE]
                assert cookie["secure"]  # the browser used https: the cookie says so
            sent = {"Cookie": f"{session.COOKIE}={cookie.value}"}  # as the proxy passes it on
            async with http.get(f"{url}/ui/runs/{run_id}", headers=sent) as page:
                csrf = (await page.text()).split('name="csrf" value="', 1)[1].split('"', 1)[0]
            cancel = f"{url}/ui/runs/{run_id}/cancel"
            form = {"csrf": csrf}
            async with http.post(cancel, data=form, headers={**evil, **sent}) as refused:
                assert refused.status == 403
            async with http.post(
                cancel, data=form, headers={**mine, **sent}, allow_redirects=False
            ) as cancelled:
                assert cancelled.status == 303
        assert (await d.coordinator.wait(run_id)).status == "cancelled"
