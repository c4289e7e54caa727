"""Values with `${{ }}` inside: compiled once at load time, rendered per step instance.

A string that is exactly one expression keeps the expression's type (a list stays a list); any
other string with expressions in it is interpolated as text. Data without expressions is returned
as is, without a copy, so rendering costs nothing for constant `with:` blocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mastermind.errors import ExpressionError
from mastermind.language.expressions import Env, Expression, parse, to_text

OPEN, CLOSE = "${{", "}}"

Path = tuple[str | int, ...]


class Template:
    """A value that may contain expressions."""

    dynamic: bool = True

    def render(self, env: Env) -> Any:
        raise NotImplementedError

    def expressions(self, path: Path = ()) -> Iterator[tuple[Path, Expression]]:
        """Every expression inside, with its path relative to this value."""
        return iter(())


@dataclass(slots=True)
class Constant(Template):
    """A value without expressions: rendered as itself."""

    value: Any
    dynamic = False

    def render(self, env: Env) -> Any:
        return self.value


@dataclass(slots=True)
class Whole(Template):
    """A string that is one expression: rendered as the expression's value, any type."""

    expression: Expression

    def render(self, env: Env) -> Any:
        return self.expression.evaluate(env)

    def expressions(self, path: Path = ()) -> Iterator[tuple[Path, Expression]]:
        yield path, self.expression


@dataclass(slots=True)
class Interpolated(Template):
    """A string with expressions inside text: rendered as a string."""

    parts: tuple[str | Expression, ...]

    def render(self, env: Env) -> Any:
        return "".join(
            part if isinstance(part, str) else to_text(part.evaluate(env)) for part in self.parts
        )

    def expressions(self, path: Path = ()) -> Iterator[tuple[Path, Expression]]:
        for part in self.parts:
            if isinstance(part, Expression):
                yield path, part


@dataclass(slots=True)
class MappingOf(Template):
    """A mapping whose values may contain expressions."""

    items: dict[Any, Template]

    def render(self, env: Env) -> Any:
        return {key: value.render(env) for key, value in self.items.items()}

    def expressions(self, path: Path = ()) -> Iterator[tuple[Path, Expression]]:
        for key, value in self.items.items():
            yield from value.expressions((*path, key))


def render_partial(template: Template, env: Env) -> Any:
    """What can be rendered: each top-level entry of a mapping on its own, None where an
    expression fails (a failed run keeps the outputs it could compute)."""
    if isinstance(template, MappingOf):
        return {key: render_partial(value, env) for key, value in template.items.items()}
    try:
        return template.render(env)
    except ExpressionError:
        return None


@dataclass(slots=True)
class SequenceOf(Template):
    """A list whose items may contain expressions."""

    items: list[Template]

    def render(self, env: Env) -> Any:
        return [value.render(env) for value in self.items]

    def expressions(self, path: Path = ()) -> Iterator[tuple[Path, Expression]]:
        for index, value in enumerate(self.items):
            yield from value.expressions((*path, index))


def split(text: str) -> list[str]:
    """Split text into alternating literal text and expression sources (odd positions)."""
    pieces: list[str] = []
    pos = 0
    while True:
        start = text.find(OPEN, pos)
        if start < 0:
            pieces.append(text[pos:])
            return pieces
        pieces.append(text[pos:start])
        end = _find_close(text, start + len(OPEN))
        if end < 0:
            raise ExpressionError("`${{` is never closed with `}}`", text, start)
        pieces.append(text[start + len(OPEN) : end])
        pos = end + len(CLOSE)


def _find_close(text: str, pos: int) -> int:
    end = text.find(CLOSE, pos)
    if end < 0:
        return -1
    if "'" not in text[pos:end] and '"' not in text[pos:end]:
        return end  # no string literal inside: the first `}}` closes it
    quote = ""
    while pos < len(text):
        char = text[pos]
        if quote:
            if char == "\\" and quote == '"':
                pos += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif text.startswith(CLOSE, pos):
            return pos
        pos += 1
    return -1


def has_expression(value: Any) -> bool:
    """True if a string contains `${{` (cheap test used before compiling)."""
    return isinstance(value, str) and OPEN in value


def compile_value(value: Any) -> Template:
    """Compile data that may contain expressions; raise ExpressionError on the first bad one."""
    if isinstance(value, str):
        if OPEN not in value:
            return Constant(value)
        pieces = split(value)
        if len(pieces) == 3 and not pieces[0].strip() and not pieces[2].strip():
            return Whole(parse(pieces[1]))
        parts = tuple(parse(p) if i % 2 else p for i, p in enumerate(pieces) if i % 2 or p)
        return Interpolated(parts)
    if isinstance(value, dict):
        items = {key: _compile_at(key, item) for key, item in value.items()}
        if not any(item.dynamic for item in items.values()):
            return Constant(value)
        return MappingOf(items)
    if isinstance(value, list):
        compiled = [_compile_at(index, item) for index, item in enumerate(value)]
        if not any(item.dynamic for item in compiled):
            return Constant(value)
        return SequenceOf(compiled)
    return Constant(value)


def _compile_at(key: str | int, value: Any) -> Template:
    try:
        return compile_value(value)
    except ExpressionError as exc:
        exc.path = (key, *exc.path)
        raise
