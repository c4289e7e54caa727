"""CPU-heavy API work runs off the event loop: validating a posted workflow and folding a
run's events for GET /runs/{id}. Checked by where the real functions run (a spy records the
thread and calls through), not by timing, so it holds on a busy machine; the lag figures are
in `python -m bench api_offload`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mastermind.service import api, validation
from mastermind.service.api import make_app
from mastermind.service.config import Config
from mastermind.service.daemon import Daemon
from tests.servers import serve


def _chain(size: int) -> str:
    """A valid chain workflow of about `size` bytes."""
    lines = ["name: big", "steps:", "  s0: {agent: noop}"]
    total = sum(len(line) + 1 for line in lines)
    while total < size:
        i = len(lines) - 2
        lines.append(f"  s{i}: {{agent: noop, needs: [s{i - 1}], with: {{value: {i}}}}}")
        total += len(lines[-1]) + 1
    return "\n".join(lines) + "\n"


def spy(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, threads: list[int]) -> None:
    real: Callable[..., Any] = getattr(owner, name)

    def recorded(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, recorded)


def fan_daemon(tmp_path: Path) -> tuple[Daemon, Path]:
    """A daemon (not started) serving one fan-out workflow, `fan`, with the API token `t`."""
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "fan.yaml").write_text(
        "name: fan\ninputs: {items: {type: array}}\n"
        "steps:\n  each: {agent: noop, for_each: '${{ inputs.items }}', with: {value: 1}}\n"
    )
    config = Config.model_validate(
        {"workflows": folder, "store": {"state_dir": tmp_path / "state"}, "api": {"tokens": ["t"]}}
    )
    daemon = Daemon(config)
    daemon.tokens = ["t"]
    return daemon, folder


async def test_validate_and_run_folding_run_in_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon, folder = fan_daemon(tmp_path)
    loop_thread = threading.get_ident()
    loads: list[int] = []
    folds: list[int] = []
    renders: list[int] = []
    spy(monkeypatch, validation, "check", loads)
    spy(monkeypatch, api, "render_run", folds)
    spy(monkeypatch, api, "run_body", renders)
    headers = {"Authorization": "Bearer t"}
    async with daemon.coordinator:
        await daemon.load_workflows()
        run_id = await daemon.coordinator.submit(daemon.catalog["fan"], {"items": list(range(500))})
        assert (await daemon.coordinator.wait(run_id)).ok
        async with serve(make_app(daemon)) as url, aiohttp.ClientSession(headers=headers) as http:
            async with http.get(f"{url}/api/v1/runs/{run_id}") as response:
                assert response.status == 200
                body = await response.json()
            small = (folder / "fan.yaml").read_text()
            async with http.post(
                f"{url}/api/v1/workflows/validate",
                data=small,
                headers={"Content-Type": "text/yaml"},
            ) as response:
                assert response.status == 200
            assert len(loads) == 1 and loop_thread not in loads  # a thread did it
            large = _chain(validation.IN_PROCESS_LIMIT * 2)
            async with http.post(
                f"{url}/api/v1/workflows/validate",
                data=large,
                headers={"Content-Type": "text/yaml"},
            ) as response:
                verdict = await response.json()
            assert verdict == {"valid": True, "name": "big", "steps": large.count("\n  s")}
            assert len(loads) == 1  # another process did it
            broken = large.replace("needs: [s5]", "needs: [s0, nope]")
            async with http.post(
                f"{url}/api/v1/workflows/validate",
                data=broken,
                headers={"Content-Type": "text/yaml"},
            ) as response:
                assert response.status == 400
                (problem,) = (await response.json())["problems"]
            assert (problem["line"], problem["field"]) == (9, "steps.s6.needs[1]")
    assert len(body["steps"]) == 501 and body["run"]["status"] == "succeeded"
    assert folds and loop_thread not in folds
    assert renders and loop_thread not in renders


async def test_event_replay_is_encoded_off_the_loop_a_page_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replaying a large run's stored events encodes each page in a thread and writes it once:
    the stream is the same, event for event, and the loop only writes."""
    daemon, _ = fan_daemon(tmp_path)
    loop_thread = threading.get_ident()
    pages: list[int] = []
    spy(monkeypatch, api, "_frames", pages)
    monkeypatch.setattr(api, "REPLAY_PAGE", 100)
    async with daemon.coordinator:
        await daemon.load_workflows()
        run_id = await daemon.coordinator.submit(daemon.catalog["fan"], {"items": list(range(150))})
        assert (await daemon.coordinator.wait(run_id)).ok
        stored = await daemon.store.events(run_id)
        headers = {"Authorization": "Bearer t"}
        async with (
            serve(make_app(daemon)) as url,
            aiohttp.ClientSession(headers=headers) as http,
            http.get(f"{url}/api/v1/runs/{run_id}/events?follow=0") as response,
        ):
            text = await response.text()
    ids = [int(line[4:]) for line in text.splitlines() if line.startswith("id: ")]
    assert ids == [event.seq for event in stored]  # every event, once, in order
    assert len(pages) == -(-len(stored) // 100) and loop_thread not in pages
