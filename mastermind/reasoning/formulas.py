"""Formulas of the Socratic engine: propositional connectives over atoms, individual
predications (`Socrates is a human`) and the four categorical forms (All/No/Some/Some-not)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Atom:
    """A propositional variable: `p`, `it rains`."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Pred:
    """`term is a predicate`: a predicate applied to a named individual (or a witness)."""

    predicate: str
    term: str

    def __str__(self) -> str:
        return f"{self.term} is {self.predicate}"


@dataclass(frozen=True, slots=True)
class Not:
    operand: Formula

    def __str__(self) -> str:
        if isinstance(self.operand, Pred):
            return f"{self.operand.term} is not {self.operand.predicate}"
        return f"not ({self.operand})" if _compound(self.operand) else f"not {self.operand}"


@dataclass(frozen=True, slots=True)
class Binary:
    """op is one of: and, or, implies, iff, xor, nand, nor."""

    op: str
    left: Formula
    right: Formula

    def __str__(self) -> str:
        left = f"({self.left})" if _compound(self.left) else str(self.left)
        right = f"({self.right})" if _compound(self.right) else str(self.right)
        if self.op == "implies":
            return f"if {left} then {right}"
        if self.op == "iff":
            return f"{left} if and only if {right}"
        return f"{left} {self.op} {right}"


@dataclass(frozen=True, slots=True)
class Categorical:
    """kind is one of: all, no, some, some_not; subject and predicate are predicate names."""

    kind: str
    subject: str
    predicate: str

    def __str__(self) -> str:
        s, p = plural(self.subject), self.predicate
        if self.kind == "all":
            return f"all {s} are {p}"
        if self.kind == "no":
            return f"no {s} are {p}"
        if self.kind == "some":
            return f"some {s} are {p}"
        return f"some {s} are not {p}"


Formula = Atom | Pred | Not | Binary | Categorical


def _compound(formula: Formula) -> bool:
    return isinstance(formula, Binary)


def plural(noun: str) -> str:
    """A readable plural for messages (`human` → `humans`)."""
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and len(noun) > 1 and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def atoms(formula: Formula) -> Iterator[Formula]:
    """Every Atom and Pred inside (with repeats)."""
    if isinstance(formula, (Atom, Pred)):
        yield formula
    elif isinstance(formula, Not):
        yield from atoms(formula.operand)
    elif isinstance(formula, Binary):
        yield from atoms(formula.left)
        yield from atoms(formula.right)


def predicates(formula: Formula) -> set[str]:
    """Every predicate name used."""
    if isinstance(formula, Pred):
        return {formula.predicate}
    if isinstance(formula, Categorical):
        return {formula.subject, formula.predicate}
    if isinstance(formula, Not):
        return predicates(formula.operand)
    if isinstance(formula, Binary):
        return predicates(formula.left) | predicates(formula.right)
    return set()


def terms(formula: Formula) -> set[str]:
    """Every named individual."""
    if isinstance(formula, Pred):
        return {formula.term}
    if isinstance(formula, Not):
        return terms(formula.operand)
    if isinstance(formula, Binary):
        return terms(formula.left) | terms(formula.right)
    return set()


def has_categorical(formula: Formula) -> bool:
    if isinstance(formula, Categorical):
        return True
    if isinstance(formula, Not):
        return has_categorical(formula.operand)
    if isinstance(formula, Binary):
        return has_categorical(formula.left) or has_categorical(formula.right)
    return False


def negate(formula: Formula) -> Formula:
    """The negation, simplified one level (`not not p` → `p`, `not all` → `some ... not`)."""
    if isinstance(formula, Not):
        return formula.operand
    if isinstance(formula, Categorical):
        opposite = {"all": "some_not", "some_not": "all", "no": "some", "some": "no"}
        return Categorical(opposite[formula.kind], formula.subject, formula.predicate)
    return Not(formula)


@dataclass(frozen=True, slots=True)
class Interpretation:
    """A situation: which atoms are true, and which predicates each individual has."""

    true_atoms: frozenset[str]
    individuals: dict[str, frozenset[str]]  # individual → its predicates


def holds(formula: Formula, world: Interpretation) -> bool:
    """Evaluate a formula in a situation, directly from the semantics (no SAT)."""
    if isinstance(formula, Atom):
        return formula.name in world.true_atoms
    if isinstance(formula, Pred):
        return formula.predicate in world.individuals.get(formula.term, frozenset())
    if isinstance(formula, Not):
        return not holds(formula.operand, world)
    if isinstance(formula, Categorical):
        members = world.individuals.values()
        s, p = formula.subject, formula.predicate
        if formula.kind == "all":
            return all(p in m for m in members if s in m)
        if formula.kind == "no":
            return not any(p in m for m in members if s in m)
        if formula.kind == "some":
            return any(p in m for m in members if s in m)
        return any(p not in m for m in members if s in m)
    left, right = holds(formula.left, world), holds(formula.right, world)
    return {
        "and": left and right,
        "or": left or right,
        "implies": (not left) or right,
        "iff": left == right,
        "xor": left != right,
        "nand": not (left and right),
        "nor": not (left or right),
    }[formula.op]
