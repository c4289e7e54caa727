"""The Socratic operations: validate, derive, challenge, truth table.

`evaluate(request)` takes and returns plain data, so it can run in a worker process.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from typing import Any

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
    atoms,
    has_categorical,
    holds,
    is_verbal,
    negate,
    predicate_names,
    predicates,
    terms,
)
from mastermind.reasoning.grammar import weather_only
from mastermind.reasoning.parse import PremiseError, is_propositional, parse_premise, tense_of
from mastermind.reasoning.solve import QUERY, Reasoner, categoricals, display_name

MAX_TRUTH_TABLE_VARIABLES = 12
MAX_CANDIDATES = 20_000  # candidate conclusions derive considers
MAX_SOLVER_CALLS = 2_000  # solver calls derive makes (each is one question by assumptions)
SITUATIONS_KEPT = 16  # situations derive tests candidates in before asking the solver
READINGS = ("boolean", "traditional")

# The 24 valid categorical syllogisms by (mood, figure). The 15 unconditional ones are valid in
# the Boolean reading; the 9 others only if a term is not empty (traditional reading, with
# existential import): the letter names that term (S minor, M middle, P major).
SYLLOGISMS: dict[tuple[str, int], tuple[str, str | None]] = {
    ("AAA", 1): ("Barbara", None),
    ("EAE", 1): ("Celarent", None),
    ("AII", 1): ("Darii", None),
    ("EIO", 1): ("Ferio", None),
    ("AAI", 1): ("Barbari", "S"),
    ("EAO", 1): ("Celaront", "S"),
    ("EAE", 2): ("Cesare", None),
    ("AEE", 2): ("Camestres", None),
    ("EIO", 2): ("Festino", None),
    ("AOO", 2): ("Baroco", None),
    ("EAO", 2): ("Cesaro", "S"),
    ("AEO", 2): ("Camestros", "S"),
    ("IAI", 3): ("Disamis", None),
    ("AII", 3): ("Datisi", None),
    ("OAO", 3): ("Bocardo", None),
    ("EIO", 3): ("Ferison", None),
    ("AAI", 3): ("Darapti", "M"),
    ("EAO", 3): ("Felapton", "M"),
    ("AEE", 4): ("Calemes", None),
    ("IAI", 4): ("Dimatis", None),
    ("EIO", 4): ("Fresison", None),
    ("AAI", 4): ("Bamalip", "P"),
    ("AEO", 4): ("Calemos", "S"),
    ("EAO", 4): ("Fesapo", "M"),
}
_LETTER = {"all": "A", "no": "E", "some": "I", "some_not": "O"}


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


def it_beside_things(
    parsed: list[tuple[str, Formula]], others: Sequence[Formula] = ()
) -> tuple[list[tuple[str, Formula]], list[dict[str, str]]]:
    """'The soup is on the stove.' and 'It is hot.': across sentences, as inside one, 'it'
    beside a named thing may be that thing, so a sentence with 'it' and a predicate a thing
    can have (hot, late, true; not rains, sunny) is refused when another names something."""
    kept: list[tuple[str, Formula]] = []
    rejected: list[dict[str, str]] = []
    formulas = [f for _, f in parsed] + list(others)
    for index, (text, formula) in enumerate(parsed):
        doubtful = sorted(
            a.name for a in atoms(formula) if isinstance(a, Atom) and not weather_only(a.name)
        )
        named = sorted({t for i, f in enumerate(formulas) if i != index for t in terms(f)})
        if doubtful and named:
            rejected.append(
                {
                    "premise": text,
                    "reason": f"cannot read {text!r}: '{doubtful[0]}' beside a sentence about "
                    f"{display_name(named[0])} may mean that thing: name it ('the soup is "
                    "hot'), or say it of the weather only with rains/snows/is sunny",
                }
            )
        else:
            kept.append((text, formula))
    return kept, rejected


def one_tense(
    parsed: list[tuple[str, Formula]], conclusion: str | None = None
) -> tuple[list[tuple[str, Formula]], list[dict[str, str]]]:
    """Every tense is read as the present, which is sound only among sentences of one tense
    ('Fido was a puppy.' beside 'All puppies are young.' would prove 'Fido is young.'): the
    premises not in the premises' most common tense (the present on a tie) are refused, and so
    is a conclusion in another tense (the last element: its reason, or None)."""
    # propositional syntax has no tense: it goes with any
    tenses = [None if is_propositional(text) else tense_of(text) for text, _ in parsed]
    counts = {t: tenses.count(t) for t in ("present", "past", "future")}
    usual = max(counts, key=lambda t: counts[t])  # dict order: the present wins a tie
    kept: list[tuple[str, Formula]] = []
    rejected: list[dict[str, str]] = []
    for (text, formula), tense in zip(parsed, tenses, strict=True):
        if tense is None or tense == usual:
            kept.append((text, formula))
        else:
            rejected.append({"premise": text, "reason": _tense_reason(text, tense, usual)})
    if conclusion is not None and any(tenses) and not is_propositional(conclusion):
        said = tense_of(conclusion)
        if said != usual:
            rejected.append(
                {"premise": conclusion, "reason": _tense_reason(conclusion, said, usual)}
            )
    return kept, rejected


def _tense_reason(text: str, tense: str, usual: str) -> str:
    return (
        f"cannot read {text!r}: it is in the {tense} tense beside premises in the {usual}; "
        "tense is not read (was and will be are read as is), so mixing tenses can make true "
        "sentences contradict or prove what they do not: write every sentence in one tense"
    )


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


def existence(formulas: Sequence[Formula]) -> list[Formula]:
    """The traditional reading's assumptions: every term of a categorical sentence is not
    empty (`something is a man`)."""
    found: dict[str, bool] = {}
    for formula in formulas:
        for claim in categoricals(formula):
            for name in (claim.subject, *predicate_names(claim.predicate)):
                if name != THING:
                    noun = name == claim.subject or claim.noun
                    found[name] = found.get(name, False) or noun
    return [Categorical("some", THING, name, noun) for name, noun in found.items()]


def syllogism(premises: Sequence[Formula], conclusion: Formula) -> tuple[str, str | None] | None:
    """The name of a standard-form categorical syllogism (any of the 24 valid forms), with
    the term that must not be empty for the 9 conditional ones; None for anything else."""
    claims = [*premises, conclusion]
    if len(premises) != 2 or not all(
        isinstance(c, Categorical)
        and isinstance(c.predicate, str)
        and THING not in (c.subject, c.predicate)
        and c.subject != c.predicate
        for c in claims
    ):
        return None
    a, b, c = claims
    assert isinstance(a, Categorical) and isinstance(b, Categorical) and isinstance(c, Categorical)
    s, p = c.subject, c.predicate
    for major, minor in ((a, b), (b, a)):
        major_terms, minor_terms = (
            (major.subject, major.predicate),
            (minor.subject, minor.predicate),
        )
        if p not in major_terms or s not in minor_terms or s in major_terms or p in minor_terms:
            continue
        m = major_terms[1] if major_terms[0] == p else major_terms[0]
        if m not in minor_terms:
            continue
        figure = {(True, False): 1, (False, False): 2, (True, True): 3, (False, True): 4}[
            (major.subject == m, minor.subject == m)
        ]
        mood = _LETTER[major.kind] + _LETTER[minor.kind] + _LETTER[c.kind]
        found = SYLLOGISMS.get((mood, figure))
        if found is None:
            return None
        name, needs = found
        term = {"S": s, "M": m, "P": p}.get(needs or "")
        assert term is None or isinstance(term, str)
        return f"{name} ({mood}-{figure})", term
    return None


def validate(
    premises: Sequence[Formula], conclusion: Formula | None, reading: str = "boolean"
) -> dict[str, Any]:
    """Consistency of the premises and, given a conclusion, whether it follows."""
    assumed = existence([*premises, *([conclusion] if conclusion else [])])
    if reading != "traditional":
        assumed = []
    return _validate([*premises, *assumed], len(premises), conclusion, reading)


def _validate(
    given: Sequence[Formula], shown: int, conclusion: Formula | None, reading: str
) -> dict[str, Any]:
    premises = list(given[:shown])
    formulas = list(given) + ([negate(conclusion)] if conclusion is not None else [])
    indices = list(range(len(given)))
    with Reasoner(formulas) as reasoner:
        consistent = reasoner.satisfiable(indices)
        result: dict[str, Any] = {
            "consistent": consistent,
            "valid": None,
            "counterexample": None,
            "reading": reading,
            "assumed": [str(f) for f in given[shown:]],
            "form": None,
        }
        explanation: list[str] = []
        if given[shown:]:
            explanation.append(
                "Traditional reading: assuming every term is not empty ("
                + "; ".join(str(f) for f in given[shown:])
                + ")."
            )
        if not consistent:
            core = reasoner.core(indices)
            explanation.append(
                "The premises contradict each other: "
                + "; ".join(f"({i + 1}) {given[i]}" for i in core)
                + " cannot all be true at once."
            )
        if conclusion is None:
            result["explanation"] = explanation
            return result
        form = syllogism(premises, conclusion)
        result["form"] = form[0] if form else None
        everything = [*indices, len(given)]
        if reasoner.satisfiable(everything):
            world = reasoner.model()
            result["valid"] = False
            result["counterexample"] = _world_for(formulas, world)
            explanation.append(
                f"It does not follow. Counter-example: {_situation(formulas, world)}: "
                f"every premise is true there, yet '{conclusion}' is false."
            )
            if form and form[1] is not None and reading != "traditional":
                term = form[1]
                result["valid_if_exist"] = [term]
                explanation.append(
                    f"This is {form[0]}: valid only if some {_plural_term(term)} exist "
                    "(the traditional reading, with existential import); the counter-example "
                    f"above is a situation with no {_plural_term(term)}."
                )
            elif reading != "traditional" and has_categorical(conclusion):
                needed = _needed_existence(premises, conclusion)
                if needed:
                    result["valid_if_exist"] = needed
                    explanation.append(
                        "It would follow if some "
                        + " and some ".join(_plural_term(t) for t in needed)
                        + " exist (the traditional reading)."
                    )
            fallacy = _fallacy(premises, conclusion)
            if fallacy:
                explanation.append(fallacy)
        else:
            result["valid"] = True
            core = [i for i in reasoner.core(everything) if i < shown]
            explanation.extend(_proof(premises, core, conclusion, consistent))
    result["explanation"] = explanation
    return result


def _plural_term(term: str) -> str:
    from mastermind.reasoning.words import plural

    return f"things that {term[3:]}" if is_verbal(term) else plural(term)


def _needed_existence(premises: Sequence[Formula], conclusion: Formula) -> list[str]:
    """The fewest terms whose non-emptiness makes the conclusion follow (one, or all)."""
    assumptions = existence([*premises, conclusion])
    if not assumptions or not _follows([*premises, *assumptions], conclusion):
        return []
    for assumption in assumptions:
        if _follows([*premises, assumption], conclusion):
            assert isinstance(assumption, Categorical) and isinstance(assumption.predicate, str)
            return [assumption.predicate]
    return [str(a.predicate) for a in assumptions if isinstance(a, Categorical)]


def _follows(premises: Sequence[Formula], conclusion: Formula) -> bool:
    with Reasoner([*premises, negate(conclusion)]) as reasoner:
        return not reasoner.satisfiable(list(range(len(premises) + 1)))


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
    form = syllogism(used, c)
    if form is not None:
        return f"the syllogism {form[0]}" + (
            f", given that some {_plural_term(form[1])} exist" if form[1] else ""
        )
    for a, b in (used, used[::-1]):
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


def _nouns(premises: Sequence[Formula]) -> set[str]:
    """Predicate names written as nouns somewhere (for readable derived sentences)."""
    found: set[str] = set()
    for formula in premises:
        for claim in categoricals(formula):
            found.add(claim.subject)
            if claim.noun and isinstance(claim.predicate, str):
                found.add(claim.predicate)
            if isinstance(claim.predicate, Junction):
                found |= claim.predicate.nouns
        found |= {a.predicate for a in atoms(formula) if isinstance(a, Pred) and a.noun}
    return found


def _distances(premises: Sequence[Formula]) -> dict[str, dict[str, int]]:
    """How far apart two words (predicates, names, propositions) are in the premises: 1 if
    one premise uses both, 2 through a word in between, ... (missing: unrelated)."""
    links: dict[str, set[str]] = {}
    for formula in premises:
        words = predicates(formula) | terms(formula)
        words |= {a.name for a in atoms(formula) if isinstance(a, Atom)}
        words.discard(THING)
        for word in words:
            links.setdefault(word, set()).update(words - {word})
    found: dict[str, dict[str, int]] = {}
    for start in links:
        seen = {start: 0}
        frontier = [start]
        while frontier:
            following = []
            for word in frontier:
                for other in links[word]:
                    if other not in seen:
                        seen[other] = seen[word] + 1
                        following.append(other)
            frontier = following
        found[start] = seen
    return found


UNRELATED = 1 << 30


def _candidates(premises: Sequence[Formula]) -> Iterator[Formula]:
    """Candidate conclusions, nearest first: about one proposition, then relating words the
    premises connect in fewer steps (a chain's conclusions before claims about words no
    premise relates, which follow only from a term being empty or universal)."""
    preds = sorted(
        {
            n
            for f in premises
            for c in categoricals(f)
            for n in (c.subject, *predicate_names(c.predicate))
        }
        | {a.predicate for f in premises for a in atoms(f) if isinstance(a, Pred)}
    )
    preds = [p for p in preds if p != THING]
    nouns = _nouns(premises)
    names = sorted({a.term for f in premises for a in atoms(f) if isinstance(a, Pred)})
    props = _propositions(premises)
    distance = _distances(premises)

    def apart(a: str, b: str) -> int:
        return distance.get(a, {}).get(b, UNRELATED)

    for prop in props:
        yield Atom(prop)
        yield Not(Atom(prop))
    pairs: list[tuple[int, int, str, str]] = []
    for s, p in itertools.permutations(preds, 2):
        if not is_verbal(s):  # "all things that bark ..." is not a sentence of the grammar
            pairs.append((apart(s, p), 0, s, p))
    pairs += [(apart(name, p), 1, name, p) for name in names for p in preds]
    pairs += [(apart(a, b), 2, a, b) for a, b in itertools.permutations(props, 2)]
    pairs.sort()
    for _, kind, a, b in pairs:
        if kind == 0:
            noun = b in nouns
            yield Categorical("all", a, b, noun)
            yield Categorical("some_not", a, b, noun)
            if a < b or is_verbal(b):
                yield Categorical("no", a, b, noun)
                yield Categorical("some", a, b, noun)
        elif kind == 1:
            yield Pred(b, a, b in nouns)
            yield Not(Pred(b, a, b in nouns))
        else:
            yield Binary("implies", Atom(a), Atom(b))


def _counter(reasoner: Reasoner, candidate: Formula) -> list[int]:
    """Assumptions that make the candidate false (at the query individual for universals)."""
    if isinstance(candidate, Categorical):
        s, p = candidate.subject, candidate.predicate
        if candidate.kind == "all":
            return [reasoner.pred(s, QUERY), -reasoner.pred(p, QUERY)]
        if candidate.kind == "no":
            return [reasoner.pred(s, QUERY), reasoner.pred(p, QUERY)]
        return [reasoner.universal("no" if candidate.kind == "some" else "all", s, p)]
    if isinstance(candidate, Binary):  # if a then b, over atoms
        return [reasoner.literal(candidate.left), -reasoner.literal(candidate.right)]
    return [-reasoner.literal(candidate)]


def _restatements(premises: Sequence[Formula]) -> set[Formula]:
    """The premises, and `no`/`some` premises with subject and predicate swapped."""
    found: set[Formula] = set(premises)
    for premise in premises:
        if (
            isinstance(premise, Categorical)
            and premise.kind in ("no", "some")
            and isinstance(premise.predicate, str)
        ):
            found.add(Categorical(premise.kind, premise.predicate, premise.subject))
    return found


def derive(
    premises: Sequence[Formula],
    limit: int = 200,
    reading: str = "boolean",
    found: list[Formula] | None = None,
    budget: int | None = None,
) -> dict[str, Any]:
    """The non-trivial conclusions that follow from consistent premises.

    One solver holds the premises (and an extra individual); each candidate is a question by
    assumptions, so the cost grows with the number of candidates, not their product. Every
    situation the solver finds is kept (the last few): a candidate false in one of them does
    not follow, without asking. At most `budget` solver calls (MAX_SOLVER_CALLS) and
    MAX_CANDIDATES candidates, nearest words first; the explanation says when either is hit.
    """
    budget = MAX_SOLVER_CALLS if budget is None else budget
    assumed = existence(premises) if reading == "traditional" else []
    given = [*premises, *assumed]
    indices = list(range(len(given)))
    derived: list[str] = []
    checked = 0
    stopped = ""
    with Reasoner(given, query_individual=True) as reasoner:
        if not reasoner.satisfiable(indices):
            core = reasoner.core(indices)
            return {
                "consistent": False,
                "derived": [],
                "explanation": [
                    "The premises contradict each other: "
                    + "; ".join(f"({i + 1}) {given[i]}" for i in core)
                    + ". Everything would follow, so nothing useful can be derived."
                ],
                "solver_calls": reasoner.calls(),
            }
        situations = [reasoner.snapshot()]
        for polarity in ("true", "rnd"):
            other = reasoner.other_snapshot(indices, polarity)
            if other is not None:
                situations.append(other)
        fixed = len(situations)  # kept throughout; later ones are the last few found
        entailed: set[Formula] = set()  # every candidate that follows, restated or not
        restated = _restatements(given)
        candidates = _candidates(premises)
        for candidate in candidates:
            if checked >= MAX_CANDIDATES:
                stopped = f"Stopped at {MAX_CANDIDATES} candidate conclusions (the most checked)"
                break
            if reasoner.calls() >= budget:
                stopped = f"Stopped after {budget} solver calls (the budget)"
                break
            checked += 1
            if candidate in restated:
                entailed.add(candidate)  # a premise, said again: it follows, and is not news
                continue
            if any(situation.holds(candidate) is False for situation in situations):
                continue  # false in a situation where every premise is true
            counter = _counter(reasoner, candidate)
            possible = reasoner.satisfiable(indices, counter)
            if possible:
                situations.append(reasoner.snapshot())
                if len(situations) > SITUATIONS_KEPT:
                    del situations[fixed]
            if isinstance(candidate, Categorical) and candidate.kind in ("some", "some_not"):
                reasoner.retire(counter[0])
            if possible:
                continue  # premises + not candidate is possible: it does not follow
            # (no candidate is a truism: each relates two different words)
            entailed.add(candidate)
            if isinstance(candidate, Binary) and (
                candidate.right in entailed or negate(candidate.left) in entailed
            ):
                continue  # "if p then q" says nothing new once q, or not p, is known
            derived.append(str(candidate))
            if found is not None:
                found.append(candidate)
            if len(derived) >= limit:
                stopped = f"Stopped at {limit} conclusions"
                break
        left = sum(1 for _ in itertools.islice(candidates, MAX_CANDIDATES)) if stopped else 0
        calls = reasoner.calls()
    explanation = [
        f"Checked {checked} candidate conclusions over the premises' terms ({calls} solver "
        f"calls); {len(derived)} follow and are not premises or truisms."
    ]
    if stopped:
        more = f"{left}+" if left >= MAX_CANDIDATES else str(left)
        explanation.append(
            f"{stopped}: {more} candidates were not checked (those relating words the premises "
            "connect only through longer chains, or not at all); ask about one with a conclusion."
        )
    if assumed:
        explanation.append(
            "Traditional reading: assuming " + "; ".join(str(a) for a in assumed) + "."
        )
    return {
        "consistent": True,
        "derived": derived,
        "explanation": explanation,
        "solver_calls": calls,
        "complete": not stopped,
    }


def challenge(
    premises: Sequence[Formula],
    remove: int,
    conclusions: Sequence[Formula],
    reading: str = "boolean",
) -> dict[str, Any]:
    """Drop premise `remove` (and premises equivalent to it); which conclusions stop following?"""
    target = premises[remove]
    kept_premises = [p for i, p in enumerate(premises) if i != remove and not _same(p, target)]
    lost, kept = [], []
    before, after = list(premises), list(kept_premises)
    if reading == "traditional":
        before += existence([*premises, *conclusions])
        after += existence([*kept_premises, *conclusions])
    # one solver for every question (by assumptions): the premises before and after, and
    # each conclusion's negation
    formulas = list(dict.fromkeys([*before, *after]))
    index = {f: i for i, f in enumerate(formulas)}
    denials = [negate(c) for c in conclusions]
    with Reasoner([*formulas, *denials]) as reasoner:
        for number, conclusion in enumerate(conclusions):
            denial = len(formulas) + number
            if reasoner.satisfiable([*(index[f] for f in before), denial]):
                continue  # it did not follow before either
            if reasoner.satisfiable([*(index[f] for f in after), denial]):
                lost.append(str(conclusion))
            else:
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
    conclusion_text = request.get("conclusion")
    try:
        seen = [parse_premise(conclusion_text)] if conclusion_text else []
    except PremiseError:
        seen = []
    parsed, doubtful = it_beside_things(parsed, seen)
    rejected += doubtful
    parsed, other_tense = one_tense(parsed)
    rejected += other_tense
    premises = [f for _, f in parsed]
    operation = request.get("operation", "validate")
    reading = request.get("reading") or "boolean"
    if reading not in READINGS:
        raise ValueError(f"reading must be one of {', '.join(READINGS)}, not {reading!r}")
    conclusion: Formula | None = None
    result: dict[str, Any] = {"rejected": rejected, "premises": [str(p) for p in premises]}
    if conclusion_text:
        try:
            conclusion = parse_premise(conclusion_text)
            _, refused = it_beside_things([(conclusion_text, conclusion)], premises)
            refused += one_tense(parsed, conclusion_text)[1]
            if refused:
                raise PremiseError(conclusion_text, refused[0]["reason"].partition(": ")[2])
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
        targets: list[Formula] = []
        if conclusion is not None:
            targets.append(conclusion)
        else:
            derive(premises, reading=reading, found=targets)
        result.update(challenge(premises, remove, targets, reading))
        return result
    checked = validate(premises, conclusion, reading)
    result.update(checked)
    if conclusion is None:
        derived = derive(premises, reading=reading)
        result["derived"] = derived["derived"]
        if result["consistent"]:
            result["explanation"] = [*result["explanation"], *derived["explanation"]]
    else:
        result["derived"] = []
    return result


# Small requests are decided in a thread of the calling process instead of the process pool:
# starting the pool costs a second or two, deciding them costs a few milliseconds.
SMALL_PREMISES = 12
SMALL_DERIVE_PREMISES = 6
SMALL_TEXT = 1500


def is_small(request: dict[str, Any]) -> bool:
    """Is the request cheap enough to decide without the process pool?"""
    premises = request.get("premises", [])
    text = sum(len(p) for p in premises) + len(request.get("conclusion") or "")
    operation = request.get("operation", "validate")
    limit = SMALL_PREMISES if operation == "validate" else SMALL_DERIVE_PREMISES
    if operation == "validate" and not request.get("conclusion"):
        limit = SMALL_DERIVE_PREMISES  # without a conclusion, validate also derives
    if operation == "truth_table":
        return False  # up to 4,096 rows: the pool's work
    return len(premises) <= limit and text <= SMALL_TEXT


_MARKERS = re.compile(
    r"^\s*(?:[-*•>]+|\d+[.)]|\(?[a-z]\))?\s*"  # list markers: "-", "*", "1.", "2)", "a)"
    r"(?:(?:therefore|thus|hence|so|consequently|conclusion|answer|in conclusion)\b[,:]?\s*)?",
    re.IGNORECASE,
)


def claim_of(answer: str) -> str:
    """The claim in a model's answer: its first non-empty line without list markers, bold or
    italics, quotes, or a leading `Therefore,`."""
    line = next((ln for ln in answer.splitlines() if ln.strip()), "")
    line = re.sub(r"\*\*|__|(?<!\w)[*_](?=\w)|(?<=\w)[*_](?!\w)|`", "", line).strip()
    for _ in range(2):
        line = _MARKERS.sub("", line, count=1).strip()
        line = line.strip("\"'“”‘’ ").strip()
    return line
