"""Formulas of the Socratic engine: propositional connectives over atoms, individual
predications (`Socrates is a human`) and the four categorical forms (All/No/Some/Some-not).

Predicate names are singular (`human`, `mortal`, `black cat`); a verb phrase is kept in its
base form behind `to ` (`to bark`, `to chase cats`), so `Fido barks` and `all dogs bark` share
the predicate `to bark`. The subject `thing` (everything, something, nothing) holds of every
individual. `str()` of a formula is its reading in controlled English, which parses back to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from mastermind.reasoning.words import (
    base_verb,
    head,
    is_plural,
    plural,
    third_person,
    with_article,
)


@dataclass(frozen=True, slots=True)
class Atom:
    """A propositional variable: `p`, `it rains`."""

    name: str

    def __str__(self) -> str:
        return self.name


THING = "thing"  # the predicate every individual has: `everything`, `something`, `nothing`


def display_term(term: str) -> str:
    """Names are shown capitalised (`Socrates`, `Mr. Smith`); `the ground` is not a name."""
    if term.startswith((*_DETERMINERS, "\0")):
        return term
    return " ".join(word[:1].upper() + word[1:] for word in term.split())


_DETERMINERS = ("the ", "my ", "your ", "our ", "his ", "its ", "their ")


def is_group(term: str) -> bool:
    """A plural definite (`the roads`): one individual, a named group, that takes `are`."""
    if not term.startswith(_DETERMINERS):
        return False
    words = term.split()
    return is_plural(words[head(words)])


def is_verbal(predicate: str) -> bool:
    return predicate.startswith("to ")


def _verb_3sg(predicate: str) -> str:
    verb, _, rest = predicate[3:].partition(" ")
    return " ".join(filter(None, [third_person(verb), rest]))


@dataclass(frozen=True, slots=True)
class Pred:
    """`term is a predicate`: a predicate applied to a named individual (or a witness)."""

    predicate: str
    term: str
    noun: bool = field(default=False, compare=False)  # only for display: `is a man`

    def __str__(self) -> str:
        term = display_term(self.term)
        if is_group(self.term):  # `the roads are icy`, `the dogs bark`
            if is_verbal(self.predicate):
                return f"{term} {self.predicate[3:]}"
            return f"{term} are {plural(self.predicate) if self.noun else self.predicate}"
        if is_verbal(self.predicate):
            return f"{term} {_verb_3sg(self.predicate)}"
        return f"{term} is {with_article(self.predicate) if self.noun else self.predicate}"


@dataclass(frozen=True, slots=True)
class Junction:
    """A compound predicate of one individual: `black or white`, `wise and old`."""

    op: str  # "and" | "or"
    names: tuple[str, ...]
    nouns: frozenset[str] = field(default=frozenset(), compare=False)

    def phrase(self, plural_subject: bool) -> str:
        return f" {self.op} ".join(_phrase(n, plural_subject, n in self.nouns) for n in self.names)

    def __str__(self) -> str:
        return self.phrase(True)


def _phrase(predicate: str, plural_subject: bool, noun: bool) -> str:
    if is_verbal(predicate):
        return predicate[3:] if plural_subject else _verb_3sg(predicate)
    if noun:
        return plural(predicate) if plural_subject else with_article(predicate)
    return predicate


@dataclass(frozen=True, slots=True)
class Not:
    operand: Formula

    def __str__(self) -> str:
        if isinstance(self.operand, Pred):
            pred = self.operand
            term = display_term(pred.term)
            group = is_group(pred.term)
            if is_verbal(pred.predicate):
                return f"{term} {'do' if group else 'does'} not {pred.predicate[3:]}"
            if group:
                return f"{term} are not {plural(pred.predicate) if pred.noun else pred.predicate}"
            shown = with_article(pred.predicate) if pred.noun else pred.predicate
            return f"{term} is not {shown}"
        if isinstance(self.operand, Binary) and self.operand.op in ("and", "or"):
            return f"it is not the case that {_disjunction(self.operand)}"
        if isinstance(self.operand, (Categorical, Binary)):
            return f"it is not the case that {_part(self.operand)}"
        if isinstance(self.operand, Atom) and self.operand.name.startswith("it "):
            verb, _, rest = self.operand.name[3:].partition(" ")
            if verb in ("is", "are"):
                return f"it {verb} not {rest}"
            return " ".join(filter(None, ["it does not", base_verb(verb) or verb, rest]))
        return f"not ({self.operand})" if _compound(self.operand) else f"not {self.operand}"


@dataclass(frozen=True, slots=True)
class Binary:
    """op is one of: and, or, implies, iff, xor, nand, nor."""

    op: str
    left: Formula
    right: Formula

    def __str__(self) -> str:
        if self.op == "implies":
            return f"if {_part(self.left)} then {_part(self.right)}"
        if self.op == "iff":
            return f"{_part(self.left)} if and only if {_part(self.right)}"
        if self.op in ("and", "or"):
            return _disjunction(self)
        left = f"({self.left})" if _compound(self.left) else str(self.left)
        right = f"({self.right})" if _compound(self.right) else str(self.right)
        return f"{left} {self.op} {right}"


# Readings of compound formulas follow the grammar's levels (part > disjunction > conjunction
# > literal), so that a reading parses back to the same formula: a group inside another is
# shown with `either ... or` / `both ... and`, and a negated group with `it is not the case
# that`; what English cannot group is shown in parentheses.


def _part(formula: Formula) -> str:
    if isinstance(formula, Binary) and formula.op not in ("and", "or"):
        return f"({formula})"
    return str(formula)


def _grouped(formula: Formula, op: str) -> bool:
    """Does the operand need grouping words inside an `op` chain?"""
    if isinstance(formula, Not):
        return isinstance(formula.operand, Binary)
    return isinstance(formula, Binary) and formula.op != op


def _disjunction(formula: Formula) -> str:
    if isinstance(formula, Binary) and formula.op == "or":
        if _grouped(formula.left, "or") or _grouped(formula.right, "or"):
            return f"either {_literal(formula.left)} or {_literal(formula.right)}"
        return f"{_disjunction(formula.left)} or {_conjunction(formula.right)}"
    return _conjunction(formula)


def _conjunction(formula: Formula) -> str:
    if isinstance(formula, Binary) and formula.op == "and":
        if _grouped(formula.left, "and") or _grouped(formula.right, "and"):
            return f"both {_literal(formula.left)} and {_literal(formula.right)}"
        return f"{_conjunction(formula.left)} and {_literal(formula.right)}"
    return _literal(formula)


def _literal(formula: Formula) -> str:
    if isinstance(formula, Binary):
        if formula.op == "or":
            return f"either {_literal(formula.left)} or {_literal(formula.right)}"
        if formula.op == "and":
            return f"both {_literal(formula.left)} and {_literal(formula.right)}"
        return f"({formula})"
    if isinstance(formula, Not) and isinstance(formula.operand, Binary):
        return f"not {_literal(formula.operand)}"
    return str(formula)


@dataclass(frozen=True, slots=True)
class Categorical:
    """kind is one of: all, no, some, some_not; subject and predicate are predicate names."""

    kind: str
    subject: str
    predicate: str | Junction
    noun: bool = field(default=False, compare=False)  # the predicate is a noun (display only)

    def __str__(self) -> str:
        kind, subject, predicate = self.kind, self.subject, self.predicate
        verbal = not isinstance(predicate, Junction) and is_verbal(predicate)
        if isinstance(predicate, Junction):
            verbal = all(is_verbal(n) for n in predicate.names)
        if subject == THING:
            head = {"all": "everything", "some": "something", "no": "nothing"}.get(kind)
            phrase = (
                predicate.phrase(False)
                if isinstance(predicate, Junction)
                else _phrase(predicate, False, self.noun)
            )
            if head is None:
                return f"something {'does not ' + phrase[3:] if verbal else 'is not ' + phrase}"
            return f"{head} {phrase}" if verbal else f"{head} is {phrase}"
        if subject == predicate and kind in ("some", "no"):
            return f"there are {'no ' if kind == 'no' else ''}{plural(subject)}"
        s = plural(subject)
        p = (
            predicate.phrase(True)
            if isinstance(predicate, Junction)
            else _phrase(predicate, True, self.noun)
        )
        quantifier = {"all": "all", "no": "no", "some": "some", "some_not": "some"}[kind]
        if verbal:
            return f"{quantifier} {s} {'do not ' if kind == 'some_not' else ''}{p}"
        return f"{quantifier} {s} are {'not ' if kind == 'some_not' else ''}{p}"


Formula = Atom | Pred | Not | Binary | Categorical


def _compound(formula: Formula) -> bool:
    return isinstance(formula, Binary)


def predicate_names(predicate: str | Junction) -> tuple[str, ...]:
    return predicate.names if isinstance(predicate, Junction) else (predicate,)


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
        return {formula.subject, *predicate_names(formula.predicate)}
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
        return Categorical(opposite[formula.kind], formula.subject, formula.predicate, formula.noun)
    return Not(formula)


def has(properties: frozenset[str], predicate: str | Junction) -> bool:
    """Does an individual with these properties satisfy the (compound) predicate?"""
    if isinstance(predicate, Junction):
        found = (has(properties, n) for n in predicate.names)
        return all(found) if predicate.op == "and" else any(found)
    return predicate == THING or predicate in properties


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
        return has(world.individuals.get(formula.term, frozenset()), formula.predicate)
    if isinstance(formula, Not):
        return not holds(formula.operand, world)
    if isinstance(formula, Categorical):
        members = [m for m in world.individuals.values() if has(m, formula.subject)]
        p = formula.predicate
        if formula.kind == "all":
            return all(has(m, p) for m in members)
        if formula.kind == "no":
            return not any(has(m, p) for m in members)
        if formula.kind == "some":
            return any(has(m, p) for m in members)
        return any(not has(m, p) for m in members)
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
