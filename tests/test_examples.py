"""Every shipped example runs as shipped (with a local server where it talks to one)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web

from mastermind.engine.agent import AgentRegistry
from mastermind.engine.coordinator import Coordinator, Settings
from mastermind.engine.run import RunResult
from mastermind.language.loader import load_file
from mastermind.store.events import Event, RunStatus
from tests.servers import chat_server, serve

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
EXAMPLES = sorted(p.stem for p in WORKFLOWS.glob("*.yaml"))


def test_every_example_is_covered_here() -> None:
    covered = {
        "hello",
        "pipeline",
        "resilient",
        "approval",
        "nested",
        "socratic",
        "cpu",
        "shell",
        "http",
        "llm",
    }
    assert set(EXAMPLES) == covered


async def run_example(
    name: str, inputs: dict[str, object] | None = None
) -> tuple[RunResult, list[Event]]:
    registry = AgentRegistry(load_plugins=False)
    definition = load_file(WORKFLOWS / f"{name}.yaml", registry)
    async with Coordinator(registry, settings=Settings(process_pool_size=2)) as coordinator:
        events: list[Event] = []
        coordinator.subscribe(events.append)
        result = await coordinator.run(definition, inputs or {})
    return result, events


@pytest.mark.parametrize("name", ["hello", "pipeline", "nested", "socratic", "cpu", "shell"])
async def test_example_succeeds(name: str) -> None:
    result, _ = await run_example(name)
    assert result.ok, result.error


async def test_resilient_fails_on_purpose_but_recovers_what_it_can() -> None:
    result, events = await run_example("resilient")
    assert result.status == RunStatus.FAILED
    assert result.steps == {
        "flaky_call": "succeeded",
        "doomed": "failed",
        "after_doomed": "skipped",
        "report_failure": "succeeded",
        "always_cleanup": "succeeded",
    }
    assert [e.attempt for e in events if e.step_id == "flaky_call" and e.status == "retrying"] == [
        1,
        2,
    ]


async def test_http_example_against_a_local_server() -> None:
    app = web.Application()
    app.router.add_static("/", WORKFLOWS)
    async with serve(app) as base:
        result, _ = await run_example("http", {"base": base})
    assert result.ok
    outputs = result.outputs
    assert [s["status"] for s in outputs["statuses"]] == [200, 200]
    assert outputs["words"] > 10


async def test_llm_example_against_a_local_endpoint() -> None:
    app, _ = chat_server(["Socrates is mortal."])
    async with serve(app) as base:
        result, _ = await run_example("llm", {"base_url": f"{base}/v1", "model": "tiny"})
    assert result.ok
    assert result.outputs == {"accepted": True, "conclusion": "Socrates is mortal."}


async def test_approval_example_waits_for_the_signal() -> None:
    registry = AgentRegistry(load_plugins=False)
    definition = load_file(WORKFLOWS / "approval.yaml", registry)
    async with Coordinator(registry) as coordinator:
        waiting = asyncio.Event()
        coordinator.subscribe(
            lambda e: waiting.set() if (e.step_id, e.status) == ("approve", "running") else None
        )
        run_id = await coordinator.submit(definition, {"change": "rotate keys"})
        await waiting.wait()
        coordinator.signal(run_id, "approve", {"by": "ada"})
        result = await coordinator.wait(run_id)
    assert result.ok
    assert result.outputs == {"result": "applied rotate keys (approved by ada)"}
