"""The solver against brute force on random monadic formulas (categoricals under every
connective, so each claim occurs asserted, denied or both), and derive's bounded work on
large premise sets (counted in solver calls and candidates, not in seconds)."""

from __future__ import annotations

import itertools
import random

from mastermind.reasoning.engine import (
    MAX_CANDIDATES,
    _candidates,
    _restatements,
    derive,
    evaluate,
)
from mastermind.reasoning.formulas import (
    Atom,
    Binary,
    Categorical,
    Formula,
    Interpretation,
    Not,
    Pred,
    holds,
)
from mastermind.reasoning.solve import Reasoner

PREDS = ("cat", "dog")
NAME = "tom"
ATOMS = ("p", "q")


def _worlds() -> list[Interpretation]:
    """Every situation up to sameness: which kinds of individual (sets of PREDS) exist, which
    kind Tom is (one that exists), which atoms are true. A monadic sentence without equality
    cannot tell two situations with the same kinds apart."""
    kinds = [frozenset(c) for n in range(3) for c in itertools.combinations(PREDS, n)]
    found = []
    for size in range(1, len(kinds) + 1):
        for present in itertools.combinations(kinds, size):
            for tom in present:
                for values in itertools.product([False, True], repeat=len(ATOMS)):
                    individuals = {f"\0w{i}": kind for i, kind in enumerate(present)}
                    individuals[NAME] = tom
                    true = frozenset(a for a, v in zip(ATOMS, values, strict=True) if v)
                    found.append(Interpretation(true, individuals))
    return found


WORLDS = _worlds()


def _formula(rng: random.Random, depth: int) -> Formula:
    if depth == 0 or rng.random() < 0.3:
        pick = rng.randrange(3)
        if pick == 0:
            return Atom(rng.choice(ATOMS))
        if pick == 1:
            return Pred(rng.choice(PREDS), NAME)
        kind = rng.choice(["all", "no", "some", "some_not"])
        return Categorical(kind, rng.choice([*PREDS, "thing"]), rng.choice(PREDS))
    if rng.random() < 0.2:
        return Not(_formula(rng, depth - 1))
    op = rng.choice(["and", "or", "implies", "iff", "xor", "nand", "nor"])
    return Binary(op, _formula(rng, depth - 1), _formula(rng, depth - 1))


def test_the_solver_agrees_with_brute_force_on_random_monadic_formulas() -> None:
    rng = random.Random(13)
    agreed = 0
    for _ in range(400):
        formulas = [_formula(rng, 3) for _ in range(rng.randint(1, 3))]
        expected = any(all(holds(f, w) for f in formulas) for w in WORLDS)
        with Reasoner(formulas) as reasoner:
            found = reasoner.satisfiable(range(len(formulas)))
            if found:  # the situation the solver gives is one where they all hold
                world = reasoner.model()
                assert all(holds(f, world) for f in formulas), formulas
        assert found == expected, formulas
        agreed += 1
    assert agreed == 400


def test_derive_finds_exactly_what_follows_by_brute_force() -> None:
    rng = random.Random(7)
    checked = matched = 0
    for _ in range(120):
        premises = [_formula(rng, rng.randint(1, 2)) for _ in range(rng.randint(1, 3))]
        models = [w for w in WORLDS if all(holds(f, w) for f in premises)]
        if not models:
            continue
        found: list[Formula] = []
        result = derive(premises, found=found)
        assert result["complete"] is True
        for conclusion in found:
            assert all(holds(conclusion, w) for w in models), (premises, conclusion)
            checked += 1
        # and none is missed: skipping a candidate false in a situation already found is
        # only right if those situations are real ones
        restated = _restatements(premises)
        for candidate in _candidates(premises):
            if isinstance(candidate, Binary) or candidate in restated:
                continue  # 'if p then q' is left out once q or not p is known
            if all(holds(candidate, w) for w in models):
                assert candidate in found, (premises, candidate)
                matched += 1
    assert checked > 30 and matched > 30


def _words(n: int) -> list[str]:
    syllables = ["ba", "ko", "ri", "tu", "me", "za", "lo", "pi", "su", "ne"]
    return [a + b + c for a in syllables for b in syllables for c in "xmnp"][:n]


def test_derive_on_200_premises_is_bounded_and_says_so() -> None:
    words = _words(400)
    # 200 particular premises: 200 witnesses, 400 terms, 159,600 ordered pairs of terms
    some = [f"Some {words[2 * i]}s are {words[2 * i + 1]}s." for i in range(200)]
    result = derive([*map(_parse, some)])
    assert result["solver_calls"] <= 1_000  # most candidates are refuted by situations seen
    assert result["complete"] is False
    assert f"Stopped at {MAX_CANDIDATES} candidate" in result["explanation"][-1]
    # a 200-premise chain: nearest words first, so the first 200 conclusions are the chain's
    chain = [f"All {a}s are {b}s." for a, b in itertools.pairwise(words[:201])]
    derived = derive([*map(_parse, chain)])
    assert derived["solver_calls"] <= 1_000
    assert len(derived["derived"]) == 200
    assert f"all {words[0]}s are {words[2]}s" in derived["derived"]
    assert "Stopped at 200 conclusions" in derived["explanation"][-1]
    # propositions where nearly every candidate needs the solver: the budget stops it
    noisy = [f"p{(i * 7) % 200} or p{(i * 13) % 200} or not p{i}" for i in range(200)]
    bounded = derive([*map(_parse, noisy)], budget=300)
    assert bounded["solver_calls"] <= 300
    assert "Stopped after 300 solver calls" in bounded["explanation"][-1]


def test_a_derive_request_reports_where_it_stopped() -> None:
    words = _words(120)
    premises = [f"Some {words[2 * i]}s are {words[2 * i + 1]}s." for i in range(60)]
    result = evaluate({"premises": premises})
    assert result["consistent"] is True
    assert any("candidates were not checked" in line for line in result["explanation"])


def _parse(text: str) -> Formula:
    from mastermind.reasoning.parse import parse_premise

    return parse_premise(text)
