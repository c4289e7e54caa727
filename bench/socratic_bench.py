"""The Socratic engine on hard cases, each beside a baseline measured in the same run:

- 20-variable parity (`x0 xor ... xor x19` entails the same chain reversed), against the SAT
  solver alone on a hand-written CNF of the same question (the floor: no parsing, no encoding);
- derive on a 12-premise categorical chain (one solver, questions by assumptions), against the
  same candidate questions asked one solver each;
- derive on 200 premises (particular claims, a chain, a mix with names), bounded by its budget
  of candidates and solver calls, against one consistency check of the same premises;
- entailment over 5/10/20/30 variables (a chain plus noise clauses), against the SAT solver alone;
- the first socratic step of a run, in a fresh process: decided in a thread, against the same
  request sent to the (cold) process pool, which is what every first step paid before.

Every timed call starts with the parse caches cleared, so sentences are read each time.
"""

from __future__ import annotations

import itertools
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from pycryptosat import Solver  # type: ignore[import-not-found]

from bench.core import Figure
from mastermind.reasoning.engine import _candidates, evaluate, validate
from mastermind.reasoning.grammar import _shapes
from mastermind.reasoning.parse import parse_premise

CHAIN_WORDS = [
    *("ants", "bugs", "cats", "dogs", "eels", "fish", "goats", "hens", "ibises", "jays"),
    *("kites", "lions", "mice"),
]


def _median_ms(call: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        parse_premise.cache_clear()
        _shapes.cache_clear()
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _raw_parity(n: int) -> bool:
    """The solver alone: is `xor(x) and not xor(reversed x)` unsatisfiable? (Tseitin by hand.)"""
    clauses: list[list[int]] = []
    top = n

    def xor(a: int, b: int) -> int:
        nonlocal top
        top += 1
        g = top
        clauses.extend([[-g, a, b], [-g, -a, -b], [g, -a, b], [g, a, -b]])
        return g

    forward = 1
    for v in range(2, n + 1):
        forward = xor(forward, v)
    backward = n
    for v in range(n - 1, 0, -1):
        backward = xor(backward, v)
    clauses += [[forward], [-backward]]
    return not _solve(clauses)


def _solve(clauses: list[list[int]]) -> bool:
    """The solver the engine uses, alone: is the CNF satisfiable?"""
    solver = Solver(threads=1)
    solver.add_clauses(clauses)
    satisfiable, _ = solver.solve()
    return bool(satisfiable)


def _raw_chain(n: int) -> bool:
    """The solver alone: x0, x_i -> x_i+1, noise clauses, and not x_n-1: unsatisfiable?"""
    clauses = [[-(i + 1), i + 2] for i in range(n - 1)] + [[1], [-n]]
    for i in range(n):  # (x_i & x_7i) | ~x_3i, as two clauses
        a, b, c = i + 1, (i * 7) % n + 1, (i * 3) % n + 1
        clauses += [[a, -c], [b, -c]]
    return not _solve(clauses)


def parity(quick: bool) -> list[Figure]:
    n = 20
    names = [f"x{i}" for i in range(n)]
    request = {"premises": [" xor ".join(names)], "conclusion": " xor ".join(reversed(names))}
    assert evaluate(request)["valid"] is True and _raw_parity(n)
    runs = 5 if quick else 21
    ours = _median_ms(lambda: evaluate(request), runs)
    raw = _median_ms(lambda: _raw_parity(n), runs)
    return [
        Figure(
            "socratic: 20-variable parity (validate)",
            ours,
            "ms",
            raw,
            "the SAT solver alone on hand-written CNF",
            target="< 50 ms",
            higher_is_better=False,
        )
    ]


def derive_chain(quick: bool) -> list[Figure]:
    premises = [f"All {a} are {b}." for a, b in itertools.pairwise(CHAIN_WORDS)]
    request = {"premises": premises}
    result = evaluate(request)
    assert "all ants are mice" in result["derived"]
    ours = _median_ms(lambda: evaluate(request), 3 if quick else 7)

    formulas = [parse_premise(p) for p in premises]
    candidates = list(_candidates(formulas))

    def one_solver_each() -> None:
        for candidate in candidates:
            validate(formulas, candidate)

    separate = _median_ms(one_solver_each, 1 if quick else 3)
    return [
        Figure(
            "socratic: derive on a 12-premise categorical chain",
            ours,
            "ms",
            separate,
            f"the {len(candidates)} questions, one solver each",
            target="< 1 s",
            higher_is_better=False,
            note=f"{len(result['derived'])} conclusions",
        )
    ]


def _words(n: int) -> list[str]:
    syllables = ["ba", "ko", "ri", "tu", "me", "za", "lo", "pi", "su", "ne"]
    return [a + b + c for a in syllables for b in syllables for c in "xmnp"][:n]


def large_premise_sets() -> dict[str, list[str]]:
    """200 premises each: particular claims (a witness each, 400 terms), a chain of
    universals, and a mix of universals, particulars and named individuals."""
    words = _words(400)
    names = [w.capitalize() for w in _words(400)[200:230]]
    mixed = []
    for i in range(200):
        a, b = words[(i * 7) % 60], words[(i * 7) % 60 + 1 + i % 5]
        mixed.append(
            [f"All {a}s are {b}s.", f"Some {a}s are {b}s.", f"{names[i % 30]} is a {a}."][i % 3]
        )
    return {
        "particular": [f"Some {words[2 * i]}s are {words[2 * i + 1]}s." for i in range(200)],
        "chain": [f"All {a}s are {b}s." for a, b in itertools.pairwise(words[:201])],
        "mixed": mixed,
    }


def derive_large(quick: bool) -> list[Figure]:
    """derive on 200 premises (no conclusion): bounded by its budget of candidates and solver
    calls; beside it, one consistency check of the same premises (the least any answer costs)."""
    figures = []
    for name, premises in large_premise_sets().items():
        request = {"premises": premises}
        result = evaluate(request)
        assert result["consistent"] is True, name
        runs = 1 if quick else 3
        ours = _median_ms(lambda request=request: evaluate(request), runs)  # type: ignore[misc]

        def check(premises: list[str] = premises) -> None:
            validate([parse_premise(p) for p in premises], None)

        floor = _median_ms(check, runs)
        figures.append(
            Figure(
                f"socratic: derive on 200 premises ({name})",
                ours,
                "ms",
                floor,
                "one consistency check of the same premises",
                target="< 3 s",
                higher_is_better=False,
                note=f"{len(result['derived'])} conclusions; " + result["explanation"][-1][:60],
            )
        )
    return figures


def entailment(quick: bool) -> list[Figure]:
    figures = []
    for n in (5, 10, 20, 30):
        premises = [f"x{i} -> x{i + 1}" for i in range(n - 1)]
        premises += [f"(x{i} & x{(i * 7) % n}) | ~x{(i * 3) % n}" for i in range(n)] + ["x0"]
        request = {"premises": premises, "conclusion": f"x{n - 1}"}
        assert evaluate(request)["valid"] is True and _raw_chain(n)
        runs = 3 if quick else 11
        ours = _median_ms(lambda request=request: evaluate(request), runs)  # type: ignore[misc]
        raw = _median_ms(lambda n=n: _raw_chain(n), runs)  # type: ignore[misc]
        figures.append(
            Figure(
                f"socratic: entailment, {n} variables",
                ours,
                "ms",
                raw,
                "the SAT solver alone",
                target="< 5 ms at 20" if n == 20 else "",
                higher_is_better=False,
            )
        )
    return figures


FIRST_STEP = r"""
import asyncio, json, sys, time
started = time.perf_counter()
from mastermind.engine.agent import AgentRegistry
from mastermind.engine.coordinator import Coordinator, Settings
from mastermind.language.loader import load_text
from agents.socratic import ENGINE
LITERAL = '''
name: first
steps:
  check:
    agent: socratic
    with:
      premises: ["All men are mortal.", "Socrates is a man.", "If it rains, the ground is wet."]
      conclusion: "Socrates is mortal."
'''
TEMPLATED = '''
name: first
inputs: {premises: {type: array}}
steps:
  check:
    agent: socratic
    with: {premises: "${{ inputs.premises }}", conclusion: "Socrates is mortal."}
'''
templated = sys.argv[1] == "templated"
FLOW = TEMPLATED if templated else LITERAL
INPUTS = {"premises": [
    "All men are mortal.", "Socrates is a man.", "If it rains, the ground is wet."
]}
async def main():
    registry = AgentRegistry()
    loaded = time.perf_counter()
    definition = load_text(FLOW, "first.yaml", registry)
    loaded = time.perf_counter() - loaded
    async with Coordinator(registry, settings=Settings(process_pool_size=1)) as coordinator:
        began = time.perf_counter()
        result = await coordinator.run(definition, INPUTS if templated else None)
        step = time.perf_counter() - began
        assert result.ok, result.error
        assert coordinator.started_process_pool is None or coordinator.process_pool.calls == 0
        request = {"premises": ["All men are mortal.", "Socrates is a man."],
                   "conclusion": "Socrates is mortal."}
        began = time.perf_counter()
        answer = await coordinator.process_pool.run(ENGINE, [request])
        pool = time.perf_counter() - began
        assert answer["valid"] is True
    print(json.dumps({"load": loaded, "step": step, "pool": pool}))
asyncio.run(main())
"""


def _fresh(mode: str, runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", FIRST_STEP, mode], capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        samples.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(s[key] for s in samples) * 1000 for key in samples[0]}


def first_step(quick: bool) -> list[Figure]:
    runs = 3 if quick else 7
    literal = _fresh("literal", runs)
    templated = _fresh("templated", runs)
    step, pool, load = literal["step"], literal["pool"], literal["load"]
    return [
        Figure(
            "socratic: first step of a run (fresh process)",
            step,
            "ms",
            pool,
            "the same check through the cold process pool",
            target="< 150 ms",
            higher_is_better=False,
        ),
        Figure(
            "socratic: first step of a run, premises from inputs (fresh process)",
            templated["step"],
            "ms",
            templated["pool"],
            "the same check through the cold process pool",
            target="< 150 ms",
            higher_is_better=False,
        ),
        Figure(
            "socratic: loading that workflow (reads the premises: grammar, inflect)",
            load,
            "ms",
            higher_is_better=False,
        ),
    ]


def socratic(quick: bool) -> list[Figure]:
    return [
        *parity(quick),
        *derive_chain(quick),
        *derive_large(quick),
        *entailment(quick),
        *first_step(quick),
    ]
