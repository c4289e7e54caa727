"""The loader: every broken workflow in tests/broken fails at the exact place it says."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from mastermind.engine.agent import AgentRegistry
from mastermind.errors import WorkflowError
from mastermind.language.loader import load_file, load_text
from mastermind.language.yaml_source import Limits

BROKEN = sorted((Path(__file__).parent / "broken").glob("*.yaml"))


def expectation(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: '"
    return first.removeprefix("# expect: ")


def test_corpus_is_large() -> None:
    assert len(BROKEN) >= 30


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_workflow_reports_exact_position(path: Path, registry: AgentRegistry) -> None:
    with pytest.raises(WorkflowError) as caught:
        load_file(path, registry)
    problem = caught.value.first
    assert problem.file == str(path)
    got = f"{problem.line}:{problem.column}: {problem.field}: {problem.message}"
    assert got.startswith(expectation(path))
    # The compiler format editors understand: FILE:LINE:COL: error: FIELD: MESSAGE
    assert str(problem).startswith(f"{path}:{problem.line}:{problem.column}: error: ")


def test_oversized_file_is_refused_before_parsing(tmp_path: Path, registry: AgentRegistry) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("name: big\nsteps:\n  a: {agent: noop}\n" + "# padding\n" * 120_000)
    with pytest.raises(WorkflowError) as caught:
        load_file(big, registry)
    assert "the limit is 1048576 bytes" in str(caught.value)
    assert caught.value.first.line == 1


def test_limit_on_size_is_configurable(registry: AgentRegistry) -> None:
    with pytest.raises(WorkflowError, match="the limit is 10 bytes"):
        load_text("name: x\nsteps: {a: {agent: noop}}\n", "x.yaml", registry, Limits(max_bytes=10))


def alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(["name: bomb", "steps: {a: {agent: noop}}", *lines]) + "\n"


def test_alias_bomb_is_rejected_fast_and_small(registry: AgentRegistry) -> None:
    tracemalloc.start()
    started = time.thread_time()  # CPU time: other processes' load does not count
    with pytest.raises(WorkflowError, match="alias bomb"):
        load_text(alias_bomb(), "bomb.yaml", registry)
    elapsed = time.thread_time() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 0.1
    assert peak < 50 * 1024 * 1024


def test_deep_nesting_is_rejected_without_recursion(registry: AgentRegistry) -> None:
    text = (
        "name: deep\nsteps: {a: {agent: noop, with: {value: "
        + "[" * 50_000
        + "]" * 50_000
        + "}}}\n"
    )
    started = time.thread_time()  # CPU time: other processes' load does not count
    with pytest.raises(WorkflowError, match="nesting is deeper than 64 levels"):
        load_text(text, "deep.yaml", registry)
    assert time.thread_time() - started < 1.0


def test_every_problem_is_reported_not_just_the_first(registry: AgentRegistry) -> None:
    text = """\
name: many
steps:
  a: {agent: noop, timeout: 5}
  b: {agent: nope}
  c: {agent: noop, needs: [zz]}
"""
    with pytest.raises(WorkflowError) as caught:
        load_text(text, "many.yaml", registry)
    fields = [p.field for p in caught.value.problems]
    assert fields == ["steps.a.timeout"]  # shape errors come first; meaning is checked after
    fixed = text.replace("timeout: 5", "timeout: 5s")
    with pytest.raises(WorkflowError) as caught:
        load_text(fixed, "many.yaml", registry)
    assert [p.field for p in caught.value.problems] == ["steps.b.agent", "steps.c.needs[0]"]


def test_cycle_of_two_is_reported_in_order(registry: AgentRegistry) -> None:
    text = "name: c\nsteps:\n  x: {agent: noop, needs: [y]}\n  y: {agent: noop, needs: [x]}\n"
    with pytest.raises(WorkflowError, match=r"steps form a cycle: x -> y -> x"):
        load_text(text, "c.yaml", registry)


def test_reference_through_a_chain_of_needs_is_upstream(registry: AgentRegistry) -> None:
    text = """\
name: chain
steps:
  a: {agent: noop, with: {value: 1}}
  b: {agent: noop, needs: [a]}
  c: {agent: noop, needs: [b], with: {value: "${{ steps.a.outputs }}"}}
"""
    definition = load_text(text, "chain.yaml", registry)
    assert definition.order == ("a", "b", "c")
    assert definition.steps["a"].dependents == ("b",)


def _chain(steps: int) -> str:
    """A chain where every step needs the one before and reads the one before that."""
    lines = ["name: chain", "steps:", "  s0: {agent: noop}", "  s1: {agent: noop, needs: [s0]}"]
    for i in range(2, steps):
        read = f"${{{{ steps.s{i - 2}.outputs }}}}"
        lines.append(f'  s{i}: {{agent: noop, needs: [s{i - 1}], with: {{value: "{read}"}}}}')
    return "\n".join(lines) + "\n"


def _peak_bytes(text: str, registry: AgentRegistry) -> int:
    tracemalloc.start()
    try:
        load_text(text, "chain.yaml", registry)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_loading_memory_grows_linearly(registry: AgentRegistry) -> None:
    """A chain four times longer may take about four times the memory, not sixteen: the
    checker once kept every step's set of ancestors (2.98 GB for 11,000 steps). Memory, not
    time, so it holds on a busy machine."""
    _peak_bytes(_chain(10), registry)  # imports and caches out of the way
    small, large = (_peak_bytes(_chain(n), registry) for n in (300, 1200))
    assert large < 6 * small, f"300 steps: {small} B, 1200 steps: {large} B"


def test_reads_from_afar_are_checked_in_every_chunk(
    registry: AgentRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mastermind.language.loader.READ_CHUNK", 1)  # one target per pass
    text = """\
name: far
steps:
  a: {agent: noop}
  b: {agent: noop, needs: [a]}
  c: {agent: noop, needs: [b], with: {value: "${{ steps.a.outputs }}"}}
  d: {agent: noop, needs: [c], with: {value: "${{ steps.b.outputs }}"}}
  e: {agent: noop, with: {value: "${{ steps.a.outputs }}"}}
  f: {agent: noop, needs: [a], with: {value: "${{ steps.d.outputs }}"}}
"""
    with pytest.raises(WorkflowError) as caught:
        load_text(text, "far.yaml", registry)
    assert [str(p) for p in caught.value.problems] == [
        "far.yaml:7:34: error: steps.e.with.value: step 'e' reads 'a', which is not upstream; "
        "add 'a' to its needs (directly or through another step)",
        "far.yaml:8:46: error: steps.f.with.value: step 'f' reads 'd', which is not upstream; "
        "add 'd' to its needs (directly or through another step)",
    ]
    assert load_text(text.split("  e:")[0], "far.yaml", registry).order == ("a", "b", "c", "d")


def test_with_holding_expressions_is_checked_at_run_time(registry: AgentRegistry) -> None:
    text = """\
name: later
inputs: {d: {type: string, default: 1s}}
steps:
  nap: {agent: sleep, with: {duration: "${{ inputs.d }}"}}
"""
    definition = load_text(text, "later.yaml", registry)
    assert definition.steps["nap"].params.dynamic


def test_definition_is_pinned_to_its_text(registry: AgentRegistry) -> None:
    text = "name: pin\nsteps: {a: {agent: noop}}\n"
    one = load_text(text, "p.yaml", registry)
    two = load_text(text + "# edited\n", "p.yaml", registry)
    assert one.text == text
    assert one.digest != two.digest


def test_bare_if_is_an_expression(registry: AgentRegistry) -> None:
    text = (
        "name: bare\nsteps:\n  a: {agent: noop}\n"
        "  b: {agent: noop, needs: [a], if: steps.a.outputs == null}\n"
    )
    definition = load_text(text, "b.yaml", registry)
    assert definition.steps["b"].condition is not None


def test_merge_keys_and_anchors_work(registry: AgentRegistry) -> None:
    text = """\
name: merged
retry: &r {attempts: 2, initial: 1s}
steps:
  a:
    agent: noop
    retry: {<<: *r, attempts: 5}
"""
    definition = load_text(text, "m.yaml", registry)
    retry = definition.steps["a"].retry
    assert retry is not None and retry.attempts == 5 and retry.initial == 1.0


def test_non_utf8_is_a_clear_error(registry: AgentRegistry) -> None:
    with pytest.raises(WorkflowError, match="not valid UTF-8"):
        load_text(b"name: \xff\xfe\n", "bin.yaml", registry)


def test_unreadable_path_is_a_problem_not_a_crash(tmp_path: Path, registry: AgentRegistry) -> None:
    with pytest.raises(WorkflowError, match="cannot read"):
        load_file(tmp_path / "absent.yaml", registry)
