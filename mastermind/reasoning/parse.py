"""Premises in controlled English or propositional syntax → formulas; anything else is refused.

English forms (case and a final full stop do not matter):
    All X are Y.  No X are Y.  Some X are Y.  Some X are not Y.  Xs are Y.
    S is a Y.  S is not a Y.  If P then Q.  P if and only if Q.  P implies Q.
    P and Q.  P or Q.  Either P or Q.  Not P.  It is not the case that P.
    and a plain sentence without `is`/`are` (`it rains`) as a proposition.
Propositional syntax: identifiers with ~ (or !, ¬), &, |, ->, <->, xor, nand, nor, parentheses.
"""

from __future__ import annotations

import re

from mastermind.errors import MastermindError
from mastermind.reasoning.formulas import Atom, Binary, Categorical, Formula, Not, Pred

ACCEPTED_FORMS = (
    "All X are Y. | No X are Y. | Some X are Y. | Some X are not Y. | S is a Y. | "
    "S is not a Y. | If P then Q. | P and Q | P or Q | not P | P if and only if Q | "
    "a plain sentence such as 'it rains' | propositional syntax: p & q, p | q, ~p, p -> q, "
    "p <-> q, p xor q, p nand q, p nor q"
)


class PremiseError(MastermindError):
    """A sentence the engine cannot read."""

    def __init__(self, text: str, why: str) -> None:
        self.text = text
        self.why = why
        super().__init__(f"cannot read {text!r}: {why}; accepted forms: {ACCEPTED_FORMS}")


_SYMBOLS = re.compile(r"[~!¬&|()∧∨→↔]|->|<->")
_PROP_WORDS = re.compile(r"\b(xor|nand|nor)\b")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def parse_premise(text: str) -> Formula:
    """Read one sentence; PremiseError says why not and lists the accepted forms."""
    raw = text.strip()
    if not raw:
        raise PremiseError(text, "it is empty")
    if len(raw) > 2000:
        raise PremiseError(text[:40] + "...", "it is longer than 2000 characters")
    if _SYMBOLS.search(raw) or (_PROP_WORDS.search(raw.lower()) and " is " not in raw.lower()):
        return _Propositional(raw).parse()
    return _english(_clean(raw), text)


# ------------------------------------------------------------------------------------ English

_ARTICLES = re.compile(r"^(a|an|the)\s+")
_IRREGULAR = {
    "men": "man",
    "women": "woman",
    "people": "person",
    "children": "child",
    "mice": "mouse",
    "geese": "goose",
    "feet": "foot",
    "teeth": "tooth",
    "data": "datum",
    "gods": "god",
}
_QUANTIFIER_START = ("all ", "every ", "each ", "no ", "some ", "if ", "not ", "either ")


def _clean(text: str) -> str:
    text = text.strip().rstrip(".!").strip().lower()
    return re.sub(r"\s+", " ", text)


def noun(phrase: str) -> str:
    """A predicate name: lower case, no article, singular (`Humans` → `human`)."""
    words = _ARTICLES.sub("", phrase.strip()).split()
    if not words:
        return ""
    last = words[-1]
    if last in _IRREGULAR:
        last = _IRREGULAR[last]
    elif last.endswith("ies") and len(last) > 4:
        last = last[:-3] + "y"
    elif last.endswith(("sses", "xes", "ches", "shes")):
        last = last[:-2]
    elif last.endswith("s") and not last.endswith(("ss", "us", "is")) and len(last) > 3:
        last = last[:-1]
    return " ".join([*words[:-1], last])


def _individual(phrase: str) -> str:
    return _ARTICLES.sub("", phrase.strip())


def _english(s: str, original: str) -> Formula:
    if not s:
        raise PremiseError(original, "it is empty")
    if s.startswith("if ") and " then " in s:
        condition, _, result = s[3:].partition(" then ")
        return Binary("implies", _english(condition, original), _english(result, original))
    if s.startswith("if ") and ", " in s:
        condition, _, result = s[3:].partition(", ")
        return Binary("implies", _english(condition, original), _english(result, original))
    for word, op in ((" if and only if ", "iff"), (" implies ", "implies")):
        if word in s:
            left, _, right = s.partition(word)
            return Binary(op, _english(left, original), _english(right, original))
    if s.startswith("either ") and " or " in s:
        s = s[len("either ") :]
    for word, op in ((" or ", "or"), (" and ", "and")):
        if word in s and not _categorical_with(s, word):
            parts = s.split(word)
            formula = _english(parts[0], original)
            for part in parts[1:]:
                formula = Binary(op, formula, _english(part, original))
            return formula
    for prefix in ("it is not the case that ", "not "):
        if s.startswith(prefix):
            return Not(_english(s[len(prefix) :], original))
    return _simple(s, original)


def _categorical_with(s: str, word: str) -> bool:
    # "all birds and bats are animals" is not a conjunction of sentences: refuse it clearly
    head = s.split(word)[0]
    return (
        head.startswith(("all ", "no ", "some ", "every ", "each "))
        and " are " not in head
        and " is " not in head
    )


_FORMS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(?:all|every|each) (.+?) (?:are|is) (?:an? )?(.+)$"), "all"),
    (re.compile(r"^no (.+?) (?:are|is) (?:an? )?(.+)$"), "no"),
    (re.compile(r"^some (.+?) (?:are|is) not (?:an? )?(.+)$"), "some_not"),
    (re.compile(r"^some (.+?) (?:are|is) (?:an? )?(.+)$"), "some"),
)
_IS_NOT = re.compile(r"^(.+?) is not (?:an? )?(.+)$")
_IS = re.compile(r"^(.+?) is (?:an? )?(.+)$")
_ARE_NOT = re.compile(r"^(.+?) are not (.+)$")
_ARE = re.compile(r"^(.+?) are (.+)$")
_WORDS = re.compile(r"^[a-z0-9][a-z0-9' \-]*$")


def _simple(s: str, original: str) -> Formula:
    for pattern, kind in _FORMS:
        match = pattern.match(s)
        if match:
            subject, predicate = noun(match.group(1)), noun(match.group(2))
            _check_names(original, subject, predicate)
            return Categorical(kind, subject, predicate)
    if s.startswith(_QUANTIFIER_START):
        raise PremiseError(original, "it starts like a quantified sentence but does not fit one")
    for pattern, negated in ((_IS_NOT, True), (_IS, False)):
        match = pattern.match(s)
        if match:
            term, predicate = _individual(match.group(1)), noun(match.group(2))
            _check_names(original, term, predicate)
            formula: Formula = Pred(predicate, term)
            return Not(formula) if negated else formula
    for pattern, kind in ((_ARE_NOT, "no"), (_ARE, "all")):  # generic plurals: "Cats are mammals"
        match = pattern.match(s)
        if match:
            subject, predicate = noun(match.group(1)), noun(match.group(2))
            _check_names(original, subject, predicate)
            return Categorical(kind, subject, predicate)
    if _WORDS.match(s) and len(s.split()) <= 12:
        return Atom(s)
    raise PremiseError(original, "it is not one of the accepted forms")


def _check_names(original: str, *names: str) -> None:
    for name in names:
        if not name or not _WORDS.match(name):
            raise PremiseError(original, f"{name!r} is not a plain name")


# ------------------------------------------------------------------------------------ symbols

_TOKEN = re.compile(r"\s*(<->|->|[~!¬&|()∧∨→↔]|[A-Za-z_][A-Za-z0-9_]*)")
_NORMAL = {"!": "~", "¬": "~", "∧": "&", "∨": "|", "→": "->", "↔": "<->"}
# lowest to highest precedence; implication is right-associative
_LEVELS = (("<->",), ("->",), ("|", "nor"), ("xor",), ("&", "nand"))
_OPS = {
    "<->": "iff",
    "->": "implies",
    "|": "or",
    "nor": "nor",
    "xor": "xor",
    "&": "and",
    "nand": "nand",
}


class _Propositional:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[str] = []
        pos = 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None:
                if text[pos:].strip() == "":
                    break
                raise PremiseError(
                    text, f"unexpected {text[pos:].strip()[0]!r} at column {pos + 1}"
                )
            token = match.group(1)
            self.tokens.append(
                _NORMAL.get(token, token.lower() if token.lower() in _OPS else token)
            )
            pos = match.end()
        self.pos = 0

    def parse(self) -> Formula:
        if not self.tokens:
            raise PremiseError(self.text, "it is empty")
        try:
            formula = self.level(0)
        except RecursionError:
            raise PremiseError(self.text, "it is nested too deeply") from None
        if self.pos != len(self.tokens):
            raise PremiseError(self.text, f"unexpected {self.tokens[self.pos]!r}")
        return formula

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def level(self, index: int) -> Formula:
        if index == len(_LEVELS):
            return self.unary()
        left = self.level(index + 1)
        while self.peek() in _LEVELS[index]:
            op = _OPS[self.tokens[self.pos]]
            self.pos += 1
            right = self.level(index) if op == "implies" else self.level(index + 1)
            left = Binary(op, left, right)
            if op == "implies":
                break
        return left

    def unary(self) -> Formula:
        token = self.peek()
        if token is None:
            raise PremiseError(self.text, "it ends where a proposition was expected")
        self.pos += 1
        if token == "~":
            return Not(self.unary())
        if token == "(":
            inner = self.level(0)
            if self.peek() != ")":
                raise PremiseError(self.text, "a parenthesis is not closed")
            self.pos += 1
            return inner
        if _IDENTIFIER.match(token.lower()) and token.lower() not in _OPS:
            return Atom(token.lower())
        raise PremiseError(self.text, f"expected a proposition, found {token!r}")
