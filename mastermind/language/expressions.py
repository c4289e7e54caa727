"""`${{ ... }}` expressions: a small, safe language over plain JSON-like data.

Never Python `eval`: a tokenizer and a Pratt parser build an AST, which is compiled once into
closures. Evaluation can only read dicts, lists and scalars handed in by the caller; there is no
attribute access on Python objects, no imports and no user-defined calls. The grammar:

    expr    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := sum (("==" | "!=" | "<" | "<=" | ">" | ">=") sum)?
    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/" | "%") unary)*
    unary   := "-" unary | postfix
    postfix := primary ("." NAME | "[" expr "]")*
    primary := NUMBER | STRING | "true" | "false" | "null" | NAME | NAME "(" args ")"
             | "(" expr ")" | "[" (expr ("," expr)*)? "]"
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from mastermind.errors import ExpressionError

Env = Mapping[str, Any]
_T = TypeVar("_T")
Evaluator = Callable[[Env], Any]

STATUS_KEY = "$status"  # not a valid identifier, so expressions cannot read it directly
STATUS_FUNCTIONS = frozenset({"always", "failure", "success", "cancelled"})

# ---------------------------------------------------------------------------------------- tokens

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>\d+\.\d+(?:[eE][+-]?\d+)?|\d+(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^']|'')*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||[<>+\-*/%()\[\].,!])
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "true", "false", "null"}

# Limits that keep hostile text a positioned error, never a crash (RecursionError, Python's
# 4300-digit limit): every walk over an expression recurses once per level of its tree.
MAX_LENGTH = 10_000  # characters
MAX_NESTING = 32  # parentheses, brackets, calls, `not` and unary minus inside one another
MAX_DEPTH = 200  # levels of the whole tree, chains included: 1+1+...+1, a.b.c..., x[0][0]...
MAX_NUMBER_CHARS = 32  # a literal longer than this is out of range anyway
_HINTS = {
    "&&": "use `and` instead of `&&`",
    "||": "use `or` instead of `||`",
    "!": "use `not` instead of `!`",
}


@dataclass(frozen=True, slots=True)
class Token:
    """One token of an expression, at `offset` in its source."""

    kind: str  # number, string, name, keyword, op, end
    text: str
    offset: int


def tokenize(source: str) -> list[Token]:
    """Split an expression into tokens; ExpressionError at the first character that fits none."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            raise ExpressionError(f"unexpected character {source[pos]!r}", source, pos)
        kind = match.lastgroup or ""
        text = match.group()
        if kind == "op" and text in _HINTS:
            raise ExpressionError(_HINTS[text], source, pos)
        if kind == "name" and text in _KEYWORDS:
            kind = "keyword"
        if kind != "ws":
            tokens.append(Token(kind, text, pos))
        pos = match.end()
    tokens.append(Token("end", "", len(source)))
    return tokens


# ---------------------------------------------------------------------------------------- AST


@dataclass(frozen=True, slots=True)
class Literal:
    """A number, string, boolean or null written in the expression."""

    value: Any


@dataclass(frozen=True, slots=True)
class Name:
    """A name looked up in the environment (`inputs`, `steps`, `item`...)."""

    name: str


@dataclass(frozen=True, slots=True)
class Member:
    """`target.key` or `target[key]`."""

    target: Node
    key: Node  # a Literal for `.name`, any node for `[expr]`


@dataclass(frozen=True, slots=True)
class Call:
    """A call of one of the built-in functions."""

    function: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Unary:
    """`not x` or `-x`."""

    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    """`left op right`: arithmetic, a comparison, `and`, `or`."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class ListOf:
    """A list written in the expression: `[a, b]`."""

    items: tuple[Node, ...]


Node = Literal | Name | Member | Call | Unary | Binary | ListOf

# ---------------------------------------------------------------------------------------- parser

_COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.pos = 0
        self.nesting = 0

    def nested(self, parse: Callable[[], _T]) -> _T:
        """Parse one level deeper, refusing text nested beyond MAX_NESTING."""
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise ExpressionError(
                f"expression is nested deeper than {MAX_NESTING} levels",
                self.source,
                self.peek().offset,
            )
        try:
            return parse()
        finally:
            self.nesting -= 1

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def next(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expect(self, text: str) -> Token:
        token = self.next()
        if token.text != text or token.kind not in ("op", "keyword"):
            found = token.text or "the end of the expression"
            raise ExpressionError(f"expected {text!r}, found {found!r}", self.source, token.offset)
        return token

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise ExpressionError("empty expression", self.source, 0)
        node = self.or_()
        token = self.peek()
        if token.kind != "end":
            raise ExpressionError(f"unexpected {token.text!r}", self.source, token.offset)
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.peek().text == "or" and self.peek().kind == "keyword":
            self.next()
            node = Binary("or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.peek().text == "and" and self.peek().kind == "keyword":
            self.next()
            node = Binary("and", node, self.not_())
        return node

    def not_(self) -> Node:
        if self.peek().text == "not" and self.peek().kind == "keyword":
            self.next()
            return Unary("not", self.nested(self.not_))
        return self.compare()

    def compare(self) -> Node:
        node = self.sum()
        token = self.peek()
        if token.kind == "op" and token.text in _COMPARISONS:
            self.next()
            node = Binary(token.text, node, self.sum())
            after = self.peek()
            if after.kind == "op" and after.text in _COMPARISONS:
                raise ExpressionError(
                    "comparisons do not chain; join them with `and`", self.source, after.offset
                )
        return node

    def sum(self) -> Node:
        node = self.product()
        while self.peek().kind == "op" and self.peek().text in ("+", "-"):
            op = self.next().text
            node = Binary(op, node, self.product())
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.peek().kind == "op" and self.peek().text in ("*", "/", "%"):
            op = self.next().text
            node = Binary(op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.peek().kind == "op" and self.peek().text == "-":
            self.next()
            return Unary("-", self.nested(self.unary))
        return self.postfix()

    def postfix(self) -> Node:
        node = self.primary()
        while True:
            token = self.peek()
            if token.kind == "op" and token.text == ".":
                self.next()
                name = self.next()
                if name.kind not in ("name", "keyword"):
                    raise ExpressionError(
                        "expected a field name after '.'", self.source, name.offset
                    )
                node = Member(node, Literal(name.text))
            elif token.kind == "op" and token.text == "[":
                self.next()
                key = self.nested(self.or_)
                self.expect("]")
                node = Member(node, key)
            else:
                return node

    def primary(self) -> Node:
        token = self.next()
        if token.kind == "number":
            return Literal(self.number(token))
        if token.kind == "string":
            return Literal(_unquote(token.text))
        if token.kind == "keyword" and token.text in ("true", "false", "null"):
            return Literal({"true": True, "false": False, "null": None}[token.text])
        if token.kind == "name":
            if self.peek().kind == "op" and self.peek().text == "(":
                return self.call(token)
            return Name(token.text)
        if token.kind == "op" and token.text == "(":
            node = self.nested(self.or_)
            self.expect(")")
            return node
        if token.kind == "op" and token.text == "[":
            return self.nested(self.list_rest)
        found = token.text or "the end of the expression"
        raise ExpressionError(f"expected a value, found {found!r}", self.source, token.offset)

    def arguments(self) -> list[Node]:
        args: list[Node] = []
        if not (self.peek().kind == "op" and self.peek().text == ")"):
            args.append(self.or_())
            while self.peek().kind == "op" and self.peek().text == ",":
                self.next()
                args.append(self.or_())
        return args

    def list_rest(self) -> Node:
        items: list[Node] = []
        if not (self.peek().kind == "op" and self.peek().text == "]"):
            items.append(self.or_())
            while self.peek().kind == "op" and self.peek().text == ",":
                self.next()
                items.append(self.or_())
        self.expect("]")
        return ListOf(tuple(items))

    def number(self, token: Token) -> int | float:
        text = token.text
        if len(text) > MAX_NUMBER_CHARS:
            raise ExpressionError(
                f"number literal is longer than {MAX_NUMBER_CHARS} characters",
                self.source,
                token.offset,
            )
        value: int | float = float(text) if any(c in text for c in ".eE") else int(text)
        problem = number_problem(value)
        if problem is not None:
            raise ExpressionError(f"number literal {text}: {problem}", self.source, token.offset)
        return value

    def call(self, name: Token) -> Node:
        spec = FUNCTIONS.get(name.text)
        if spec is None:
            known = ", ".join(sorted(FUNCTIONS))
            raise ExpressionError(
                f"unknown function {name.text!r}; known functions: {known}",
                self.source,
                name.offset,
            )
        self.expect("(")
        args = self.nested(self.arguments)
        self.expect(")")
        low, high = spec.arity
        if not low <= len(args) <= (high if high >= 0 else len(args)):
            want = f"{low}" if low == high else f"{low} or more" if high < 0 else f"{low} to {high}"
            raise ExpressionError(
                f"{name.text}() takes {want} argument(s), got {len(args)}",
                self.source,
                name.offset,
            )
        return Call(name.text, tuple(args))


def _unquote(text: str) -> str:
    if text[0] == "'":
        return text[1:-1].replace("''", "'")
    result: str = json.loads(text)
    return result


# ---------------------------------------------------------------------------------------- values


def type_name(value: Any) -> str:
    """The data-language name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def to_text(value: Any) -> str:
    """How a value reads when interpolated into a string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=False, default=str)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# Numbers are JSON data every store keeps exactly: finite floats, and integers in the signed
# 64-bit range (SQLite's and PostgreSQL's JSON, and orjson, go no further).
INTEGER_LIMIT = 2**63


def number_problem(value: Any) -> str | None:
    """Why a number is not data the stores keep, or None if it is (or is not a number)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number"
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and not (-INTEGER_LIMIT <= value < INTEGER_LIMIT)
    ):
        return "an integer outside the range -2**63 .. 2**63-1 (the stores keep 64 bits)"
    return None


# Arrays and objects inside one another: orjson (both stores' encoder) stops at 255 levels of
# a whole stored document, which wraps a value in a few levels of its own.
MAX_DATA_DEPTH = 128


def data_problem(value: Any, where: str) -> str | None:
    """The first part of `value` no store keeps (NaN, infinity, an integer beyond 64 bits,
    nesting deeper than MAX_DATA_DEPTH), as `where.path: why`; None if all is fine.
    Iterative: any depth is safe."""
    if _plain_data(value):
        return None  # the common case, without a path for every part
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        current, path, depth = stack.pop()
        if isinstance(current, (dict, list)) and depth >= MAX_DATA_DEPTH:
            return f"{where}: nested deeper than {MAX_DATA_DEPTH} levels (arrays and objects)"
        if isinstance(current, dict):
            stack.extend((v, f"{path}.{k}", depth + 1) for k, v in reversed(current.items()))
        elif isinstance(current, list):
            stack.extend(
                (v, f"{path}[{i}]", depth + 1) for i, v in reversed(list(enumerate(current)))
            )
        else:
            problem = number_problem(current)
            if problem is not None:
                return f"{path}: {problem}"
    return None


def _plain_data(value: Any) -> bool:
    """Whether every store surely keeps `value` (data_problem's fast walk: no paths)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            parts: Any = current.values()
        elif isinstance(current, list):
            parts = current
        else:
            if number_problem(current) is not None:
                return False
            continue
        if depth >= MAX_DATA_DEPTH:
            return False
        for part in parts:
            if part is None or isinstance(part, str):
                continue
            if isinstance(part, (dict, list)):
                stack.append((part, depth + 1))
            elif number_problem(part) is not None:
                return False
    return True


def _checked(op: str, result: Any) -> Any:
    """An arithmetic result, if it is still data the stores keep."""
    if isinstance(result, float) and not math.isfinite(result):
        raise ExpressionError(f"the result of {op} is not a finite number")
    if isinstance(result, int) and not -INTEGER_LIMIT <= result < INTEGER_LIMIT:
        raise ExpressionError(f"the result of {op} is an integer outside -2**63 .. 2**63-1")
    return result


def _member(target: Any, key: Any) -> Any:
    if isinstance(target, dict):
        if not isinstance(key, str):
            raise ExpressionError(f"object keys are strings, not {type_name(key)}")
        return target.get(key)
    if isinstance(target, (list, str)):
        if not _is_number(key) or (isinstance(key, float) and not key.is_integer()):
            raise ExpressionError(f"{type_name(target)} index must be an integer, not {key!r}")
        index = int(key)
        return target[index] if -len(target) <= index < len(target) else None
    if target is None:
        return None  # reading through null yields null, so default() can supply a fallback
    raise ExpressionError(f"cannot read {key!r} of a {type_name(target)}")


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    return bool(left == right)


def _order(op: str, left: Any, right: Any) -> bool:
    if not (
        (_is_number(left) and _is_number(right))
        or (isinstance(left, str) and isinstance(right, str))
    ):
        raise ExpressionError(f"cannot compare {type_name(left)} {op} {type_name(right)}")
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _arith(op: str, left: Any, right: Any) -> Any:
    if op == "+":
        if _is_number(left) and _is_number(right):
            return _checked(op, left + right)
        if isinstance(left, str) and isinstance(right, str):
            return left + right
        if isinstance(left, list) and isinstance(right, list):
            return left + right
        raise ExpressionError(f"cannot add {type_name(left)} and {type_name(right)}")
    if not (_is_number(left) and _is_number(right)):
        raise ExpressionError(f"cannot apply {op} to {type_name(left)} and {type_name(right)}")
    if op == "-":
        return _checked(op, left - right)
    if op == "*":
        return _checked(op, left * right)
    if right == 0:
        raise ExpressionError("division by zero")
    if op == "/":
        quotient = _checked(op, left / right)
        return int(quotient) if quotient.is_integer() and isinstance(left, int) else quotient
    return _checked(op, left % right)


# ---------------------------------------------------------------------------------------- functions


@dataclass(frozen=True, slots=True)
class Function:
    """A built-in function: its arity, its code, whether it reads the environment."""

    arity: tuple[int, int]  # (min, max); max -1 means any number
    impl: Callable[..., Any]
    needs_env: bool = False


def _len(value: Any) -> int:
    if isinstance(value, (str, list, dict)):
        return len(value)
    raise ExpressionError(f"len() takes a string, array or object, not {type_name(value)}")


def _contains(haystack: Any, needle: Any) -> bool:
    if isinstance(haystack, str):
        return isinstance(needle, str) and needle in haystack
    if isinstance(haystack, list):
        return any(_equal(item, needle) for item in haystack)
    if isinstance(haystack, dict):
        return needle in haystack
    raise ExpressionError(
        f"contains() searches a string, array or object, not {type_name(haystack)}"
    )


def _starts_with(text: Any, prefix: Any) -> bool:
    if not (isinstance(text, str) and isinstance(prefix, str)):
        raise ExpressionError("startsWith() takes two strings")
    return text.startswith(prefix)


def _ends_with(text: Any, suffix: Any) -> bool:
    if not (isinstance(text, str) and isinstance(suffix, str)):
        raise ExpressionError("endsWith() takes two strings")
    return text.endswith(suffix)


_FORMAT_FIELD = re.compile(r"\{\{|\}\}|\{(\d+)\}")


def _format(template: Any, *args: Any) -> str:
    if not isinstance(template, str):
        raise ExpressionError("format() takes a string template first")

    def field(match: re.Match[str]) -> str:
        if match.group() in ("{{", "}}"):
            return match.group()[0]
        index = int(match.group(1))
        if index >= len(args):
            raise ExpressionError(f"format() has no argument {{{index}}}")
        return to_text(args[index])

    return _FORMAT_FIELD.sub(field, template)


def _to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _from_json(text: Any) -> Any:
    if not isinstance(text, str):
        raise ExpressionError(f"fromJSON() takes a string, not {type_name(text)}")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ExpressionError(f"fromJSON(): not JSON: {exc}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ExpressionError("fromJSON(): non-finite numbers are not data")
    return value


def _default(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


def _join(items: Any, separator: Any = ",") -> str:
    if not isinstance(items, list):
        raise ExpressionError(f"join() takes an array, not {type_name(items)}")
    return str(to_text(separator)).join(to_text(item) for item in items)


def _status(name: str) -> Callable[[Env], bool]:
    def check(env: Env) -> bool:
        status = env.get(STATUS_KEY)
        if name == "always":
            return True
        if status is None:
            return name == "success"
        return bool(status.get(name, False))

    return check


FUNCTIONS: dict[str, Function] = {
    "len": Function((1, 1), _len),
    "contains": Function((2, 2), _contains),
    "startsWith": Function((2, 2), _starts_with),
    "endsWith": Function((2, 2), _ends_with),
    "format": Function((1, -1), _format),
    "join": Function((1, 2), _join),
    "toJSON": Function((1, 1), _to_json),
    "fromJSON": Function((1, 1), _from_json),
    "default": Function((2, 2), _default),
    **{name: Function((0, 0), _status(name), needs_env=True) for name in STATUS_FUNCTIONS},
}

# ---------------------------------------------------------------------------------------- compile


def _compile(node: Node) -> Evaluator:
    if isinstance(node, Literal):
        value = node.value
        return lambda env: value
    if isinstance(node, Name):
        name = node.name

        def lookup(env: Env) -> Any:
            try:
                return env[name]
            except KeyError:
                raise ExpressionError(f"{name!r} is not defined here") from None

        return lookup
    if isinstance(node, Member):
        target, key = _compile(node.target), _compile(node.key)
        return lambda env: _member(target(env), key(env))
    if isinstance(node, Call):
        spec = FUNCTIONS[node.function]
        if spec.needs_env:
            return spec.impl
        args = tuple(_compile(arg) for arg in node.args)
        impl = spec.impl
        return lambda env: impl(*(arg(env) for arg in args))
    if isinstance(node, Unary):
        operand = _compile(node.operand)
        if node.op == "not":
            return lambda env: not operand(env)

        def negate(env: Env) -> Any:
            value = operand(env)
            if not _is_number(value):
                raise ExpressionError(f"cannot negate a {type_name(value)}")
            return _checked("-", -value)

        return negate
    if isinstance(node, ListOf):
        items = tuple(_compile(item) for item in node.items)
        return lambda env: [item(env) for item in items]
    left, right, op = _compile(node.left), _compile(node.right), node.op
    if op == "and":
        return lambda env: lhs if not (lhs := left(env)) else right(env)
    if op == "or":
        return lambda env: lhs if (lhs := left(env)) else right(env)
    if op == "==":
        return lambda env: _equal(left(env), right(env))
    if op == "!=":
        return lambda env: not _equal(left(env), right(env))
    if op in ("<", "<=", ">", ">="):
        return lambda env: _order(op, left(env), right(env))
    return lambda env: _arith(op, left(env), right(env))


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed and compiled expression."""

    source: str
    tree: Node
    evaluate_fn: Evaluator
    reads: tuple[tuple[str, ...], ...]  # static variable paths, see references()
    calls: frozenset[str]  # names of the functions it calls

    def evaluate(self, env: Env) -> Any:
        """Evaluate over `env`; any failure is an ExpressionError naming the expression."""
        try:
            return self.evaluate_fn(env)
        except ExpressionError as exc:
            raise ExpressionError(
                f"in ${{{{ {self.source} }}}}: {exc.message}", self.source
            ) from None
        except RecursionError:
            raise ExpressionError(f"in ${{{{ {self.source} }}}}: too deeply nested") from None
        except (ArithmeticError, ValueError, TypeError) as exc:
            # Python's own limits on data that came from outside (an agent's outputs): still
            # the expression's failure, named as such
            raise ExpressionError(
                f"in ${{{{ {self.source} }}}}: {type(exc).__name__}: {exc}", self.source
            ) from None


@functools.lru_cache(maxsize=4096)
def parse(source: str) -> Expression:
    """Parse and compile one expression (the text between `${{` and `}}`); cached, immutable."""
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"expression is longer than {MAX_LENGTH} characters", source, 0)
    try:
        parser = _Parser(source)
        tree = parser.parse()
    except RecursionError:  # a last resort: the limits below should always come first
        raise ExpressionError("expression is nested too deeply", source, 0) from None
    # a tree has fewer levels than its expression has tokens: most need no measuring
    if len(parser.tokens) > MAX_DEPTH and depth(tree) > MAX_DEPTH:
        raise ExpressionError(
            f"expression is deeper than {MAX_DEPTH} levels (a chain of operators, fields or "
            "indexes counts one level per link)",
            source,
            0,
        )
    return Expression(
        source.strip(), tree, _compile(tree), tuple(references(tree)), frozenset(calls(tree))
    )


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Member):
        return (node.target, node.key)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, ListOf):
        return node.items
    return ()


def depth(tree: Node) -> int:
    """Levels of the tree (iteratively, so any tree can be measured)."""
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in _children(node))
    return deepest


def references(node: Node) -> Iterator[tuple[str, ...]]:
    """Yield each variable path the expression reads, as far as it is static: `steps.a.outputs`."""
    if isinstance(node, Name):
        yield (node.name,)
    elif isinstance(node, Member):
        keys: list[Node] = []
        current: Node = node
        while isinstance(current, Member):
            keys.append(current.key)
            current = current.target
        keys.reverse()
        if isinstance(current, Name):
            path = [current.name]
            for key in keys:
                if not isinstance(key, Literal):
                    break  # the rest of the path is only known at run time
                path.append(str(key.value))
            yield tuple(path)
        else:
            yield from references(current)
        for key in keys:
            if not isinstance(key, Literal):
                yield from references(key)
    elif isinstance(node, Call):
        for arg in node.args:
            yield from references(arg)
    elif isinstance(node, Unary):
        yield from references(node.operand)
    elif isinstance(node, Binary):
        yield from references(node.left)
        yield from references(node.right)
    elif isinstance(node, ListOf):
        for item in node.items:
            yield from references(item)


def calls(node: Node) -> Iterator[str]:
    """Yield the names of functions called anywhere in the expression."""
    if isinstance(node, Call):
        yield node.function
        for arg in node.args:
            yield from calls(arg)
    elif isinstance(node, Member):
        yield from calls(node.target)
        yield from calls(node.key)
    elif isinstance(node, Unary):
        yield from calls(node.operand)
    elif isinstance(node, Binary):
        yield from calls(node.left)
        yield from calls(node.right)
    elif isinstance(node, ListOf):
        for item in node.items:
            yield from calls(item)
