"""Controlled English → formulas, by a grammar (lark, Earley) and inflect; nothing is guessed.

A sentence is split into words; fixed phrases (`only if`, `it is not the case that`, `none of
the`, ...) become one token each; contractions are expanded (`isn't` → `is not`) and tense is
normalised (`was` → `is`, `were` → `are`, `will be` → `is`/`are`, `did not` → `does not`,
`will rain` → `rains`). The token list is parsed with an Earley parser that keeps every parse
(`ambiguity="explicit"`). Each parse is then read into a formula, checking English agreement
(`the dog chases cats`: the verb is the word after a singular noun, and a present-tense verb
agrees with its subject). Exactly one distinct reading is accepted. No parse, no reading that
passes the checks, or two different readings: the sentence is refused, with the reason, the
column, and the nearest accepted forms.
"""

from __future__ import annotations

import difflib
import itertools
import re
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import Lexer
from lark.visitors import CollapseAmbiguities

from mastermind.reasoning.formulas import (
    THING,
    Atom,
    Binary,
    Categorical,
    Formula,
    Junction,
    Not,
    Pred,
    is_group,
    predicate_names,
)
from mastermind.reasoning.words import (
    PREPOSITIONS,
    base_verb,
    engine,
    head,
    is_plural,
    singular,
    third_person,
)

# (form, example): what the grammar accepts, for docs and for "nearest accepted forms"
FORMS: tuple[tuple[str, str], ...] = (
    ("All S are P.", "All men are mortal."),
    ("All S and T are P.", "All birds and bats are animals."),
    ("Every/Each/Any S is P.", "Every dog is an animal."),
    ("A S is a P. (generic)", "A whale is a mammal."),
    ("Ss are P. (generic)", "Cats are mammals."),
    ("Some S are P.", "Some cats are black."),
    ("Some S are not P.", "Some cats are not black."),
    ("Some S are P or Q.", "Some cats are black or white."),
    ("No S are P.", "No fish are mammals."),
    ("None of the S are P.", "None of the students are lazy."),
    ("Not all S are P.", "Not all birds fly."),
    ("Everyone/Everything/Someone/Something/No one/Nobody/Nothing is P.", "Everyone is mortal."),
    ("All S V. / Some S do not V.", "All dogs bark."),
    ("There is a S. / There are no Ss.", "There are clouds."),
    ("N is a P. / N is not P. / N isn't P.", "Socrates is a man."),
    ("N V. / N does not V.", "Fido barks."),
    ("N and M are P.", "Socrates and Plato are men."),
    ("It V. / It does not V. / It is P.", "It rains."),
    ("If P then Q. / If P, Q. / Q if P.", "If it rains, the ground is wet."),
    ("P only if Q.", "It rains only if there are clouds."),
    ("P unless Q.", "The picnic is cancelled unless it is sunny."),
    ("P provided that Q. / P whenever Q.", "The ground is wet whenever it rains."),
    ("P if and only if Q. / P implies Q.", "It rains if and only if there are clouds."),
    ("It is not the case that P.", "It is not the case that it rains and the sun shines."),
    ("Either P or Q. / Neither P nor Q. / Both P and Q.", "Neither it rains nor it snows."),
    ("P and Q. / P or Q.", "It rains and the sun shines."),
    ("Propositional: ~p, p & q, p | q, p -> q, p <-> q, xor, nand, nor", "p -> (q & ~r)"),
)
ACCEPTED_FORMS = " | ".join(form for form, _ in FORMS)

MAX_WORDS = 32
MAX_PARSES = 256


class Refusal(Exception):
    """Why a sentence (or one parse of it) cannot be read; column is 1-based, 0 if unknown."""

    def __init__(self, why: str, column: int = 0) -> None:
        super().__init__(why)
        self.why = why
        self.column = column


# ----------------------------------------------------------------------------------- words

_PHRASES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("it", "is", "not", "the", "case", "that"), "NOTCASE"),
    (("it", "is", "false", "that"), "NOTCASE"),
    (("it", "is", "not", "true", "that"), "NOTCASE"),
    (("if", "and", "only", "if"), "IFF"),
    (("just", "in", "case"), "IFF"),
    (("only", "if"), "ONLYIF"),
    (("provided", "that"), "PROVIDED"),
    (("providing", "that"), "PROVIDED"),
    (("as", "long", "as"), "PROVIDED"),
    (("implies", "that"), "IMPLIES"),
    (("all", "of", "the"), "ALLOF"),
    (("all", "the"), "ALLOF"),
    (("some", "of", "the"), "SOMEOF"),
    (("none", "of", "the"), "NONEOF"),
    (("each", "of", "the"), "EACHOF"),
    (("not", "all", "of", "the"), "NOTALLOF"),
    (("not", "all"), "NOTALL"),
    (("not", "every"), "NOTEVERY"),
    (("no", "one"), "NOBODY"),
    (("will", "not", "be"), "WILLBE NOT"),
    (("will", "be"), "WILLBE"),
    (("does", "not"), "DOESNOT"),
    (("did", "not"), "DIDNOT"),
    (("do", "not"), "DONOT"),
    (("will", "not"), "WILLNOT"),
)
_KEYWORDS = {
    "all": "ALL",
    "every": "EVERY",
    "each": "EVERY",
    "any": "EVERY",
    "some": "SOME",
    "no": "NO",
    "a": "A",
    "an": "A",
    "the": "THE",
    "my": "THE",
    "your": "THE",
    "our": "THE",
    "his": "THE",
    "its": "THE",
    "their": "THE",
    "not": "NOT",
    "if": "IF",
    "then": "THEN",
    "unless": "UNLESS",
    "whenever": "WHENEVER",
    "implies": "IMPLIES",
    "and": "AND",
    "or": "OR",
    "either": "EITHER",
    "neither": "NEITHER",
    "nor": "NOR",
    "both": "BOTH",
    "is": "IS",
    "was": "IS",
    "are": "ARE",
    "were": "ARE",
    "will": "WILL",
    "it": "IT",
    "there": "THERE",
    "everyone": "EVERYONE",
    "everybody": "EVERYONE",
    "everything": "EVERYTHING",
    "someone": "SOMEONE",
    "somebody": "SOMEONE",
    "something": "SOMETHING",
    "nobody": "NOBODY",
    "no-one": "NOBODY",
    "nothing": "NOTHING",
    # 'any' is universal only as a whole sentence ('Anyone is welcome'); inside a larger one
    # it usually means some ('if anyone is late'), so there it is refused (see _any_inside)
    "anyone": "EVERYONE",
    "anybody": "EVERYONE",
    "anything": "EVERYTHING",
}
_CONTRACTIONS = {
    "isn't": "is not",
    "aren't": "are not",
    "wasn't": "was not",
    "weren't": "were not",
    "doesn't": "does not",
    "don't": "do not",
    "didn't": "did not",
    "won't": "will not",
}
_UNSUPPORTED = {
    **dict.fromkeys(
        ("most", "many", "few", "several", "almost", "half", "more", "less", "fewer", "least"),
        "only the quantifiers all, every, each, any, some, no (and a/an) are read",
    ),
    **dict.fromkeys(
        (
            "may",
            "might",
            "must",
            "can",
            "cannot",
            "can't",
            "could",
            "should",
            "would",
            "ought",
            "probably",
            "possibly",
            "necessarily",
        ),
        "modal words (can, must, may, ...) are not read: say what is the case",
    ),
    **dict.fromkeys(
        ("always", "never", "sometimes", "usually", "often", "rarely", "seldom"),
        "adverbs of frequency are not read: use all/some/no",
    ),
    **dict.fromkeys(
        (
            "but",
            "although",
            "though",
            "because",
            "since",
            "so",
            "therefore",
            "hence",
            "thus",
            "while",
            "yet",
        ),
        "only and, or, if, only if, unless, provided that, whenever join sentences",
    ),
    **dict.fromkeys(
        ("who", "which", "that", "whom", "whose", "where", "when"),
        "relative clauses are not read: name the group with one phrase",
    ),
    **dict.fromkeys(
        (
            "he",
            "she",
            "they",
            "we",
            "i",
            "you",
            "him",
            "her",
            "them",
            "us",
            "me",
            "this",
            "these",
            "those",
        ),
        "pronouns do not name anyone here: use the name",
    ),
    **dict.fromkeys(
        ("except", "besides", "excluding", "unlike", "apart"),
        "exceptions are not read: say what holds with all/some/no, one sentence each",
    ),
    **dict.fromkeys(
        ("hardly", "scarcely", "barely", "nearly"),
        "negative adverbs (hardly, scarcely, barely, nearly: 'nearly finished' is not "
        "finished) are not read: say 'is not' or 'is'",
    ),
    **dict.fromkeys(
        (
            *("perhaps", "maybe", "surely", "allegedly", "supposedly", "nevertheless"),
            *("nonetheless", "however", "sadly", "frankly", "formerly", "honestly", "obviously"),
            *("apparently", "indeed", "clearly", "certainly", "hopefully", "luckily", "truly"),
            *("fortunately", "unfortunately", "evidently", "presumably", "reportedly"),
            *("seemingly", "undoubtedly", "definitely", "admittedly", "arguably", "actually"),
            *("really", "basically", "naturally", "moreover", "furthermore", "meanwhile"),
            *("otherwise", "anyway", "instead", "ironically", "interestingly", "thankfully"),
            *("regrettably", "strangely", "curiously", "surprisingly", "understandably"),
            *("personally", "ideally", "undeniably", "ostensibly", "purportedly", "else"),
            *("alas", "oh", "ah", "hey", "hello", "yes", "yeah", "okay", "ok", "please"),
        ),
        "sentence adverbs and interjections are not read: say only what is the case",
    ),
    "none": "'none' is read in 'none of the Ss'; else say 'no S', 'no one' or 'nothing'",
    "only": "'only' is read in 'only if'; for 'only Ss are P' write 'all Ps are Ss'",
    "than": "comparisons are not read",
    "case": "'case' is read only in 'it is not the case that'",
}
_TITLES = {"mr", "mrs", "ms", "dr", "prof", "st", "sir", "lady", "lord", "king", "queen", "saint"}
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\-]*\.?|,|\S")
_LETTER = re.compile(r"^[a-z][0-9]*$")


@dataclass(frozen=True, slots=True)
class Word:
    kind: str  # a terminal name
    text: str  # lower case
    column: int  # 1-based, in the sentence as given
    capital: bool  # written with a capital letter (and not the first word)


_REFUSED_PHRASES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("far", "from"), "negative phrases are not read: say 'is not'"),
    (("no", "longer"), "negative phrases are not read: say 'is not'"),
    (("each", "other"), "relations between several things are not read"),
    (("one", "another"), "relations between several things are not read"),
)
# focus particles: 'Fido is a dog too' says no more than 'Fido is a dog'
_FOCUS_BEFORE = frozenset({",", "and", "or", "if", "unless", "then", "only", "provided"})
_COPULAS = frozenset({"is", "are", "was", "were", "be", "not"})


def _drop_focus(raw: list[tuple[str, int, bool]]) -> list[tuple[str, int, bool]]:
    """Without 'also' anywhere, nor 'too' / 'as well' at the end of a clause (after a word
    that is not 'is': 'is too' and 'too big' are kept, and refused later)."""
    kept: list[tuple[str, int, bool]] = []
    i = 0
    while i < len(raw):
        word = raw[i][0]
        size = 2 if word == "as" and [w for w, _, _ in raw[i + 1 : i + 2]] == ["well"] else 1
        after = raw[i + size][0] if i + size < len(raw) else None
        if word == "also" or (
            (word == "too" or size == 2)
            and (after is None or after in _FOCUS_BEFORE)
            and kept
            and kept[-1][0] not in _COPULAS
        ):
            if kept[-1][0] == "," and (after is None or after == ","):
                kept.pop()  # 'The soup is hot, too.'
            i += size
            continue
        kept.append(raw[i])
        i += 1
    return kept


def tokenize(sentence: str) -> list[Word]:
    """Words of one sentence (final full stop removed); Refusal on anything else."""
    text = sentence.replace("’", "'").rstrip()
    for column, char in enumerate(text, 1):
        if not char.isprintable() or unicodedata.category(char) in ("Cf", "Co", "Cn"):
            # an invisible or control character (U+202E turns the text around) is named, not
            # taken for the punctuation beside it
            name = unicodedata.name(char, "a control character")
            raise Refusal(f"the character U+{ord(char):04X} ({name}) is not read", column)
    if text.endswith("?"):
        raise Refusal("a question is not a premise", len(text))
    while text.endswith((".", "!")):
        text = text[:-1].rstrip()
    raw: list[tuple[str, int, bool]] = []
    for match in _WORD.finditer(text):
        piece, column = match.group(), match.start() + 1
        lower = piece.lower()
        if piece.endswith(".") and piece != ".":
            if lower[:-1] not in _TITLES:
                raise Refusal("one sentence at a time (a full stop inside)", column)
        elif not (piece == "," or (piece[0].isalnum() and piece.isascii())):
            # a letter outside A-Z would otherwise cut its word in two ('Straße', a Cyrillic
            # 'с' in 'сats'): the pieces would be read as other words
            raise Refusal(f"{piece!r} is not part of the grammar (letters A-Z only)", column)
        capital = piece[0].isupper() and bool(raw)
        expanded = _CONTRACTIONS.get(lower)
        if expanded:
            for part in expanded.split():
                raw.append((part, column, False))
        elif lower.endswith("'s") or lower.endswith("s'"):
            raise Refusal("possessives are not read", column)
        else:
            raw.append((lower, column, capital))
    raw = _drop_focus(raw)
    lead = [w for w, _, _ in raw[:3]]
    if lead[:1] == ["a"]:
        lead = lead[1:]
    if lead and (
        lead[0] in _AMOUNTS or lead[0][0].isdigit() or (lead[0] in _AMOUNTS_OF and "of" in lead)
    ):
        _no_amount(lead, raw[0][1])  # 'Dozens of dogs bark', 'A couple of dogs bark'
    for i in range(len(raw)):
        for phrase, why in _REFUSED_PHRASES:
            if tuple(w for w, _, _ in raw[i : i + len(phrase)]) == phrase:
                raise Refusal(f"'{' '.join(phrase)}': {why}", raw[i][1])
    if not raw:
        raise Refusal("it is empty", 1)
    if len(raw) > MAX_WORDS:
        raise Refusal(f"more than {MAX_WORDS} words: split it into several premises", 1)
    words: list[Word] = []
    i = 0
    while i < len(raw):
        for phrase, kinds in _PHRASES:
            if tuple(w for w, _, _ in raw[i : i + len(phrase)]) == phrase:
                for kind in kinds.split():
                    words.append(Word(kind, " ".join(phrase), raw[i][1], False))
                i += len(phrase)
                break
        else:
            text_i, column, capital = raw[i]
            if text_i == ",":
                words.append(Word("COMMA", ",", column, False))
            elif text_i.endswith("."):
                words.append(Word("TITLE", text_i, column, capital))
            elif text_i in _KEYWORDS:
                words.append(Word(_KEYWORDS[text_i], text_i, column, capital))
            elif text_i in _UNSUPPORTED:
                raise Refusal(f"'{text_i}': {_UNSUPPORTED[text_i]}", column)
            else:
                # a capitalised word inside the sentence is its own kind: it can be part of a
                # name or an object, never a verb, which keeps the parses few
                words.append(Word("NAME" if capital else "WORD", text_i, column, capital))
            i += 1
    return words


# --------------------------------------------------------------------------------- grammar

GRAMMAR = r"""
start: sentence

?sentence: part
    | IF part COMMA? THEN part          -> if_then
    | IF part COMMA part                -> if_then
    | WHENEVER part COMMA part          -> if_then
    | PROVIDED part COMMA part          -> if_then
    | part COMMA? IF part               -> then_if
    | part COMMA? WHENEVER part         -> then_if
    | part COMMA? PROVIDED part         -> then_if
    | part COMMA? ONLYIF part           -> only_if
    | part COMMA? IFF part              -> iff
    | part COMMA? IMPLIES part          -> only_if
    | part COMMA? UNLESS part           -> unless
    | UNLESS part COMMA part            -> unless_front

?part: disj
    | NOTCASE disj                      -> not_case

?disj: conj
    | conj (COMMA conj)* (COMMA? OR conj)+            -> or_chain
?conj: lit
    | lit (COMMA lit)* (COMMA? AND lit)+             -> and_chain
?lit: clause
    | EITHER conj COMMA? OR conj        -> either
    | NEITHER conj NOR conj             -> neither
    | BOTH lit AND lit                  -> both
    | NOT lit                           -> not_

?clause: quantified | pronoun_q | named | it_clause | there_clause | letter

quantified: quant nps body
quant: ALL | ALLOF | EVERY | EACHOF | SOME | SOMEOF | NO | NONEOF | NOTALL | NOTALLOF
    | NOTEVERY | A
pronoun_q: qpronoun body
qpronoun: EVERYONE | EVERYTHING | SOMEONE | SOMETHING | NOBODY | NOTHING
named: names body
it_clause: IT body
there_clause: THERE copula preds
    | THERE copula NO np                -> there_no
letter: WORD | NAME

?body: copula_preds | verbs
copula_preds: copula preds

nps: np
    | np (COMMA np)* (COMMA? AND np)+               -> nps_and
    | np (COMMA np)* (COMMA? OR np)+                -> nps_or
np: (WORD | NAME)+
names: name
    | NEITHER name NOR name             -> names_nor
    | BOTH name AND name                -> names_and
    | EITHER name COMMA? OR name        -> names_or
    | name (COMMA name)* (COMMA? AND name)+           -> names_and
    | name (COMMA name)* (COMMA? OR name)+            -> names_or
name: TITLE? (WORD | NAME)+
    | THE (WORD | NAME)+                -> definite

copula: IS | ARE | WILLBE
    | IS NOT                            -> copula_not
    | ARE NOT                           -> copula_not
    | WILLBE NOT                        -> copula_not

preds: pred
    | pred (COMMA pred)* (COMMA? AND pred)+           -> preds_and
    | pred (COMMA pred)* (COMMA? OR pred)+            -> preds_or
    | EITHER pred COMMA? OR pred        -> preds_or
    | BOTH pred AND pred                -> preds_and
    | NEITHER pred NOR pred             -> preds_nor
pred: A? pword+
?pword: WORD | THE | TITLE | NAME

verbs: vps
    | WILL vps                          -> verbs_will
    | DOESNOT vps                       -> verbs_not
    | DIDNOT vps                        -> verbs_not
    | DONOT vps                         -> verbs_not
    | WILLNOT vps                       -> verbs_not
vps: vp
    | vp (COMMA vp)* (COMMA? AND vp)+               -> vps_and
    | vp (COMMA vp)* (COMMA? OR vp)+                -> vps_or
vp: WORD vword*
?vword: WORD | THE | A | TITLE | NAME

%declare IF THEN WHENEVER PROVIDED ONLYIF IFF IMPLIES UNLESS NOTCASE OR AND EITHER NEITHER
%declare NOR BOTH NOT ALL ALLOF EVERY EACHOF SOME SOMEOF NO NONEOF NOTALL NOTALLOF NOTEVERY
%declare A EVERYONE EVERYTHING SOMEONE SOMETHING NOBODY NOTHING IT THERE WORD THE TITLE IS
%declare ARE WILLBE WILL DOESNOT DIDNOT DONOT WILLNOT COMMA NAME
"""


class _Words(Lexer):
    """Feeds the tokenizer's words to lark."""

    def __init__(self, conf: Any) -> None:
        pass

    def lex(self, data: Any, *args: Any) -> Iterator[Token]:
        for index, kind in enumerate(data):
            yield Token(kind, str(index), start_pos=index, column=index)


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="earley", lexer=_Words, ambiguity="explicit")


# ------------------------------------------------------------------------------- readings


def warm() -> None:
    """Build the parser and load inflect now (about 0.1-0.2 s), not at the first sentence."""
    _parser()
    engine()


@lru_cache(maxsize=2048)
def _shapes(kinds: tuple[str, ...]) -> tuple[Any, ...]:
    """Every parse of a sequence of token kinds, with leaves standing for word positions.
    Parses depend only on the kinds (`ALL WORD ARE WORD`), so sentences of one shape share
    them: the Earley parse is the expensive part of reading."""
    with _parsing:  # one parse at a time: small requests are read in threads
        tree = _parser().parse(kinds)
        count = _count(tree, {})
        if count > MAX_PARSES:
            raise Refusal(
                f"it has {count} parses (more than {MAX_PARSES}): split it into several "
                "premises, or group it with 'either ... or' / 'both ... and'",
                1,
            )
        return tuple(CollapseAmbiguities().transform(tree))


def _count(node: Any, seen: dict[int, int]) -> int:
    """How many trees an explicitly ambiguous parse stands for."""
    if not isinstance(node, Tree):
        return 1
    found = seen.get(id(node))
    if found is None:
        counts = [_count(child, seen) for child in node.children]
        if node.data == "_ambig":
            found = sum(counts)
        else:
            found = 1
            for count in counts:
                found *= count
        seen[id(node)] = found
    return found


_parsing = threading.Lock()


def _fill(node: Any, words: list[Word]) -> Any:
    if isinstance(node, Token):
        word = words[int(node.start_pos or 0)]
        return Token(node.type, word.text, start_pos=word.column, column=word.column)
    return Tree(node.data, [_fill(child, words) for child in node.children])


def read(sentence: str) -> Formula:
    """The one reading of a sentence, or Refusal."""
    words = tokenize(sentence)
    capitals = {w.column for w in words if w.capital}
    try:
        shapes = _shapes(tuple(w.kind for w in words))
    except UnexpectedEOF:
        raise Refusal("the sentence ends too early", len(sentence.rstrip(". !")) + 1) from None
    except UnexpectedToken as exc:
        word = words[int(exc.token.start_pos or 0)]
        raise Refusal(f"'{word.text}' does not fit here", word.column) from None
    except UnexpectedInput:
        raise Refusal("it does not fit the grammar", 1) from None
    readings: dict[Formula, None] = {}
    refusals: list[Refusal] = []
    for shape in shapes:
        candidate = _fill(shape, words)
        try:
            reader = _Reader(capitals, words)
            reader.top = candidate.children[0]
            readings[reader.sentence(candidate.children[0])] = None
        except Refusal as exc:
            refusals.append(exc)
    if len(readings) == 1:
        return next(iter(readings))
    if len(readings) > 1:
        texts = [str(r) for r in readings]
        if len(set(texts)) < len(texts):  # same words, different structure: show who is what
            texts = [_structure(r) for r in readings]
        shown = " | ".join(f"'{t}'" for t in texts)
        raise Refusal(f"it can be read in more than one way: {shown}", 1)
    refusals.sort(key=lambda r: -r.column)
    raise refusals[0] if refusals else Refusal("it does not fit the grammar", 1)


def _structure(formula: Formula) -> str:
    """A reading with each individual's name bracketed: '[the plant needs] water'."""
    if isinstance(formula, Pred):
        verb = formula.predicate[3:] if formula.predicate.startswith("to ") else formula.predicate
        return f"[{formula.term}] {verb}"
    if isinstance(formula, Not):
        return f"not ({_structure(formula.operand)})"
    if isinstance(formula, Binary):
        return f"({_structure(formula.left)}) {formula.op} ({_structure(formula.right)})"
    return str(formula)


def nearest_forms(sentence: str, count: int = 3) -> list[str]:
    """The accepted forms whose example is most like the sentence."""
    text = sentence.lower()
    scored = sorted(FORMS, key=lambda f: -difflib.SequenceMatcher(None, text, f[1].lower()).ratio())
    return [f"{form} (e.g. '{example}')" for form, example in scored[:count]]


def _tokens(node: Any) -> list[Token]:
    if isinstance(node, Token):
        return [node]
    found: list[Token] = []
    for child in node.children:
        found += _tokens(child)
    return found


def _column(node: Any) -> int:
    tokens = _tokens(node)
    return int(tokens[0].column or 0) if tokens else 0


def _join(op: str, parts: list[Formula]) -> Formula:
    formula = parts[0]
    for part in parts[1:]:
        formula = Binary(op, formula, part)
    return formula


def _subtrees(node: Any, *data: str) -> list[Any]:
    return [c for c in node.children if isinstance(c, Tree) and (not data or c.data in data)]


_CONNECTIVES = frozenset(
    {
        *("start", "if_then", "then_if", "only_if", "iff", "unless", "unless_front"),
        *("not_case", "not_", "or_chain", "and_chain", "either", "both", "neither"),
    }
)
# endings of adjectives and nouns that are seldom verbs: "All humans mortal" is refused
_NOT_VERBS = ("al", "ous", "ful", "less", "ive", "able", "ible", "ic", "ary", "ese", "ian")
_FUNCTION_WORDS = frozenset(
    {
        *("at", "in", "on", "of", "to", "for", "with", "by", "from", "up", "down", "about"),
        *("into", "onto", "over", "under", "after", "before", "between", "through", "near"),
        *("very", "too", "quite", "also", "not", "my", "your", "our", "his", "its", "their"),
    }
)
_INVARIANT = frozenset({"sheep", "fish", "deer", "species", "series", "aircraft"})
# words that start a sentence or address someone without being part of a name ('Dear
# Socrates is wise', 'Even Socrates is mortal'); the plain adverbs are refused by tokenize
_NOT_IN_NAMES = frozenset(
    {*("dear", "even", "well", "still", "now", "today", "just", "so", "then", "again", "once")}
)
# given names ending in -ly ('Sadly Socrates' is an adverb and a name; 'Emily Brown' a name)
_LY_NAMES = frozenset(
    {*("emily", "kelly", "holly", "lily", "molly", "polly", "sally", "billy", "shelly", "dolly")}
    | {*("beverly", "kimberly", "ally", "elly", "nelly", "wally", "charly", "carly", "lilly")}
)
# a plural subject with a relation: 'Alice and Bob are married' is not 'Alice is married and
# Bob is married'; relations between several things are outside the grammar
_RELATIONAL = frozenset(
    {
        *("married", "similar", "different", "equal", "identical", "alike", "related"),
        *("engaged", "parallel", "adjacent", "acquainted", "connected", "compatible"),
        *("equivalent", "separate", "apart", "together", "opposite", "divorced", "unequal"),
        *("same", "distinct", "dissimilar", "incompatible", "close", "far"),
        *("sibling", "neighbour", "neighbor", "friend", "partner", "brother", "sister"),
        *("cousin", "twin", "lover", "enemy", "colleague", "classmate", "roommate", "spouse"),
        *("rival", "ally", "opponent", "relative", "couple", "pair", "teammate", "parent"),
        *("companion", "acquaintance", "peer", "counterpart", "namesake"),
    }
)
# ... of which these, after a quantifier, are said of each ('All men are married': each has a
# spouse), where 'All men are equal' relates them to each other
_EACH_ALONE = frozenset({"married", "engaged", "divorced"})
_RECIPROCAL_VERBS = frozenset(
    {
        *("meet", "marry", "agree", "disagree", "differ", "collide", "fight", "argue", "kiss"),
        *("hug", "quarrel", "correspond", "compete", "cooperate", "collaborate", "match"),
        *("coincide", "converge", "date", "intersect", "touch", "overlap", "talk", "chat"),
    }
)
# numbers and amounts: 'Ten students are lazy' is not about all students
_AMOUNTS = frozenset(
    {
        *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
        *("ten", "eleven", "twelve", "thirteen", "fifteen", "twenty", "thirty", "forty"),
        *("fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "thousand", "million"),
        *("billion", "dozen", "numerous", "countless", "multiple", "various", "certain"),
        *("other", "enough"),
    }
)
# ... and amounts before 'of' ('Lots of people'; 'Scores are high' is about scores)
_AMOUNTS_OF = frozenset(
    {
        *("hundreds", "thousands", "millions", "billions", "dozens", "lots", "plenty"),
        *("couple", "pair", "scores", "loads", "tons", "heaps", "masses", "bunch", "handful"),
        *("number", "majority", "minority", "most", "half", "lot"),
    }
)
# adjectives of nationality and the like, written with a capital: 'Socrates is Greek' is a
# property; any other capitalised word after 'is' is a name, and identity is not read
_DEMONYMS = frozenset(
    {
        *("greek", "roman", "french", "english", "british", "german", "italian", "spanish"),
        *("dutch", "swiss", "irish", "scottish", "welsh", "american", "canadian", "mexican"),
        *("chinese", "japanese", "korean", "indian", "russian", "polish", "swedish"),
        *("norwegian", "danish", "finnish", "portuguese", "brazilian", "egyptian", "turkish"),
        *("persian", "arab", "arabic", "african", "european", "asian", "australian", "thai"),
        *("austrian", "belgian", "hungarian", "czech", "jewish", "christian", "muslim"),
        *("catholic", "protestant", "buddhist", "hindu", "athenian", "spartan", "latin"),
        *("victorian", "biblical", "scots", "icelandic", "israeli", "iranian", "iraqi"),
    }
)
# past forms that are not also common present forms or nouns (not saw, rose, left, found, lay)
_IRREGULAR_PAST = frozenset(
    {
        *("came", "went", "said", "took", "made", "knew", "got", "gave", "thought", "told"),
        *("became", "brought", "began", "kept", "held", "wrote", "stood", "heard", "met"),
        *("ran", "paid", "sat", "spoke", "led", "grew", "sent", "built", "understood", "drew"),
        *("broke", "spent", "drove", "bought", "wore", "chose", "ate", "drank", "sang", "swam"),
        *("flew", "fought", "forgot", "taught", "caught", "slept", "woke", "threw", "shook"),
        *("rode", "stole", "froze", "had", "did", "won", "lost", "felt", "meant", "sold"),
    }
)


@dataclass(frozen=True, slots=True)
class Body:
    """What a clause says of its subject."""

    negative: bool
    predicate: str | Junction
    plural: bool | None  # the number the verb shows; None when it does not say
    verbal: bool
    finite: Any | None  # the verb phrases when the verb agrees with the subject
    nouns: frozenset[str] = frozenset()  # predicates written as nouns (`a man`, `animals`)

    def categorical(self, kind: str, subject: str) -> Categorical:
        noun = isinstance(self.predicate, str) and self.predicate in self.nouns
        return Categorical(kind, subject, self.predicate, noun)

    def of(self, term: str) -> Formula:
        """The predicate said of one individual."""
        if isinstance(self.predicate, Junction):
            parts: list[Formula] = [Pred(n, term, n in self.nouns) for n in self.predicate.names]
            return _join(self.predicate.op, parts)
        return Pred(self.predicate, term, self.predicate in self.nouns)


_SCOPED = frozenset({"if_then", "then_if", "only_if", "iff", "unless", "unless_front", "not_case"})


def _comma_scope(part: Any) -> None:
    """'If P then Q, and R': a comma before the last 'and'/'or' of two clauses may close the
    conditional (then it is (if P then Q) and R) or not (if P then (Q and R)): refused."""
    if not (isinstance(part, Tree) and part.data in ("and_chain", "or_chain")):
        return
    if len(_subtrees(part)) != 2:
        return  # a list ('Q, R and S') belongs together
    tokens = [c for c in part.children if isinstance(c, Token)]
    for comma, joint in itertools.pairwise(tokens):
        if comma.type == "COMMA" and joint.type in ("AND", "OR"):
            raise Refusal(
                f"', {joint}' inside 'if', 'unless' or 'it is not the case that' is "
                f"ambiguous: does '{joint} ...' belong to that clause or to the whole "
                "sentence? Write two sentences, or drop the comma to keep it inside",
                int(comma.column or 0),
            )


# what 'it' can be said of without being a pronoun: weather, time, truth (the first word of
# the predicate); anything else after a clause about something may be that thing
_IMPERSONAL = frozenset(
    {
        *("sunny", "cloudy", "rainy", "windy", "cold", "hot", "warm", "cool", "foggy", "snowy"),
        *("stormy", "humid", "freezing", "raining", "snowing", "hailing", "late", "early"),
        *("night", "day", "morning", "evening", "noon", "midnight", "winter", "summer"),
        *("spring", "autumn", "true", "false", "possible", "likely", "certain", "necessary"),
        *("to rain", "to snow", "to hail", "to thunder", "to drizzle", "to pour", "to freeze"),
        *("to sleet", "to storm"),
    }
)


# after a clause about a thing, only what a thing cannot be: 'the soup is on the stove and
# it is hot', 'if the stove is on, it is hot', 'the train is here and it is late' are refused
_WEATHER = frozenset(
    {
        *("sunny", "cloudy", "rainy", "windy", "foggy", "snowy", "stormy", "raining"),
        *("snowing", "hailing", "night", "day", "morning", "evening", "noon", "midnight"),
        *("winter", "summer", "spring", "autumn"),
        *("to rain", "to snow", "to hail", "to thunder", "to drizzle", "to pour", "to sleet"),
        *("to storm",),
    }
)


def _impersonal(predicate: str, after_thing: bool = False) -> bool:
    words = predicate.split()
    first = " ".join(words[:2]) if predicate.startswith("to ") else words[0]
    return first in (_WEATHER if after_thing else _IMPERSONAL)


def weather_only(atom: str) -> bool:
    """Is a proposition with 'it' about what no thing can be ('it rains', 'it is sunny')?
    'It is hot' beside a premise about the soup may be about the soup."""
    if atom.startswith("it is "):
        return _impersonal(atom[len("it is ") :], True)
    if atom.startswith("it "):
        verb, _, rest = atom[3:].partition(" ")
        return _impersonal(" ".join(filter(None, ["to", base_verb(verb) or verb, rest])), True)
    return True


def _any_inside(word: str, inside: bool, column: int) -> None:
    """'Any cat is black' says every cat is; 'if any cat is black' and 'not any cat is black'
    speak of some cat: inside a larger sentence 'any' is refused, not guessed at."""
    if inside and word.startswith("any"):
        raise Refusal(
            f"'{word} ...' inside a larger sentence can mean some or every one: "
            "say 'some' or 'every' ('someone' or 'everyone')",
            column,
        )


class _Reader:
    """One parse tree → a formula, checking what the grammar cannot: agreement, scope."""

    def __init__(self, capitals: set[int], words: list[Word] | None = None) -> None:
        self.capitals = capitals
        self.words = words or []
        self.subject_seen = False  # a clause about something (not 'it') was read before
        self.top: Any = None  # the clause that is the whole sentence, if it is one
        self.naming = False  # reading what is said of a name ('All Men are Mortal' is not)

    # ---------------------------------------------------------------- sentence level

    def sentence(self, node: Any) -> Formula:
        if isinstance(node, Token):
            raise Refusal(f"'{node}' alone is not a sentence", node.column or 0)
        kind = node.data
        if kind not in _CONNECTIVES:
            return self.clause(node)
        if kind in _SCOPED:
            for child in _subtrees(node):
                _comma_scope(child)
        parts = [self.sentence(c) for c in _subtrees(node)]
        if kind == "start":
            return parts[0]
        if kind == "if_then":
            return Binary("implies", parts[0], parts[1])
        if kind == "then_if":
            return Binary("implies", parts[1], parts[0])
        if kind == "only_if":
            return Binary("implies", parts[0], parts[1])
        if kind == "iff":
            return Binary("iff", parts[0], parts[1])
        if kind == "unless":  # "P unless Q": if not Q then P
            return Binary("or", parts[0], parts[1])
        if kind == "unless_front":  # "unless Q, P"
            return Binary("or", parts[1], parts[0])
        if kind in ("not_case", "not_"):
            return _negate_reading(parts[0])
        if kind in ("or_chain", "and_chain"):
            op = "or" if kind == "or_chain" else "and"
            other = "and_chain" if op == "or" else "or_chain"
            for child in _subtrees(node):
                if child.data == other:
                    raise Refusal(
                        "'and' and 'or' are mixed without grouping: say 'either ... or' or "
                        "'both ... and' to show which goes together",
                        _column(child),
                    )
            return _join(op, parts)
        if kind == "either":
            return Binary("or", parts[0], parts[1])
        if kind == "both":
            return Binary("and", parts[0], parts[1])
        if kind == "neither":
            return Binary("and", _negate_reading(parts[0]), _negate_reading(parts[1]))
        return self.clause(node)

    # ------------------------------------------------------------------ clause level

    def clause(self, node: Any) -> Formula:
        kind = node.data
        if kind == "letter":
            word = str(node.children[0])
            if _LETTER.match(word):
                return Atom(word)
            column = _column(node)
            before = [w for w in self.words if w.column < column][-2:]
            kinds = [w.kind for w in before]
            if kinds[-1:] == ["NOT"] and kinds[:1] in (["AND"], ["OR"]):
                raise Refusal(
                    f"'{before[0].text} not {word}': 'not' inside a list of predicates is not "
                    "read; write two sentences ('Socrates is wise and Socrates is not old')",
                    column,
                )
            if kinds[-1:] in (["AND"], ["OR"]):
                raise Refusal(
                    f"'{word}' after '{before[-1].text}' would be a sentence of its own, and a "
                    "single word is one only as a propositional letter (p, q1): repeat the "
                    "subject and verb",
                    column,
                )
            raise Refusal(
                f"'{word}' alone is not a sentence (a single word is read only as a "
                "propositional letter such as p or q1)",
                _column(node),
            )
        if kind == "it_clause":
            return self.it_clause(node)
        try:
            if kind == "quantified":
                return self.quantified(node)
            if kind == "pronoun_q":
                return self.pronoun(node)
            if kind == "named":
                return self.named(node)
            if kind in ("there_clause", "there_no"):
                return self.there(node)
        finally:
            self.subject_seen = True
        raise Refusal(f"unexpected {kind}", _column(node))  # pragma: no cover

    def quantified(self, node: Any) -> Formula:
        quant_tree, nps_tree, body_tree = node.children
        quant = quant_tree.children[0]
        q = str(quant.type)
        body = self.body(body_tree)
        if q in ("ALLOF", "SOMEOF", "NONEOF", "EACHOF", "NOTALLOF"):
            plural_subject: bool | None = True
        elif q == "ALL":
            plural_subject = True
        elif q in ("EVERY", "A", "NOTEVERY"):
            plural_subject = False
        else:
            plural_subject = body.plural
        subjects, op = self.noun_phrases(nps_tree, plural_subject)
        column = int(quant.column or 0)
        _any_inside(str(quant), node is not self.top, column)
        if body.finite is not None:
            # the subject's own words first: 'a [triangle has] three sides' fails there, not
            # at the verb (a refusal further right is the one shown)
            self.plain_modifiers(nps_tree)
            self.agree_verb(body, plural_subject if q not in ("EACHOF",) else False)
        negative = body.negative
        if q in ("ALL", "ALLOF", "EVERY", "EACHOF", "A"):
            if negative:
                raise Refusal(
                    f"'{quant} ... not' is ambiguous (no S are P, or not all S are P?): "
                    "say 'No S are P' or 'Not all S are P'",
                    column,
                )
            if q == "A" and op is not None:
                raise Refusal("a compound subject after 'a' is not read", column)
            if q == "A" and node is not self.top:
                raise Refusal(
                    f"'{quant} ...' inside a larger sentence can mean some or every one: "
                    "say 'some' or 'every'",
                    column,
                )
            names = (
                body.predicate.names if isinstance(body.predicate, Junction) else (body.predicate,)
            )
            if q == "A" and not all(n in body.nouns for n in names):
                # 'A whale is a mammal' is about every whale; 'A man is at the door' and
                # 'A car is parked outside' are about some one: only a noun is read generically
                raise Refusal(
                    f"'{quant} S is P' is read as every S only with a noun "
                    "('A whale is a mammal.'); otherwise it can mean one S: say 'every' or 'some'",
                    _column(body_tree),  # where it goes wrong: other parses stop before
                )
            kind = "all"
        elif q in ("SOME", "SOMEOF"):
            if op is not None:
                raise Refusal(
                    "'some S and T' is ambiguous (some of each, or some that are both?): "
                    "write one sentence per group",
                    column,
                )
            kind = "some_not" if negative else "some"
        elif q in ("NO", "NONEOF"):
            if negative:
                raise Refusal("a double negation ('no ... not') is not read", column)
            kind = "no"
        else:  # not all / not every
            if negative:
                raise Refusal("a double negation ('not all ... not') is not read", column)
            if op is not None:
                raise Refusal("a compound subject after 'not all' is not read", column)
            kind = "some_not"
        if op == "and":
            self.relation(body, column)
        elif body.plural is True:  # 'All men are equal': to each other
            self.relation(body, column, each_alone=_EACH_ALONE)
        if (
            q == "NO"
            and not body.verbal
            and isinstance(body.predicate, str)
            and len(subjects) == 1
            and body.predicate.split()[-1] == subjects[0].split()[-1]
        ):
            raise Refusal(
                f"'no {subjects[0]} is ... {subjects[0]}' is an idiom (having none is ...), "
                "not read: say what holds of each one",
                column,
            )
        if op == "or" and kind == "all":
            raise Refusal(
                "'all S or T' is not read: say 'All S and T are P' or one sentence each", column
            )
        return _join("and", [body.categorical(kind, s) for s in subjects])

    def pronoun(self, node: Any) -> Formula:
        pron_tree, body_tree = node.children
        word = pron_tree.children[0]
        pron = str(word.type)
        body = self.body(body_tree)
        column = int(word.column or 0)
        _any_inside(str(word), node is not self.top, column)
        if body.plural is True and body.finite is None:
            raise Refusal(f"'{word}' takes 'is'", column)
        if body.finite is not None:
            self.agree_verb(body, False)
        negative = body.negative
        subject = "person" if pron in ("EVERYONE", "SOMEONE", "NOBODY") else THING
        kind = {"EVERYONE": "all", "EVERYTHING": "all", "SOMEONE": "some", "SOMETHING": "some"}
        if pron in ("NOBODY", "NOTHING"):
            if negative:
                raise Refusal("a double negation ('nobody ... not') is not read", column)
            return body.categorical("no", subject)
        if negative and kind[pron] == "all":
            raise Refusal(
                f"'{word} ... not' is ambiguous: say 'No one is P' or 'Not everyone is P'",
                column,
            )
        return body.categorical("some_not" if negative else kind[pron], subject)

    def named(self, node: Any) -> Formula:
        names_tree, body_tree = node.children
        self.naming = True
        try:
            body = self.body(body_tree)
        finally:
            self.naming = False
        names, op = self.names(names_tree)
        column = _column(names_tree)
        # 'The roads are icy': a plural definite names one group, read as one individual
        # ('the roads'), so the verb is plural; after 'or' the verb agrees with the last name
        plural = op == "and" or is_group(names[-1][0])
        single = len(names) == 1 and self.generic_subject(names_tree)
        if len(names) > 1:
            generic = self.generic_list(names_tree, names, op, body, column)
            if generic is not None:
                return generic
        if single and body.plural is True:
            # "Cats are mammals", "Dogs bark": a bare plural noun is generic
            # ... but "Dogs are different" is a relation
            self.relation(body, column, each_alone=_EACH_ALONE)
            if body.finite is not None:
                self.agree_verb(body, True)
                self.plain_modifiers(names_tree)
            return self.generic(names[0][0], body, column)
        self.proper_names(names_tree)
        if (len(names) > 1 and op == "and") or (len(names) == 1 and is_group(names[0][0])):
            self.relation(body, column)
        first = self.words[0].column if self.words else 1
        for tree in _subtrees(names_tree, "name") or [names_tree]:
            tokens = [t for t in tree.children if isinstance(t, Token)]
            at = int(tokens[0].column or 0) if tokens else first
            before = [w.kind for w in self.words if w.column < at][-1:]
            if (
                len(tokens) == 1
                and str(tokens[0].type) == "WORD"
                and at != first
                and (is_plural(str(tokens[0])) or before in (["AND"], ["OR"], ["COMMA"]))
            ):
                # '... and lays eggs', '... and lay eggs': a lower-case word inside a
                # sentence that looks plural or follows 'and' is not read as a name
                raise Refusal(f"'{tokens[0]}' is not a name (names are capitalised)", column)
        if body.plural is not None and body.plural != plural:
            raise Refusal(
                "the verb does not agree with the subject"
                + (" (a plural noun needs 'all', 'some' or 'no')" if not plural else ""),
                column,
            )
        if body.finite is not None:
            trees = (
                _subtrees(names_tree, "name", "definite")
                if names_tree.data.startswith("names")
                else [names_tree]
            )
            for (name, capitalized), tree in zip(names, trees, strict=True):
                words = name.split()
                if tree.data == "definite":
                    # before a verb: 'the kids watch | cartoons' has a plural inside, and in
                    # 'the plant needs | water' the group's last word could be the verb
                    self.plain_modifiers(tree)
                    if is_group(name) and len(words) > 2 and base_verb(words[head(words)]):
                        raise Refusal(
                            f"'{words[head(words)]}' could be the verb, not the end of the "
                            f"group '{name}'",
                            column,
                        )
                elif len(words) > 1 and not capitalized:
                    raise Refusal(f"'{name}' is not a name (names are capitalised)", column)
            self.agree_verb(body, plural)
        parts = [body.of(name) for name, _ in names]
        if op == "nor":  # neither A nor B is P: A is not P and B is not P
            if body.negative:
                raise Refusal("'neither ... not' is a double negation", column)
            return _join("and", [_negate_reading(part) for part in parts])
        if body.negative:  # 'Socrates and Plato are not men': each is not
            parts = [_negate_reading(part) for part in parts]
        return _join(op or "and", parts)

    def generic_list(
        self, node: Any, names: list[tuple[str, bool]], op: str | None, body: Body, column: int
    ) -> Formula | None:
        """'Cats and dogs are mammals': bare plural nouns joined are generic, one sentence
        each (None: they are names, 'Socrates and Plato'). A plural noun beside a name is
        refused."""
        trees = _subtrees(node, "name", "definite")
        bare = [
            tree.data == "name"
            and all(
                str(t.type) == "WORD" and int(t.column or 0) not in self.capitals
                for t in tree.children
            )
            and is_plural(str(tree.children[head([str(t) for t in tree.children])]))
            for tree in trees
        ]
        if not all(bare):
            if any(bare[1:]):
                raise Refusal(
                    "a plural noun beside a name: write one sentence each ('All dogs are P.', "
                    "'Fido is P.')",
                    column,
                )
            return None
        if op != "and":
            raise Refusal(
                "'S or T are P' is not read: say 'S and T are P' or one sentence each", column
            )
        if body.plural is False:
            raise Refusal("the verb does not agree with the subject", column)
        if body.finite is not None:
            self.agree_verb(body, True)
            self.plain_modifiers(node)
        self.relation(body, column)
        return _join("and", [self.generic(name, body, column) for name, _ in names])

    def not_identity(self, pred: Any, words: list[str], has_article: bool) -> None:
        """'Cicero is Tully', 'Fido is the same as Rex', 'the morning star is the evening
        star' say who is who (identity), not a property: refused."""
        first = pred.children[0]
        column = int(first.column or 0)
        if str(first.type) == "THE" or "same" in words or "identical" in words:
            raise Refusal(
                "'is the ...' / 'the same as' says who someone is (identity), which is not "
                "read: say what kind of thing it is ('is a P')",
                column,
            )
        if words[head(words)] in ("one", "ones"):
            raise Refusal(
                "'one' stands for a noun said before ('Rex is a good one'): name it",
                column,
            )
        if (
            self.naming
            and not has_article
            and column in self.capitals
            and words[0] not in _DEMONYMS
        ):
            raise Refusal(
                f"'{words[0]}' after 'is' is a name: identity ('Cicero is Tully') is not read",
                column,
            )

    def relation(self, body: Body, column: int, each_alone: frozenset[str] = frozenset()) -> None:
        """A subject of several things (or one group) with a relational predicate; the words
        in `each_alone` are read as said of each (after a quantifier: 'All men are married')."""
        for name in predicate_names(body.predicate):
            words = name.split()
            if body.verbal:
                if len(words) == 2 and words[1] in _RECIPROCAL_VERBS:
                    raise _relation_refused(words[1], column)
                continue
            for word in words:
                if word in each_alone:
                    continue
                if word in _RELATIONAL or singular(word) in _RELATIONAL:
                    raise _relation_refused(word, column)

    def proper_names(self, names_tree: Any) -> None:
        """A name is a proper name: capitalised words ('John Smith'; the sentence's first
        word may be lower case), no sentence adverb or form of address ('Dear Socrates',
        'Sadly Socrates'), so no verb or negation is hidden inside one ('Fido barks before
        Rex does not bark' is not a name 'Fido barks before Rex')."""
        first = self.words[0].column if self.words else 1
        for tree in _subtrees(names_tree, "name") or [names_tree]:
            if tree.data != "name":
                continue
            tokens = [t for t in tree.children if isinstance(t, Token) and t.type != "TITLE"]
            name = " ".join(str(t) for t in tokens)
            for token in tokens:
                if str(token) in _AMOUNTS or str(token)[0].isdigit():
                    _no_amount([str(token)], int(token.column or 0))
                if str(token) in _NOT_IN_NAMES and len(tokens) > 1:
                    raise Refusal(
                        f"'{token}' is not part of a name (a sentence adverb or a form of "
                        "address): start with the name",
                        int(token.column or 0),
                    )
            if len(tokens) < 2:
                continue
            lead = str(tokens[0])
            if (
                int(tokens[0].column or 0) == first
                and lead.endswith("ly")
                and (lead not in _LY_NAMES)
            ):
                raise Refusal(
                    f"'{lead}' may be an adverb, not part of the name '{name}': start with "
                    "the name",
                    first,
                )
            for token in tokens:
                at = int(token.column or 0)
                if at != first and at not in self.capitals:
                    raise Refusal(
                        f"'{name}' is not a name: every word of a name is capitalised "
                        f"('{token}' is not)",
                        at,
                    )

    def plain_modifiers(self, node: Any) -> None:
        """Before a verb, only the head of a noun phrase may look plural (`big dogs bark`),
        and a head of several words must not look like a verb (`every cat has whiskers` is
        not `every (cat has) whiskers`)."""
        for phrase in _subtrees(node, "np", "name") or [node]:
            words = [str(t) for t in phrase.children if isinstance(t, Token)]
            at = head(words)
            for word in words[:at]:
                if is_plural(word):
                    raise Refusal(f"'{word}' looks plural inside a noun phrase", _column(node))
            for word in words[1 : at + 1]:
                if base_verb(word) is not None and not is_plural(word):
                    raise Refusal(f"'{word}' looks like a verb", _column(node))

    def generic_subject(self, node: Any) -> bool:
        """A bare noun phrase (no title, no article, no capitalised word inside)."""
        if node.data == "names" and len(node.children) == 1:
            node = node.children[0]
        if node.data != "name":
            return False
        return all(
            str(t.type) == "WORD" and int(t.column or 0) not in self.capitals for t in node.children
        )

    def generic(self, subject_phrase: str, body: Body, column: int) -> Formula:
        words = subject_phrase.split()
        _no_amount(words, column)
        if not is_plural(words[head(words)]):
            raise Refusal(f"'{subject_phrase}' is not a plural noun", column)
        subject = self.noun(subject_phrase, True)
        return body.categorical("no" if body.negative else "all", subject)

    def it_clause(self, node: Any) -> Formula:
        it, body_tree = node.children
        body = self.body(body_tree)
        if body.plural is True and body.finite is None:
            raise Refusal("'it' takes 'is', not 'are'", int(it.column or 0))
        if body.finite is not None:
            self.agree_verb(body, False)
        names = predicate_names(body.predicate)
        if self.subject_seen and not all(_impersonal(n, True) for n in names):
            # 'There is a cat on the roof and it is black': 'it' is the cat, not the weather
            raise Refusal(
                "'it' after a clause about something else may mean that thing: name it "
                "('the cat is black'), or write two sentences",
                int(it.column or 0),
            )
        atoms = [self.it_atom(n, body.finite is None and not body.verbal) for n in names]
        op = body.predicate.op if isinstance(body.predicate, Junction) else "and"
        formula = _join(op, list(atoms))
        return _negate_reading(formula) if body.negative else formula

    def it_atom(self, predicate: str, copular: bool) -> Atom:
        if copular:
            return Atom(f"it is {predicate}")
        verb, _, rest = predicate[3:].partition(" ")
        return Atom(" ".join(filter(None, ["it", third_person(verb), rest])))

    def there(self, node: Any) -> Formula:
        if node.data == "there_no":
            head = " ".join(str(t) for t in node.children[-1].children)
            name = self.noun(head, True)
            return Categorical("no", name, name, True)
        _, copula, preds = node.children
        negative = copula.data == "copula_not"
        plural = self.copula_plural(copula)
        column = _column(preds)
        if preds.data != "preds" or len(preds.children) != 1:
            raise Refusal("'there is' takes one noun phrase", column)
        pred_tree = preds.children[0]
        has_article = any(str(t.type) == "A" for t in pred_tree.children)
        words = [str(t) for t in pred_tree.children if str(t.type) != "A"]
        if plural is False and not has_article:
            raise Refusal("'there is' takes 'a' or 'an' before the noun", column)
        name = self.noun(" ".join(words), not has_article)
        return Categorical("no" if negative else "some", name, name, True)

    # ------------------------------------------------------------------ phrases

    def body(self, node: Any) -> Body:
        """What is said of the subject: `is (not) P`, `V`, `does not V`."""
        if node.data == "copula_preds":
            copula, preds = node.children
            plural = self.copula_plural(copula)
            negative = copula.data == "copula_not"
            predicate, nouns = self.predicates(preds, plural)
            if preds.data == "preds_nor":
                if negative:
                    raise Refusal("'not ... neither' is a double negation", _column(preds))
                negative = True
            # 'is not P and Q' denies the whole predicate: not (P and Q), as 'does not V and
            # W' does; 'is not P or Q' is not (P or Q), i.e. neither (see docs/agents.md)
            return Body(negative, predicate, plural, False, None, nouns)
        vps = node.children[-1]
        first = node.children[0]
        kind = str(first.type) if isinstance(first, Token) else ""
        if node.data == "verbs_not":
            plural = {"DONOT": True, "DOESNOT": False}.get(kind)
            return Body(True, self.verb_phrases(vps, finite=False), plural, True, None)
        if node.data == "verbs_will":
            return Body(False, self.verb_phrases(vps, finite=False), None, True, None)
        return Body(False, self.verb_phrases(vps, finite=True), self.verb_number(vps), True, vps)

    def verb_number(self, vps: Any) -> bool:
        """True for plain (plural) verbs, False for third-person singular ones."""
        for vp in _subtrees(vps, "vp"):
            word = vp.children[0]
            verb = str(word)
            capital = int(word.column or 0) in self.capitals
            if verb in _FUNCTION_WORDS or verb[0].isdigit() or capital:
                raise Refusal(f"'{verb}' is not a verb", _column(vp))
            if verb.endswith(_NOT_VERBS):
                raise Refusal(
                    f"'{verb}' looks like an adjective or a noun, not a verb: "
                    "did you mean 'is'/'are'?",
                    _column(vp),
                )
        numbers = {base_verb(str(vp.children[0])) is None for vp in _subtrees(vps, "vp")}
        if len(numbers) != 1:
            raise Refusal("the verbs do not agree with each other", _column(vps))
        return numbers.pop()

    def agree_verb(self, body: Body, plural: bool | None) -> None:
        if (
            body.finite is not None
            and plural is not None
            and self.verb_number(body.finite) != plural
        ):
            raise Refusal("the verb does not agree with its subject", _column(body.finite))

    def verb_phrases(self, node: Any, finite: bool) -> str | Junction:
        names: list[str] = []
        for vp in _subtrees(node, "vp"):
            words = [str(t) for t in vp.children]
            verb = words[0]
            if finite:
                base = base_verb(verb)
                if base is not None:
                    verb = base
                elif verb.endswith("ed") or verb in _IRREGULAR_PAST:
                    raise Refusal(
                        f"'{verb}': verbs are read in the present tense (was/were/will be "
                        "are normalised, other past forms are not)",
                        _column(vp),
                    )
            elif base_verb(verb) is not None and verb not in ("is",):
                raise Refusal(f"'{verb}' after 'do not' should be the plain verb", _column(vp))
            if names and len(words) == 1 and is_plural(words[0]) and len(names[-1].split()) > 2:
                # 'reads books or magazines': a second object, or a second verb? refused
                raise Refusal(
                    f"'{words[0]}' could be a second object or a second verb: write two sentences",
                    _column(vp),
                )
            names.append("to " + " ".join([verb, *words[1:]]))
        if len(names) == 1:
            return names[0]
        return Junction("and" if node.data == "vps_and" else "or", tuple(names))

    def copula_plural(self, node: Any) -> bool | None:
        kind = str(node.children[0].type)
        return {"IS": False, "ARE": True}.get(kind)

    def noun(self, phrase: str, plural: bool) -> str:
        words = phrase.split()
        if plural:
            at = head(words)
            words[at] = singular(words[at])
        return " ".join(words)

    def noun_phrases(self, node: Any, plural: bool | None) -> tuple[list[str], str | None]:
        nps = _subtrees(node, "np") if node.data != "np" else [node]
        op = {"nps_and": "and", "nps_or": "or"}.get(node.data)
        names = []
        for np in nps:
            words = [str(t) for t in np.children]
            _no_amount(words, _column(np))
            noun = words[head(words)]
            plural_np = is_plural(noun) if plural is None else plural
            if plural_np is False and is_plural(noun) and noun not in _INVARIANT:
                raise Refusal(f"'{noun}' is plural here", _column(np))
            if plural_np and not is_plural(noun):
                raise Refusal(f"'{noun}' is not a plural noun", _column(np))
            names.append(self.noun(" ".join(words), plural_np))
        return names, op

    def names(self, node: Any) -> tuple[list[tuple[str, bool]], str | None]:
        trees = _subtrees(node, "name", "definite") if node.data.startswith("names") else [node]
        op = {"names_and": "and", "names_or": "or", "names_nor": "nor"}.get(node.data)
        found = []
        for tree in trees:
            words = [str(t) for t in tree.children]
            if len(words) > 1 and words[-1] in _FUNCTION_WORDS | PREPOSITIONS:
                # 'the shop opens at | nine': a name does not end in a preposition
                raise Refusal(f"'{' '.join(words)}' ends in '{words[-1]}'", _column(tree))
            capitalized = str(tree.children[0].type) == "TITLE" or all(
                int(t.column or 0) in self.capitals for t in tree.children[1:]
            )
            found.append((" ".join(words), capitalized))
        return found, op

    def predicates(self, node: Any, plural: bool | None) -> tuple[str | Junction, frozenset[str]]:
        names, nouns = [], set()
        trees = _subtrees(node, "pred")
        for pred in trees:
            words = [str(t) for t in pred.children if str(t.type) != "A"]
            has_article = len(words) != len(pred.children)
            first = pred.children[0]
            self.not_identity(pred, words, has_article)
            if len(trees) > 1 and not has_article and int(first.column or 0) in self.capitals:
                raise Refusal(
                    f"'{first}' starts like a new sentence, not a predicate", _column(pred)
                )
            if has_article and plural:
                raise Refusal("'a'/'an' after 'are'", _column(pred))
            name = self.noun(" ".join(words), bool(plural) and not has_article)
            if has_article or name != " ".join(words):
                nouns.add(name)
            names.append(name)
        if len(names) == 1:
            return names[0], frozenset(nouns)
        op = "and" if node.data == "preds_and" else "or"
        if len(set(names)) != len(names):
            raise Refusal("a predicate is repeated", _column(node))
        return Junction(op, tuple(names), frozenset(nouns)), frozenset(nouns)


def _no_amount(words: list[str], column: int) -> None:
    of = words[1:2] == ["of"] and words[0] in _AMOUNTS_OF
    if of or words[0] in _AMOUNTS or words[0][0].isdigit():
        raise Refusal(
            f"'{words[0]}': numbers and amounts are not read (never as 'all'): say 'some' "
            "for at least one",
            column,
        )


def _relation_refused(word: str, column: int) -> Refusal:
    return Refusal(
        f"relations between several things are not read: '{word}' said of several things "
        "relates them to each other ('Alice and Bob are married', 'All men are equal', 'the "
        "cats and the dogs are friends'); say what holds of each one alone ('Every S is P', "
        "'Alice is P')",
        column,
    )


def _negate_reading(formula: Formula) -> Formula:
    if isinstance(formula, Not):
        return formula.operand
    return Not(formula)
