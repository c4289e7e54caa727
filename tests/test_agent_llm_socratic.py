"""The llm agent against a local chat-completions server, and the socratic agent in a run."""

from __future__ import annotations

from collections.abc import Callable

from mastermind.engine.agent import AgentRegistry
from mastermind.engine.clock import FakeClock
from mastermind.engine.coordinator import Coordinator, Settings
from mastermind.language.loader import Definition
from mastermind.store.events import Event, RunStatus
from tests.servers import chat_server, serve

Load = Callable[[str], Definition]


FLOW = """
name: ask
inputs: {base: {type: string}}
on_failure: continue
steps:
  plain:
    agent: llm
    with: {base_url: "${{ inputs.base }}/v1", model: tiny, prompt: "Say hi", api_key: sk-test}
  checked:
    agent: llm
    needs: [plain]  # the scripted server answers in request order: no race with plain
    retry: {attempts: 2, initial: 1s}
    with:
      base_url: "${{ inputs.base }}/v1"
      model: tiny
      system: Answer with one sentence, the conclusion only.
      prompt: "All humans are mortal. Socrates is a human. What follows?"
      validate_with: socratic
      premises: ["All humans are mortal.", "Socrates is a human."]
  wrong:
    agent: llm
    needs: [checked]
    with:
      base_url: "${{ inputs.base }}/v1"
      model: tiny
      prompt: "What follows?"
      validate_with: socratic
      premises: ["If it rains then the street is wet.", "The street is wet."]
"""


async def test_llm_with_socratic_validation(registry: AgentRegistry, load: Load) -> None:
    app, seen = chat_server(
        ["hi!", "Socrates is mortal.", "It rains."], status=[200, 429, 200, 200]
    )
    definition = load(FLOW)
    async with (
        serve(app) as base,
        Coordinator(
            registry, clock=FakeClock(), settings=Settings(process_pool_size=1)
        ) as coordinator,
    ):
        events: list[Event] = []
        coordinator.subscribe(events.append)
        result = await coordinator.run(definition, {"base": base})
    final = {e.step_id: e for e in events if e.step_id and e.status in ("succeeded", "failed")}
    assert result.status == RunStatus.SUCCEEDED
    assert final["plain"].outputs["content"] == "hi!"
    assert final["plain"].outputs["usage"]["total_tokens"] == 15
    assert seen[0]["auth"] == "Bearer sk-test"
    assert seen[0]["body"]["messages"] == [{"role": "user", "content": "Say hi"}]
    assert final["checked"].attempt == 2  # the 429 was retried
    checked = final["checked"].outputs
    assert checked["accepted"] is True and checked["validation"]["valid"] is True
    wrong = final["wrong"].outputs
    assert wrong["accepted"] is False
    assert wrong["validation"]["counterexample"]["atoms"] == {"it rains": False}


SOCRATIC = """
name: reason
steps:
  check:
    agent: socratic
    with:
      premises: ["All humans are mortal.", "Socrates is a human."]
      conclusion: "Socrates is mortal."
  derive:
    agent: socratic
    with: {premises: ["p -> q", "q -> r", "p"]}
  challenge:
    agent: socratic
    with: {premises: ["p -> q", "q -> r", "p"], operation: challenge, remove: 2}
  big:
    agent: socratic
    with:
      premises: [x0, x0 -> x1, x1 -> x2, x2 -> x3, x3 -> x4, x4 -> x5, x5 -> x6, x6 -> x7,
                 x7 -> x8, x8 -> x9, x9 -> x10, x10 -> x11, x11 -> x12]
      conclusion: x12
outputs:
  valid: ${{ steps.check.outputs.valid }}
  derived: ${{ steps.derive.outputs.derived }}
  lost: ${{ steps.challenge.outputs.no_longer_follow }}
  big: ${{ steps.big.outputs.valid }}
"""


async def test_socratic_agent_runs_in_the_pool(registry: AgentRegistry, load: Load) -> None:
    async with Coordinator(registry, settings=Settings(process_pool_size=1)) as coordinator:
        result = await coordinator.run(load(SOCRATIC))
        calls = coordinator.process_pool.calls
    assert result.ok
    assert result.outputs == {"valid": True, "derived": ["q", "r"], "lost": ["r"], "big": True}
    assert calls == 1  # the small checks ran in a thread; 13 premises went to the pool


def test_unreadable_premise_is_caught_when_the_workflow_loads(load: Load) -> None:
    import pytest

    from mastermind.errors import WorkflowError

    with pytest.raises(WorkflowError, match="premise 1: cannot read 'All humans mortal'"):
        load("name: bad\nsteps:\n  s: {agent: socratic, with: {premises: [All humans mortal]}}\n")


FAIL_CLOSED = """
name: strict
inputs: {base: {type: string}}
on_failure: continue
steps:
  dressed:
    agent: llm
    with:
      base_url: "${{ inputs.base }}/v1"
      model: tiny
      prompt: "What follows?"
      validate_with: socratic
      premises: ["All humans are mortal.", "Socrates is a human."]
  unreadable:
    agent: llm
    needs: [dressed]
    with:
      base_url: "${{ inputs.base }}/v1"
      model: tiny
      prompt: "What follows?"
      validate_with: socratic
      premises: ["If it rains then the street is wet.", "It rains.", "Most streets are dry."]
  inconsistent:
    agent: llm
    needs: [unreadable]
    with:
      base_url: "${{ inputs.base }}/v1"
      model: tiny
      prompt: "What follows?"
      validate_with: socratic
      premises: ["It rains.", "It does not rain."]
  conditional:
    agent: llm
    needs: [inconsistent]
    with:
      base_url: "${{ inputs.base }}/v1"
      model: tiny
      prompt: "What follows?"
      validate_with: socratic
      reading: traditional
      premises: ["All squares are rectangles.", "All squares are rhombuses."]
"""


async def test_llm_validation_fails_closed(registry: AgentRegistry, load: Load) -> None:
    app, _ = chat_server(
        [
            "1. **Therefore, Socrates is mortal.**\nBecause all humans are.",
            "The street is wet.",
            "It snows.",
            "- Some rhombuses are rectangles.",
        ]
    )
    async with (
        serve(app) as base,
        Coordinator(registry, settings=Settings(process_pool_size=1)) as coordinator,
    ):
        events: list[Event] = []
        coordinator.subscribe(events.append)
        result = await coordinator.run(load(FAIL_CLOSED), {"base": base})
        pool_calls = coordinator.process_pool.calls
    assert result.status == RunStatus.SUCCEEDED
    out = {e.step_id: e.outputs for e in events if e.step_id and e.status == "succeeded"}
    dressed = out["dressed"]
    assert dressed["conclusion"] == "Socrates is mortal."  # list marker, bold, "Therefore," gone
    assert dressed["accepted"] is True and dressed["rejected_because"] == []
    unreadable = out["unreadable"]
    assert unreadable["accepted"] is False  # it does follow from the two premises that were read
    assert unreadable["validation"]["valid"] is True
    assert "'Most streets are dry.' cannot be read" in unreadable["rejected_because"][0]
    inconsistent = out["inconsistent"]
    assert inconsistent["accepted"] is False
    assert inconsistent["validation"]["consistent"] is False
    assert "inconsistent" in inconsistent["rejected_because"][0]
    conditional = out["conditional"]
    assert conditional["accepted"] is True
    assert conditional["validation"]["form"] == "Darapti (AAI-3)"
    assert pool_calls == 0  # small checks are decided in a thread, without starting the pool


TEMPLATED = """
name: templated
inputs: {premises: {type: array}}
steps:
  check:
    agent: socratic
    with:
      premises: ${{ inputs.premises }}
      conclusion: "Socrates is mortal."
"""


async def test_templated_premises_are_read_by_the_engine(
    registry: AgentRegistry, load: Load
) -> None:
    definition = load(TEMPLATED)
    async with Coordinator(registry, settings=Settings(process_pool_size=1)) as coordinator:
        events: list[Event] = []
        coordinator.subscribe(events.append)
        good = await coordinator.run(
            definition, {"premises": ["All men are mortal.", "Socrates is a man."]}
        )
        bad = await coordinator.run(
            definition, {"premises": ["Most men are mortal.", "Socrates is a man."]}
        )
    assert good.ok
    assert not bad.ok
    failed = [e.error for e in events if e.status == "failed" and e.step_id == "check"]
    assert "cannot read 'Most men are mortal.' at column 1: 'most'" in str(failed[0])
