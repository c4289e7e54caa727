"""The Socratic operations: validate, derive, challenge, truth table.

`evaluate(request)` takes and returns plain data, so it can run in a worker process.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from mastermind.reasoning.formulas import (
    Atom,
    Binary,
    Categorical,
    Formula,
    Interpretation,
    Not,
    Pred,
    atoms,
    has_categorical,
    holds,
    negate,
    predicates,
)
from mastermind.reasoning.parse import PremiseError, parse_premise
from mastermind.reasoning.solve import Reasoner, display_name

MAX_TRUTH_TABLE_VARIABLES = 12


def parse_all(texts: Sequence[str]) -> tuple[list[tuple[str, Formula]], list[dict[str, str]]]:
    """Parsed premises, and the rejected ones with reasons (never silently kept)."""
    parsed: list[tuple[str, Formula]] = []
    rejected: list[dict[str, str]] = []
    for text in texts:
        try:
            parsed.append((text, parse_premise(text)))
        except PremiseError as exc:
            rejected.append({"premise": text, "reason": str(exc)})
    return parsed, rejected


def _propositions(formulas: Sequence[Formula]) -> list[str]:
    """The names of the plain propositions (atoms) the formulas mention, sorted."""
    return sorted({a.name for f in formulas for a in atoms(f) if isinstance(a, Atom)})


def _world_for(formulas: Sequence[Formula], world: Interpretation) -> dict[str, Any]:
    """A counter-example as data: each proposition's value and what each individual is."""
    return {
        "atoms": {name: name in world.true_atoms for name in _propositions(formulas)},
        "individuals": {
            display_name(name): sorted(preds) for name, preds in sorted(world.individuals.items())
        },
    }


def validate(premises: Sequence[Formula], conclusion: Formula | None) -> dict[str, Any]:
    """Consistency of the premises and, given a conclusion, whether it follows."""
    formulas = list(premises) + ([negate(conclusion)] if conclusion is not None else [])
    indices = list(range(len(premises)))
    with Reasoner(formulas) as reasoner:
        consistent = reasoner.satisfiable(indices)
        result: dict[str, Any] = {"consistent": consistent, "valid": None, "counterexample": None}
        explanation: list[str] = []
        if not consistent:
            core = reasoner.core(indices)
            explanation.append(
                "The premises contradict each other: "
                + "; ".join(f"({i + 1}) {premises[i]}" for i in core)
                + " cannot all be true at once."
            )
        if conclusion is None:
            result["explanation"] = explanation
            return result
        everything = [*indices, len(premises)]
        if reasoner.satisfiable(everything):
            world = reasoner.model()
            result["valid"] = False
            result["counterexample"] = _world_for(formulas, world)
            explanation.append(
                f"It does not follow. Counter-example: {_situation(formulas, world)}: "
                f"every premise is true there, yet '{conclusion}' is false."
            )
            fallacy = _fallacy(premises, conclusion)
            if fallacy:
                explanation.append(fallacy)
        else:
            result["valid"] = True
            core = [i for i in reasoner.core(everything) if i < len(premises)]
            explanation.extend(_proof(premises, core, conclusion, consistent))
    result["explanation"] = explanation
    return result


def _situation(formulas: Sequence[Formula], world: Interpretation) -> str:
    parts = [
        f"{n} is {'true' if n in world.true_atoms else 'false'}" for n in _propositions(formulas)
    ]
    for name, preds in sorted(world.individuals.items()):
        shown = display_name(name)
        parts.append(
            f"{shown} is {', '.join(sorted(preds))}"
            if preds
            else f"{shown} is nothing in particular"
        )
    return "; ".join(parts) or "the empty situation"


def _proof(
    premises: Sequence[Formula], core: list[int], conclusion: Formula, consistent: bool
) -> list[str]:
    used = [premises[i] for i in core]
    if not consistent:
        return ["Since the premises are inconsistent, every conclusion follows from them."]
    steps = [f"Premise ({i + 1}): {premises[i]}." for i in core]
    rule = _rule(used, conclusion)
    if rule:
        steps.append(f"By {rule}: {conclusion}.")
    else:
        steps.append(f"Suppose '{conclusion}' were false: {negate(conclusion)}.")
        steps.append(
            "Then the premises above could not all be true (checked exhaustively by a SAT "
            f"solver), so {conclusion}."
        )
    return steps


def _rule(used: list[Formula], c: Formula) -> str | None:
    """Name the classic rule a two-premise proof used, where it is one."""
    if len(used) == 1 and used[0] == c:
        return "restating a premise"
    if len(used) != 2:
        return None
    for a, b in (used, used[::-1]):
        if isinstance(a, Categorical) and isinstance(b, Categorical) and isinstance(c, Categorical):
            m = a.subject
            if (
                b.predicate == m
                and c.subject == b.subject
                and c.predicate == a.predicate
                and b.kind in ("all", "some")
            ):
                kinds = (a.kind, b.kind, c.kind)
                names = {
                    ("all", "all", "all"): "Barbara (all M are P; all S are M; so all S are P)",
                    ("no", "all", "no"): "Celarent (no M are P; all S are M; so no S are P)",
                    ("all", "some", "some"): "Darii (all M are P; some S are M; so some S are P)",
                    (
                        "no",
                        "some",
                        "some_not",
                    ): "Ferio (no M are P; some S are M; so some S are not P)",
                }
                if kinds in names:
                    return names[kinds]
        if (
            (
                isinstance(a, Categorical)
                and a.kind == "all"
                and isinstance(b, Pred)
                and isinstance(c, Pred)
            )
            and b.predicate == a.subject
            and c.predicate == a.predicate
            and c.term == b.term
        ):
            return "the singular syllogism (all M are P; s is M; so s is P)"
        if isinstance(a, Binary) and a.op == "implies":
            if b == a.left and c == a.right:
                return "modus ponens (if P then Q; P; so Q)"
            if b == negate(a.right) and c == negate(a.left):
                return "modus tollens (if P then Q; not Q; so not P)"
            if (
                isinstance(b, Binary)
                and b.op == "implies"
                and a.right == b.left
                and c == Binary("implies", a.left, b.right)
            ):
                return "hypothetical syllogism (if P then Q; if Q then R; so if P then R)"
        if (
            isinstance(a, Binary)
            and a.op == "or"
            and ((b == negate(a.left) and c == a.right) or (b == negate(a.right) and c == a.left))
        ):
            return "disjunctive syllogism (P or Q; not P; so Q)"
    return None


def _fallacy(premises: Sequence[Formula], c: Formula) -> str | None:
    for a in premises:
        if isinstance(a, Binary) and a.op == "implies":
            if c == a.left and a.right in premises:
                return "This is the fallacy of affirming the consequent (if P then Q; Q; so P)."
            if c == negate(a.right) and negate(a.left) in premises:
                return (
                    "This is the fallacy of denying the antecedent (if P then Q; not P; so not Q)."
                )
    cats = [p for p in premises if isinstance(p, Categorical) and p.kind == "all"]
    if isinstance(c, Categorical) and c.kind == "all":
        for a, b in itertools.permutations(cats, 2):
            if a.subject == c.subject and b.subject == c.predicate and a.predicate == b.predicate:
                return (
                    f"This is the fallacy of the undistributed middle: '{a.predicate}' is never "
                    "said of all its members."
                )
    return None


def _candidates(premises: Sequence[Formula]) -> list[Formula]:
    preds = sorted({p for f in premises for p in predicates(f)})
    names = sorted({a.term for f in premises for a in atoms(f) if isinstance(a, Pred)})
    props = _propositions(premises)
    found: list[Formula] = []
    for s, p in itertools.permutations(preds, 2):
        found += [Categorical("all", s, p), Categorical("some_not", s, p)]
        if s < p:
            found += [Categorical("no", s, p), Categorical("some", s, p)]
    for name in names:
        for p in preds:
            found += [Pred(p, name), Not(Pred(p, name))]
    for prop in props:
        found += [Atom(prop), Not(Atom(prop))]
    for a, b in itertools.permutations(props, 2):
        found.append(Binary("implies", Atom(a), Atom(b)))
    return found


def derive(premises: Sequence[Formula], limit: int = 200) -> dict[str, Any]:
    """The non-trivial conclusions that follow from consistent premises."""
    candidates = _candidates(premises)[: limit * 20]
    formulas = [
        *premises,
        *(negate(c) for c in candidates),
        *candidates,
        *(negate(p) for p in premises),
    ]
    n, k = len(premises), len(candidates)
    indices = list(range(n))
    derived: list[str] = []
    with Reasoner(formulas) as reasoner:
        if not reasoner.satisfiable(indices):
            core = reasoner.core(indices)
            return {
                "consistent": False,
                "derived": [],
                "explanation": [
                    "The premises contradict each other: "
                    + "; ".join(f"({i + 1}) {premises[i]}" for i in core)
                    + ". Everything would follow, so nothing useful can be derived."
                ],
            }
        entailed: set[Formula] = set()  # every candidate that follows, restated or not
        for j, candidate in enumerate(candidates):
            if reasoner.satisfiable([*indices, n + j]):
                continue  # premises + not candidate is possible: it does not follow
            if not reasoner.satisfiable([n + j]):
                continue  # a tautology: true whatever the premises say
            entailed.add(candidate)
            if any(
                not reasoner.satisfiable([i, n + j])
                and not reasoner.satisfiable([n + k + j, n + 2 * k + i])
                for i in indices
            ):
                continue  # a premise restated (equivalent to one)
            if isinstance(candidate, Binary) and (
                candidate.right in entailed or negate(candidate.left) in entailed
            ):
                continue  # "if p then q" says nothing new once q, or not p, is known
            derived.append(str(candidate))
            if len(derived) >= limit:
                break
    return {
        "consistent": True,
        "derived": derived,
        "explanation": [
            f"Checked {len(candidates)} candidate conclusions over the premises' terms; "
            f"{len(derived)} follow and are not premises or truisms."
        ],
    }


def challenge(
    premises: Sequence[Formula], remove: int, conclusions: Sequence[Formula]
) -> dict[str, Any]:
    """Drop premise `remove` (and premises equivalent to it); which conclusions stop following?"""
    target = premises[remove]
    kept_premises = [p for i, p in enumerate(premises) if i != remove and not _same(p, target)]
    lost, kept = [], []
    for conclusion in conclusions:
        before = validate(premises, conclusion)["valid"]
        after = validate(kept_premises, conclusion)["valid"]
        if before and not after:
            lost.append(str(conclusion))
        elif before:
            kept.append(str(conclusion))
    return {
        "removed": [str(p) for p in premises if p not in kept_premises],
        "no_longer_follow": lost,
        "still_follow": kept,
    }


def _same(a: Formula, b: Formula) -> bool:
    return bool(validate([a], b)["valid"]) and bool(validate([b], a)["valid"])


def truth_table(premises: Sequence[Formula], conclusion: Formula | None) -> dict[str, Any]:
    """Every assignment of the atoms, with each premise's (and the conclusion's) value."""
    formulas = list(premises) + ([conclusion] if conclusion is not None else [])
    if any(has_categorical(f) for f in formulas):
        raise ValueError("truth tables are for propositional premises (no All/No/Some)")
    names = sorted({str(a) for f in formulas for a in atoms(f)}, key=str)
    if len(names) > MAX_TRUTH_TABLE_VARIABLES:
        raise ValueError(
            f"{len(names)} variables; truth tables go up to {MAX_TRUTH_TABLE_VARIABLES}"
        )
    keyed = {str(a): a for f in formulas for a in atoms(f)}
    rows = []
    for values in itertools.product([False, True], repeat=len(names)):
        true_atoms = {
            n for n, v in zip(names, values, strict=True) if v and isinstance(keyed[n], Atom)
        }
        individuals: dict[str, set[str]] = {}
        for n, v in zip(names, values, strict=True):
            atom = keyed[n]
            if v and isinstance(atom, Pred):
                individuals.setdefault(atom.term, set()).add(atom.predicate)
        world = Interpretation(
            frozenset(true_atoms), {k: frozenset(v) for k, v in individuals.items()}
        )
        row: dict[str, Any] = {
            "values": dict(zip(names, values, strict=True)),
            "premises": [holds(p, world) for p in premises],
        }
        if conclusion is not None:
            row["conclusion"] = holds(conclusion, world)
        rows.append(row)
    return {"variables": names, "rows": rows}


def evaluate(request: dict[str, Any]) -> dict[str, Any]:
    """The socratic agent's work, as plain data in and out (runs in a worker process)."""
    parsed, rejected = parse_all(request.get("premises", []))
    premises = [f for _, f in parsed]
    operation = request.get("operation", "validate")
    conclusion_text = request.get("conclusion")
    conclusion: Formula | None = None
    result: dict[str, Any] = {"rejected": rejected, "premises": [str(p) for p in premises]}
    if conclusion_text:
        try:
            conclusion = parse_premise(conclusion_text)
        except PremiseError as exc:
            result.update(
                valid=False,
                consistent=None,
                conclusion=conclusion_text,
                derived=[],
                counterexample=None,
                explanation=[f"The conclusion cannot be read: {exc}"],
            )
            result["rejected"].append({"premise": conclusion_text, "reason": str(exc)})
            return result
    result["conclusion"] = str(conclusion) if conclusion is not None else None
    if operation == "truth_table":
        result.update(truth_table(premises, conclusion))
        return result
    if operation == "challenge":
        remove = int(request.get("remove", 0))
        if not 0 <= remove < len(premises):
            raise ValueError(f"no premise number {remove + 1}")
        targets = (
            [conclusion]
            if conclusion is not None
            else [parse_premise(t) for t in derive(premises)["derived"]]
        )
        result.update(challenge(premises, remove, targets))
        return result
    checked = validate(premises, conclusion)
    result.update(checked)
    result["derived"] = derive(premises)["derived"] if conclusion is None else []
    return result
