"""Singular and plural forms by the inflect library, and English verb agreement.

inflect 7 decorates its engine with typeguard's `@typechecked`, which re-parses inflect's own
source at import (about 1.7 s). The checks it adds only guard inflect's argument types, which we
control, so inflect is imported once, lazily, with that decorator as the identity (about 0.1 s).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import inflect

_lock = threading.RLock()  # inflect's engine keeps state between calls
_engine: inflect.engine | None = None

# Words inflect would wrongly strip of a final "s" (famous → famou, bus → bu, physics → physic):
# adjectives and singular nouns that only look plural.
_LOOKS_PLURAL = ("ous", "ss", "us", "sis", "xis", "ics")
_NOT_PLURAL = frozenset(
    {
        *("is", "has", "was", "this", "his", "its", "gas", "bias", "alias", "atlas", "canvas"),
        *("pancreas", "christmas", "lens", "news", "series", "species", "always", "perhaps"),
    }
)
PREPOSITIONS = frozenset(
    {"of", "in", "on", "at", "with", "from", "for", "by", "to", "under", "over", "near"}
)


def head(words: list[str]) -> int:
    """The index of a noun phrase's head: the last word before a preposition (`birds of
    prey` → birds), else the last word."""
    for index, word in enumerate(words):
        if index and word in PREPOSITIONS:
            return index - 1
    return len(words) - 1


def engine() -> inflect.engine:
    """The shared inflect engine, imported on first use."""
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                import typeguard

                original = typeguard.typechecked

                def identity(target: Any = None, **_: Any) -> Any:
                    return target if target is not None else (lambda f: f)

                typeguard.typechecked = identity
                try:
                    import inflect
                finally:
                    typeguard.typechecked = original
                _engine = inflect.engine()
    return _engine


@lru_cache(maxsize=4096)
def singular(word: str) -> str:
    """The singular of a plural noun (`wolves` → `wolf`); other words unchanged."""
    if len(word) < 3 or word in _NOT_PLURAL:
        return word
    if word.endswith(_LOOKS_PLURAL) and word not in _PLURAL_ANYWAY:
        return word
    inflector = engine()
    with _lock:
        found = inflector.singular_noun(word)
    if isinstance(found, str) and found:
        _seen_plural.setdefault(found, word)
        return found
    classical = _classical_singular(word)
    if classical:
        _seen_plural.setdefault(classical, word)
        return classical
    return word


# Latin and Greek plurals inflect knows only in its classical mode (cacti, fungi, radii,
# formulae, indices): a candidate singular is accepted when its classical plural is the word
_CLASSICAL = (("i", "us"), ("ae", "a"), ("ices", "ex"), ("ices", "ix"), ("a", "um"), ("a", "on"))
_classical_engine: Any = None


def _classical_singular(word: str) -> str | None:
    global _classical_engine
    candidates = [word[: -len(end)] + sing for end, sing in _CLASSICAL if word.endswith(end)]
    if not candidates:
        return None
    with _lock:
        if _classical_engine is None:
            engine()  # imports inflect without its typeguard decoration
            import inflect

            _classical_engine = inflect.engine()
            _classical_engine.classical(all=True)
        for candidate in candidates:
            if len(candidate) > 2 and _classical_engine.plural_noun(candidate) == word:
                return candidate
    return None


_seen_plural: dict[str, str] = {}  # singular → the plural a sentence used (thief → thieves)


_PLURAL_ANYWAY = frozenset({"gases", "buses", "glasses", "classes", "bosses", "kisses"})


@lru_cache(maxsize=4096)
def is_plural(word: str) -> bool:
    """Does the noun look plural (`cats`, `men`, `wolves`, `sheep` counts as both)?"""
    return singular(word) != word or word in _INVARIANT


_INVARIANT = frozenset(
    {"sheep", "fish", "deer", "people", "species", "series", "aircraft", "police", "cattle"}
)


def plural(phrase: str) -> str:
    """The plural of a noun phrase (`black cat` → `black cats`, `person` → `people`)."""
    words = phrase.split()
    if not words:
        return phrase
    at = head(words)
    if words[at] in _INVARIANT:
        return phrase
    found = _seen_plural.get(words[at])
    if not found:
        inflector = engine()
        with _lock:
            found = inflector.plural_noun(words[at])
    words[at] = found or words[at]
    return " ".join(words)


def third_person(verb: str) -> str:
    """`bark` → `barks`, `fly` → `flies`, `go` → `goes`, `have` → `has`, `be` → `is`."""
    special = {"have": "has", "be": "is", "do": "does", "go": "goes"}
    if verb in special:
        return special[verb]
    if verb.endswith(("s", "x", "z", "ch", "sh", "o")):
        return verb + "es"
    if verb.endswith("y") and len(verb) > 1 and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


@lru_cache(maxsize=4096)
def base_verb(verb: str) -> str | None:
    """The base form of a present-tense third-person verb (`barks` → `bark`), or None when
    the word is not one (`bark`, `rained`)."""
    special = {"has": "have", "is": "be", "does": "do", "goes": "go"}
    if verb in special:
        return special[verb]
    if not verb.endswith("s") or verb.endswith(("ss", "us", "ous", "is")) or len(verb) < 3:
        return None
    if verb.endswith("ies") and len(verb) > 4:
        return verb[:-3] + "y"
    if verb.endswith(("sses", "shes", "ches", "xes", "zzes", "oes")):
        return verb[:-2]
    return verb[:-1]


@lru_cache(maxsize=4096)
def with_article(phrase: str) -> str:
    """`man` → `a man`, `owl` → `an owl`."""
    inflector = engine()
    with _lock:
        found = inflector.a(phrase)
    return found if isinstance(found, str) and found else phrase
