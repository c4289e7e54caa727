"""Deciding consistency and entailment exactly, with a SAT solver (CryptoMiniSat, through
its own bindings, pycryptosat).

Categorical sentences are monadic first-order logic. A monadic sentence set has a model iff it
has one whose individuals are the named ones plus one witness per categorical subformula
(universal claims survive taking a substructure). Each distinct subformula gets one literal
(Tseitin, shared: `p xor q` used twice is encoded once, and xor/iff are gates of their own
rather than expansions that copy both operands). A categorical subformula is a gate `g` that
is equivalent to its claim: `g → ∀x ...` over every individual and `¬g → ...` at its own
witness (or the other way round for `some`), so it is exact in both polarities. Each formula
is guarded by a selector literal, so one solver answers many questions (incrementally, by
assumptions) and unsatisfiable cores name the premises involved.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pycryptosat import Solver  # type: ignore[import-not-found]

from mastermind.reasoning.formulas import (
    THING,
    Atom,
    Binary,
    Categorical,
    Formula,
    Interpretation,
    Junction,
    Not,
    Pred,
    terms,
)

QUERY = "\0q"  # an extra individual for derive's questions about universals


def categoricals(formula: Formula) -> Iterator[Categorical]:
    if isinstance(formula, Categorical):
        yield formula
    elif isinstance(formula, Not):
        yield from categoricals(formula.operand)
    elif isinstance(formula, Binary):
        yield from categoricals(formula.left)
        yield from categoricals(formula.right)


class Reasoner:
    """One SAT problem over a fixed set of formulas; ask which subsets are satisfiable."""

    def __init__(self, formulas: Sequence[Formula], *, query_individual: bool = False) -> None:
        named = sorted(set().union(*(terms(f) for f in formulas))) if formulas else []
        claims = list(dict.fromkeys(c for f in formulas for c in categoricals(f)))
        # Every individual exists before anything is encoded, so universals cover them all.
        self.witnesses = {claim: f"\0w{i}" for i, claim in enumerate(claims)}
        self.individuals = [*named, *self.witnesses.values()]
        if query_individual:
            self.individuals.append(QUERY)
        self.variables: dict[tuple[str, str], int] = {}
        self.clauses: list[list[int]] = []
        self._next = 1
        self._true = self.fresh()
        self.clauses.append([self._true])
        self._gates: dict[Formula | tuple[Junction, str], int] = {}
        self._universals: dict[tuple[str, str, str | Junction], int] = {}
        literals = [self.literal(f) for f in formulas]
        self.selectors: list[int] = []
        for literal in literals:
            selector = self.fresh()
            self.selectors.append(selector)
            self.clauses.append([-selector, literal])
        self._solver = Solver(threads=1)
        self._solver.add_clauses(self.clauses)
        self._declared = 0  # variables 1.._declared are known to the solver
        self._solution: tuple[bool | None, ...] = ()  # of the last satisfiable call, by variable
        self._sent = len(self.clauses)

    # ------------------------------------------------------------------------ encoding

    def fresh(self) -> int:
        self._next += 1
        return self._next - 1

    def var(self, kind: str, name: str) -> int:
        key = (kind, name)
        found = self.variables.get(key)
        if found is None:
            found = self.variables[key] = self.fresh()
        return found

    def pred(self, predicate: str | Junction, individual: str) -> int:
        """The literal for `individual is predicate` (a compound predicate gets a gate)."""
        if isinstance(predicate, Junction):
            key = (predicate, individual)
            found = self._gates.get(key)
            if found is None:
                parts = [self.pred(n, individual) for n in predicate.names]
                found = self._gates[key] = self._gate(predicate.op, parts)
            return found
        if predicate == THING:
            return self._true
        return self.var("pred", f"{predicate}\0{individual}")

    def literal(self, formula: Formula) -> int:
        """A literal equivalent to the formula (shared between equal subformulas)."""
        if isinstance(formula, Not):
            return -self.literal(formula.operand)
        if isinstance(formula, Atom):
            return self.var("atom", formula.name)
        if isinstance(formula, Pred):
            return self.pred(formula.predicate, formula.term)
        found = self._gates.get(formula)
        if found is not None:
            return found
        if isinstance(formula, Categorical):
            found = self._categorical(formula)
        else:
            left, right = self.literal(formula.left), self.literal(formula.right)
            op = formula.op
            if op in ("and", "or"):
                found = self._gate(op, [left, right])
            elif op == "nand":
                found = -self._gate("and", [left, right])
            elif op == "nor":
                found = -self._gate("or", [left, right])
            elif op == "implies":
                found = self._gate("or", [-left, right])
            else:  # iff, xor
                gate = self.fresh()
                self.clauses += [
                    [-gate, -left, right],
                    [-gate, left, -right],
                    [gate, left, right],
                    [gate, -left, -right],
                ]
                found = gate if op == "iff" else -gate
        self._gates[formula] = found
        return found

    def _gate(self, op: str, parts: list[int]) -> int:
        gate = self.fresh()
        if op == "and":
            self.clauses += [[-gate, p] for p in parts]
            self.clauses.append([gate, *(-p for p in parts)])
        else:
            self.clauses.append([-gate, *parts])
            self.clauses += [[gate, -p] for p in parts]
        return gate

    def _categorical(self, claim: Categorical) -> int:
        gate = self.fresh()
        w = self.witnesses[claim]
        s, p = claim.subject, claim.predicate
        universal = claim.kind in ("all", "no")
        # some = not no, some_not = not all: `outer` is the literal of the universal claim
        # "all S are P" (sign 1) or "no S are P" (sign -1); outer → every S is (not) P,
        # and not outer → the witness is an S that is P (not P)
        sign = 1 if claim.kind in ("all", "some_not") else -1
        outer = gate if universal else -gate
        for x in self.individuals:
            self.clauses.append([-outer, -self.pred(s, x), sign * self.pred(p, x)])
        self.clauses += [[outer, self.pred(s, w)], [outer, -sign * self.pred(p, w)]]
        return gate

    def universal(self, kind: str, subject: str, predicate: str | Junction) -> int:
        """A selector that, assumed, makes `all/no subject are predicate` hold (for derive)."""
        key = (kind, subject, predicate)
        found = self._universals.get(key)
        if found is None:
            found = self._universals[key] = self.fresh()
            sign = 1 if kind == "all" else -1
            for x in self.individuals:
                self.clauses.append(
                    [-found, -self.pred(subject, x), sign * self.pred(predicate, x)]
                )
        return found

    def _flush(self) -> None:
        if self._sent < len(self.clauses):
            for clause in self.clauses[self._sent :]:
                self._solver.add_clause(clause)
            self._sent = len(self.clauses)
        if self._declared < self._next - 1:
            # CryptoMiniSat refuses an assumption on a variable no clause mentions (a fresh
            # literal may be assumed before any clause uses it): declare them with tautologies
            for var in range(self._declared + 1, self._next):
                self._solver.add_clause([var, -var])
            self._declared = self._next - 1

    # ------------------------------------------------------------------------ questions

    def close(self) -> None:
        """Nothing to release by hand: the binding frees the solver with the object."""

    def __enter__(self) -> Reasoner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def solve(self, assumptions: Sequence[int]) -> bool:
        self._flush()
        satisfiable, solution = self._solver.solve(list(assumptions))
        self._solution = solution or ()
        return bool(satisfiable)

    def satisfiable(self, indices: Sequence[int], extra: Sequence[int] = ()) -> bool:
        """Can the formulas at `indices` (and the literals `extra`) all be true at once?"""
        return self.solve([*(self.selectors[i] for i in indices), *extra])

    def core(self, indices: Sequence[int]) -> list[int]:
        """After an unsatisfiable `satisfiable(indices)`: a subset that is already contradictory."""
        # the conflict is a clause of negated assumptions that cannot all hold together
        conflict = {-literal for literal in self._solver.get_conflict()}
        core = [i for i in indices if self.selectors[i] in conflict]
        return core

    def model(self) -> Interpretation:
        """After a satisfiable call: the situation the solver found."""
        assignment = {var for var, value in enumerate(self._solution) if value}
        true_atoms = set()
        individuals: dict[str, set[str]] = {i: set() for i in self.individuals if i != QUERY}
        for (kind, name), var in self.variables.items():
            if var not in assignment:
                continue
            if kind == "atom":
                true_atoms.add(name)
            elif kind == "pred":
                predicate, _, term = name.partition("\0")
                if term != QUERY:
                    individuals.setdefault(term, set()).add(predicate)
        return Interpretation(
            frozenset(true_atoms), {k: frozenset(v) for k, v in individuals.items()}
        )


def display_name(individual: str) -> str:
    """Witness constants print as `an X` placeholders: `something #1`."""
    return f"something #{int(individual[2:]) + 1}" if individual.startswith("\0w") else individual
