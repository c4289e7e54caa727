"""Deciding consistency and entailment exactly, with a SAT solver (PySAT, MiniSat 2.2).

Categorical sentences are monadic first-order logic. A monadic sentence set has a model iff it
has one whose individuals are the named ones plus one witness per existential claim (universal
claims survive taking a substructure). So after pushing negations inward, each existential
occurrence (`some X are Y`, `some X are not Y`) gets its own witness constant, universals
(`all`, `no`) become conjunctions over every individual, and what remains is propositional:
Tseitin-encoded to CNF and handed to the solver. Each formula is guarded by a selector literal,
so one solver answers several questions and unsatisfiable cores name the premises involved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pysat.solvers import Solver  # type: ignore[import-untyped]

from mastermind.reasoning.formulas import (
    Atom,
    Binary,
    Categorical,
    Formula,
    Interpretation,
    Not,
    Pred,
    predicates,
    terms,
)


@dataclass(slots=True)
class _Problem:
    """The propositional image of some formulas over one shared domain."""

    individuals: list[str]
    variables: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, name) → var
    clauses: list[list[int]] = field(default_factory=list)
    next_var: int = 1
    witness_count: int = 0

    def var(self, key: tuple[str, str]) -> int:
        found = self.variables.get(key)
        if found is None:
            found = self.variables[key] = self.next_var
            self.next_var += 1
        return found

    def fresh(self) -> int:
        self.next_var += 1
        return self.next_var - 1


def _nnf(formula: Formula, positive: bool = True) -> Formula:
    """Push negations down to atoms and categorical forms; expand ->, <->, xor, nand, nor."""
    if isinstance(formula, Not):
        return _nnf(formula.operand, not positive)
    if isinstance(formula, (Atom, Pred)):
        return formula if positive else Not(formula)
    if isinstance(formula, Categorical):
        if positive:
            return formula
        opposite = {"all": "some_not", "some_not": "all", "no": "some", "some": "no"}
        return Categorical(opposite[formula.kind], formula.subject, formula.predicate)
    a, b, op = formula.left, formula.right, formula.op
    if op == "implies":
        expanded: Formula = Binary("or", Not(a), b)
    elif op == "iff":
        expanded = Binary("or", Binary("and", a, b), Binary("and", Not(a), Not(b)))
    elif op == "xor":
        expanded = Binary("or", Binary("and", a, Not(b)), Binary("and", Not(a), b))
    elif op == "nand":
        expanded = Not(Binary("and", a, b))
    elif op == "nor":
        expanded = Not(Binary("or", a, b))
    else:
        if positive:
            return Binary(op, _nnf(a), _nnf(b))
        dual = "or" if op == "and" else "and"
        return Binary(dual, _nnf(a, False), _nnf(b, False))
    return _nnf(expanded, positive)


def _count_existentials(formula: Formula) -> int:
    if isinstance(formula, Categorical):
        return 1 if formula.kind in ("some", "some_not") else 0
    if isinstance(formula, Binary):
        return _count_existentials(formula.left) + _count_existentials(formula.right)
    return 0


def _encode(problem: _Problem, formula: Formula) -> int:
    """Tseitin: a literal equivalent to the (NNF, ground-able) formula."""
    if isinstance(formula, Atom):
        return problem.var(("atom", formula.name))
    if isinstance(formula, Pred):
        return problem.var(("pred", f"{formula.predicate}\0{formula.term}"))
    if isinstance(formula, Not):
        return -_encode(problem, formula.operand)
    if isinstance(formula, Categorical):
        return _encode(problem, _ground_categorical(problem, formula))
    assert isinstance(formula, Binary)
    left, right = _encode(problem, formula.left), _encode(problem, formula.right)
    gate = problem.fresh()
    if formula.op == "and":
        problem.clauses += [[-gate, left], [-gate, right], [gate, -left, -right]]
    else:  # "or" (NNF leaves no other connective)
        problem.clauses += [[-gate, left, right], [gate, -left], [gate, -right]]
    return gate


_TRUE = Binary("or", Atom("\0true"), Not(Atom("\0true")))


def _ground_categorical(problem: _Problem, claim: Categorical) -> Formula:
    s, p = claim.subject, claim.predicate
    if claim.kind in ("some", "some_not"):
        witness = f"\0w{problem.witness_count}"  # allocated up front, used in order
        problem.witness_count += 1
        has_p: Formula = Pred(p, witness) if claim.kind == "some" else Not(Pred(p, witness))
        return Binary("and", Pred(s, witness), has_p)
    parts: list[Formula] = []
    for individual in problem.individuals:  # every individual, witnesses included
        consequent: Formula = (
            Pred(p, individual) if claim.kind == "all" else Not(Pred(p, individual))
        )
        parts.append(Binary("or", Not(Pred(s, individual)), consequent))
    if not parts:
        return _TRUE
    formula = parts[0]
    for part in parts[1:]:
        formula = Binary("and", formula, part)
    return formula


class Reasoner:
    """One SAT problem over a fixed set of formulas; ask which subsets are satisfiable."""

    def __init__(self, formulas: Sequence[Formula]) -> None:
        normal = [_nnf(f) for f in formulas]
        named = sorted(set().union(*(terms(f) for f in formulas))) if formulas else []
        # Every witness exists before anything is grounded, so universals cover them all.
        witnesses = [f"\0w{i}" for i in range(sum(_count_existentials(f) for f in normal))]
        self.problem = _Problem([*named, *witnesses])
        self.selectors: list[int] = []
        literals = {index: _encode(self.problem, formula) for index, formula in enumerate(normal)}
        for index in range(len(normal)):
            selector = self.problem.fresh()
            self.selectors.append(selector)
            self.problem.clauses.append([-selector, literals[index]])
        self.predicates = (
            sorted(set().union(*(predicates(f) for f in formulas))) if formulas else []
        )
        self._solver = Solver(name="minisat22", bootstrap_with=self.problem.clauses)

    def close(self) -> None:
        self._solver.delete()

    def __enter__(self) -> Reasoner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def satisfiable(self, indices: Sequence[int]) -> bool:
        """Can the formulas at `indices` all be true at once?"""
        return bool(self._solver.solve(assumptions=[self.selectors[i] for i in indices]))

    def core(self, indices: Sequence[int]) -> list[int]:
        """After an unsatisfiable `satisfiable(indices)`: a subset that is already contradictory."""
        core = set(self._solver.get_core() or [])
        return [i for i in indices if self.selectors[i] in core]

    def model(self) -> Interpretation:
        """After a satisfiable call: the situation the solver found."""
        assignment = {lit for lit in (self._solver.get_model() or []) if lit > 0}
        true_atoms = set()
        individuals: dict[str, set[str]] = {i: set() for i in self.problem.individuals}
        for (kind, name), var in self.problem.variables.items():
            if var not in assignment:
                continue
            if kind == "atom" and not name.startswith("\0"):
                true_atoms.add(name)
            elif kind == "pred":
                predicate, _, term = name.partition("\0")
                individuals.setdefault(term, set()).add(predicate)
        return Interpretation(
            frozenset(true_atoms), {k: frozenset(v) for k, v in individuals.items()}
        )


def display_name(individual: str) -> str:
    """Witness constants print as `an X` placeholders: `something #1`."""
    return f"something #{int(individual[2:]) + 1}" if individual.startswith("\0w") else individual
