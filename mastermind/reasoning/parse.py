"""Premises in controlled English or propositional syntax → formulas; anything else is refused.

English is read by the grammar in mastermind/reasoning/grammar.py (see docs/agents.md for the
accepted forms). Propositional syntax: identifiers with ~ (or !, ¬), &, |, ->, <->, xor, nand,
nor, parentheses.
"""

from __future__ import annotations

import re
from functools import lru_cache

from mastermind.errors import MastermindError
from mastermind.reasoning.formulas import Atom, Binary, Formula, Not
from mastermind.reasoning.grammar import ACCEPTED_FORMS, Refusal, nearest_forms, read

__all__ = ["ACCEPTED_FORMS", "PremiseError", "is_propositional", "parse_premise", "tense_of"]


class PremiseError(MastermindError):
    """A sentence the engine cannot read: why, where (1-based column, 0 if not known), and
    the nearest accepted forms."""

    def __init__(self, text: str, why: str, column: int = 0) -> None:
        self.text = text
        self.why = why
        self.column = column
        self.nearest = nearest_forms(text)
        where = f" at column {column}" if column else ""
        # a long text is cut in the message (a 2,000-character nesting is not repeated whole)
        quoted = repr(text) if len(text) <= 120 else f"{text[:80]!r}... ({len(text):,} characters)"
        super().__init__(
            f"cannot read {quoted}{where}: {why}; nearest accepted forms: "
            + "; ".join(self.nearest)
        )


_SYMBOLS = re.compile(r"[~!¬&|()∧∨→↔]|->|<->")
_PROP_WORDS = re.compile(r"\b(xor|nand|nor)\b")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_LETTER = re.compile(r"^[a-z][0-9]*$")  # p, q, x19: a propositional letter, in either syntax


@lru_cache(maxsize=4096)
def parse_premise(text: str) -> Formula:
    """Read one sentence; PremiseError says why not, where, and the nearest accepted forms.
    (Formulas are immutable, so readings are cached.)"""
    raw = text.strip()
    if not raw:
        raise PremiseError(text, "it is empty")
    if len(raw) > 2000:
        raise PremiseError(text[:40] + "...", "it is longer than 2000 characters")
    lowered = raw.lower()
    if _LETTER.match(lowered.rstrip(".")):
        return Atom(lowered.rstrip("."))
    if is_propositional(raw):
        return _Propositional(raw).parse()
    if tense_of(raw) == "mixed":  # (English only: the propositional route returned above)
        raise PremiseError(
            text,
            "it mixes tenses ('was' or 'will' beside 'is'/'does'): tense is not read (was and "
            "will be are read as is), so 'Tom was a child and Tom is not a child' would "
            "contradict itself: write it in one tense",
        )
    try:
        return read(raw)
    except Refusal as exc:
        offset = len(text) - len(text.lstrip())
        raise PremiseError(text, exc.why, exc.column + offset if exc.column else 0) from None


_PAST = frozenset({"was", "were", "did", "wasn't", "weren't", "didn't", "wasnt", "werent"})
_FUTURE = frozenset({"will", "won't", "shall", "shan't", "wont"})
_PRESENT = frozenset({"is", "are", "does", "do", "isn't", "aren't", "doesn't", "don't", "am"})


def is_propositional(text: str) -> bool:
    """Written in propositional syntax (symbols, xor/nand/nor, a lone letter), not English."""
    lowered = text.strip().lower()
    return bool(
        _LETTER.match(lowered.rstrip("."))
        or _SYMBOLS.search(text)
        or (_PROP_WORDS.search(lowered) and not re.search(r"\b(is|are|neither|either)\b", lowered))
    )


def tense_of(text: str) -> str:
    """The tense an English sentence is written in, by its auxiliaries: "past", "future",
    "present" (no was/were/did/will), or "mixed". The grammar reads every tense as the
    present, which is sound only among sentences of one tense: 'Fido was a puppy' beside
    'All puppies are young' would prove 'Fido is young'."""
    words = re.findall(r"[a-z']+", text.lower().replace("\u2019", "'"))
    past = any(w in _PAST for w in words)
    future = any(w in _FUTURE or w.endswith("'ll") for w in words)
    present = any(w in _PRESENT for w in words)
    if past + future + present > 1:
        return "mixed"
    return "past" if past else "future" if future else "present"


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
