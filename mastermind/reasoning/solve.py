"""Deciding consistency and entailment exactly, with a SAT solver (CryptoMiniSat, through
its own bindings, pycryptosat).

Categorical sentences are monadic first-order logic. A monadic sentence set has a model iff it
has one whose individuals are the named ones plus one witness per existential subformula
(universal claims survive taking a substructure). Each distinct subformula gets one literal
(Tseitin, shared: `p xor q` used twice is encoded once, and xor/iff are gates of their own
rather than expansions that copy both operands). A categorical subformula is a gate `g` with
`g → ∀x ...` over every individual and `¬g → ...` at its own witness (or the other way round
for `some`), each direction emitted only if an occurrence of the claim needs it (asserted,
denied: Plaisted-Greenbaum), so only claims that may have to be existential get a witness.
Each formula is guarded by a selector literal, so one solver answers many questions
(incrementally, by assumptions) and unsatisfiable cores name the premises involved.
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


def _universal(claim: Categorical, signs: set[int]) -> bool:
    """Does some occurrence make the claim say `for every individual` (all/no asserted,
    some/some-not denied)?"""
    return (1 if claim.kind in ("all", "no") else -1) in signs


def _existential(claim: Categorical, signs: set[int]) -> bool:
    return (-1 if claim.kind in ("all", "no") else 1) in signs


class Reasoner:
    """One SAT problem over a fixed set of formulas; ask which subsets are satisfiable."""

    def __init__(self, formulas: Sequence[Formula], *, query_individual: bool = False) -> None:
        named = sorted(set().union(*(terms(f) for f in formulas))) if formulas else []
        self._polarity: dict[Categorical, set[int]] = {}
        visited: set[tuple[int, int]] = set()
        for formula in formulas:
            self._polarities(formula, 1, visited)
        # A claim needs a witness only where it may have to be existential: `some` asserted,
        # `all` denied. Every individual exists before anything is encoded, so universals
        # cover them all.
        claims = [claim for claim, signs in self._polarity.items() if _existential(claim, signs)]
        self.witnesses = {claim: f"\0w{i}" for i, claim in enumerate(claims)}
        self.individuals = [*named, *self.witnesses.values()]
        if self._polarity and not self.individuals:
            # the domain is never empty (`everything is P` entails `something is P`)
            self.individuals.append("\0w0")
        if query_individual:
            self.individuals.append(QUERY)
        self.variables: dict[tuple[str, str], int] = {}
        self.members: dict[str, list[tuple[str, int]]] = {}  # predicate → (individual, var)
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
        self._premise_clauses = self.clauses  # for `other_snapshot`
        self.clauses = []
        self._calls = 0  # solve() calls so far: derive's budget counts them
        self._declared = 0  # variables 1.._declared are known to the solver
        self._solution: tuple[bool | None, ...] = ()  # of the last satisfiable call, by variable

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
        name = ("pred", f"{predicate}\0{individual}")
        found = self.variables.get(name)
        if found is None:
            found = self.variables[name] = self.fresh()
            self.members.setdefault(predicate, []).append((individual, found))
        return found

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

    def _polarities(self, formula: Formula, sign: int, visited: set[tuple[int, int]]) -> None:
        """Record whether each categorical occurs asserted (1), denied (-1), or both."""
        key = (id(formula), sign)  # each node once per sign: iff/xor visit both
        if key in visited:
            return
        visited.add(key)
        if isinstance(formula, Categorical):
            self._polarity.setdefault(formula, set()).add(sign)
        elif isinstance(formula, Not):
            self._polarities(formula.operand, -sign, visited)
        elif isinstance(formula, Binary):
            if formula.op in ("iff", "xor"):
                for part in (formula.left, formula.right):
                    self._polarities(part, sign, visited)
                    self._polarities(part, -sign, visited)
            else:
                flip = -1 if formula.op in ("nand", "nor") else 1
                left = -sign if formula.op == "implies" else sign * flip
                self._polarities(formula.left, left, visited)
                self._polarities(formula.right, sign * flip, visited)

    def _categorical(self, claim: Categorical) -> int:
        gate = self.fresh()
        signs = self._polarity[claim]
        w = self.witnesses.get(claim)
        s, p = claim.subject, claim.predicate
        universal = claim.kind in ("all", "no")
        # some = not no, some_not = not all: `outer` is the literal of the universal claim
        # "all S are P" (sign 1) or "no S are P" (sign -1); outer → every S is (not) P,
        # and not outer → the witness is an S that is P (not P)
        sign = 1 if claim.kind in ("all", "some_not") else -1
        outer = gate if universal else -gate
        # only the directions some occurrence needs (Plaisted-Greenbaum): a premise `all S
        # are P` needs no witness of the contrary, so a chain of them has no witnesses at all
        if _universal(claim, signs):
            for x in self.individuals:
                self.clauses.append([-outer, -self.pred(s, x), sign * self.pred(p, x)])
        if w is not None:
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
                # where the premises never mention `x is subject` (or `x is predicate`), it is
                # free and can satisfy this clause alone: no clause is needed there
                if not all(
                    ("pred", f"{name}\0{x}") in self.variables
                    for name in (subject, predicate)
                    if isinstance(name, str) and name != THING
                ):
                    continue
                self.clauses.append(
                    [-found, -self.pred(subject, x), sign * self.pred(predicate, x)]
                )
        return found

    def retire(self, selector: int) -> None:
        """A selector from `universal` will not be asked again: its clauses are switched off
        for good (the solver drops satisfied clauses), so derive's questions do not pile up."""
        for key, found in list(self._universals.items()):
            if found == selector:
                del self._universals[key]
        self.clauses.append([-selector])

    def _flush(self) -> None:
        if self.clauses:
            # the solver holds them now: keeping a copy would grow with every question
            self._solver.add_clauses(self.clauses)
            self.clauses.clear()
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
        self._calls += 1
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

    def calls(self) -> int:
        return self._calls

    def snapshot(self) -> Snapshot:
        """After a satisfiable call: that situation, kept to test candidate claims in (derive
        asks the solver only about candidates true in every situation seen so far)."""
        return Snapshot(self, self._solution)

    def other_snapshot(self, indices: Sequence[int], polarity: str) -> Snapshot | None:
        """A situation where the formulas at `indices` hold, found by a second solver that
        prefers `polarity` ("true": individuals have every property they may have, "rnd"):
        it refutes what the first solver's situations (properties false by preference) do
        not, e.g. `some S are not P`."""
        other = Solver(threads=1, options={"polar": polarity})
        other.add_clauses(self._premise_clauses)
        other.add_clauses([[var, -var] for var in range(1, self._next)])
        satisfiable, solution = other.solve([self.selectors[i] for i in indices])
        return Snapshot(self, solution, polarity == "true") if satisfiable else None

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


class Snapshot:
    """One situation the solver found (every individual, the query one included): which
    claims over simple predicates, names and atoms are true in it. Each predicate's members
    are a bit mask over the individuals, computed when first needed."""

    def __init__(
        self, reasoner: Reasoner, solution: tuple[bool | None, ...], default: bool = False
    ) -> None:
        self._reasoner = reasoner
        self._solution = solution
        self._default = default  # the value of what no clause of the premises mentions
        self._masks: dict[str, int] = {}
        self._index = {x: i for i, x in enumerate(reasoner.individuals)}

    def _true(self, var: int | None) -> bool:
        if var is None or var >= len(self._solution) or self._solution[var] is None:
            return self._default
        return bool(self._solution[var])

    def members(self, predicate: str) -> int:
        found = self._masks.get(predicate)
        if found is None:
            everyone = (1 << len(self._reasoner.individuals)) - 1
            found = everyone if predicate == THING or self._default else 0
            if predicate != THING:
                for x, var in self._reasoner.members.get(predicate, ()):
                    bit = 1 << self._index[x]
                    found = found | bit if self._true(var) else found & ~bit
            self._masks[predicate] = found
        return found

    def holds(self, formula: Formula) -> bool | None:
        """The claim's value here; None for what this does not evaluate (compound predicates)."""
        if isinstance(formula, Not):
            inner = self.holds(formula.operand)
            return None if inner is None else not inner
        if isinstance(formula, Atom):
            return self._true(self._reasoner.variables.get(("atom", formula.name)))
        if isinstance(formula, Pred) and isinstance(formula.predicate, str):
            index = self._index.get(formula.term)
            return index is not None and bool(self.members(formula.predicate) >> index & 1)
        if isinstance(formula, Categorical) and isinstance(formula.predicate, str):
            s, p = self.members(formula.subject), self.members(formula.predicate)
            return {
                "all": s & ~p == 0,
                "no": s & p == 0,
                "some": s & p != 0,
                "some_not": s & ~p != 0,
            }[formula.kind]
        if isinstance(formula, Binary) and formula.op == "implies":
            left, right = self.holds(formula.left), self.holds(formula.right)
            return None if left is None or right is None else (not left) or right
        return None
