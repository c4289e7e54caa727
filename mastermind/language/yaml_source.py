"""Safe YAML with positions and limits.

PyYAML's composer recurses (the C one segfaults on deep nesting) and expands aliases eagerly, so
we build values straight from the parser's event stream: iteratively, with a depth limit, a budget
on nodes counted through alias expansion (an alias bomb fails after a few thousand steps, not
gigabytes), only the core-schema tags, duplicate keys rejected, and the line and column of every
key and value remembered so later errors can point at them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.resolver import Resolver

from mastermind.errors import Problem, WorkflowError

try:  # libyaml's parser is several times faster; fall back to the pure-Python one.
    _Loader: type[Any] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

PathKey = str | int
Path = tuple[PathKey, ...]

_CORE = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null", "map", "seq")}
_MERGE_TAG = _CORE + "merge"
_TIMESTAMP_TAG = _CORE + "timestamp"
_resolver = Resolver()
_constructor = SafeConstructor()


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what a workflow file may cost to read."""

    max_bytes: int = 1024 * 1024
    max_depth: int = 64
    max_nodes: int = 200_000  # counted through alias expansion


@dataclass(slots=True)
class Source:
    """A parsed YAML document and where each of its parts came from.

    Marks are kept per container (by identity), key → (key mark, value mark), and turned into
    positions only when an error needs one: cheaper than a path for every node.
    """

    file: str
    text: str
    data: Any
    marks: dict[int, dict[Any, tuple[Any, Any]]] = field(default_factory=dict)
    root_mark: Any = None

    def position(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """Line and column (1-based) of the value (or key) at `path`, or of its nearest ancestor."""
        found = self.root_mark
        container = self.data
        for depth, part in enumerate(path):
            entry = self.marks.get(id(container), {}).get(part)
            if entry is None:
                break
            key_mark, value_mark = entry
            found = (
                key_mark if key and depth == len(path) - 1 and key_mark is not None else value_mark
            )
            try:
                container = container[part]
            except (KeyError, IndexError, TypeError):
                break
        return (found.line + 1, found.column + 1) if found is not None else (1, 1)

    def problem(self, path: Path, message: str, *, key: bool = False) -> Problem:
        line, column = self.position(path, key=key)
        return Problem(self.file, line, column, format_path(path), message)


def format_path(path: Path) -> str:
    """`("steps", "fetch", "needs", 0)` → `steps.fetch.needs[0]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class _Frame:
    __slots__ = (
        "anchor",
        "container",
        "explicit_keys",
        "is_list",
        "key",
        "key_mark",
        "marks",
        "nodes_at_start",
        "path",
    )

    def __init__(self, container: Any, path: Path, anchor: str | None, nodes: int) -> None:
        self.container = container
        self.is_list = isinstance(container, list)
        self.path = path
        self.anchor = anchor
        self.nodes_at_start = nodes
        self.key: Any = _NO_KEY
        self.key_mark: Any = None
        self.explicit_keys: set[Any] = set()
        self.marks: dict[Any, tuple[Any, Any]] = {}


_NO_KEY = object()


class _Fail(Exception):
    def __init__(self, mark: Any, path: Path, message: str) -> None:
        self.mark = mark
        self.path = path
        self.message = message


def load_yaml(text: str | bytes, file: str, limits: Limits | None = None) -> Source:
    """Parse one YAML document safely; raise WorkflowError with a positioned problem on failure."""
    limits = limits or Limits()
    size = len(text.encode() if isinstance(text, str) else text)
    if size > limits.max_bytes:
        raise WorkflowError(
            [
                Problem(
                    file,
                    1,
                    1,
                    "",
                    f"file is {size} bytes; the limit is {limits.max_bytes} bytes",
                )
            ]
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WorkflowError(
                [Problem(file, 1, 1, "", f"file is not valid UTF-8 ({exc.reason})")]
            ) from None
    source = Source(file=file, text=text, data=None)
    try:
        source.data = _build(text, source, limits)
    except _Fail as fail:
        line, column = _pos(fail.mark) if fail.mark is not None else (1, 1)
        raise WorkflowError(
            [Problem(file, line, column, format_path(fail.path), fail.message)]
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = _pos(mark) if mark is not None else (1, 1)
        what = exc.problem or exc.context or "malformed YAML"
        if "maximum nesting depth" in what:
            # libyaml >= 0.2.6 stops at 1000 levels while scanning ahead, before our own
            # (lower) limit sees the events: report it as the same limit either way
            what = f"nesting is deeper than {limits.max_depth} levels"
        else:
            what = f"invalid YAML: {what}"
        raise WorkflowError([Problem(file, line, column, "", what)]) from None
    except yaml.YAMLError as exc:
        raise WorkflowError([Problem(file, 1, 1, "", f"invalid YAML: {exc}")]) from None
    return source


def _pos(mark: Any) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


def _build(text: str, source: Source, limits: Limits) -> Any:
    stack: list[_Frame] = []
    anchors: dict[str, tuple[Any, int]] = {}
    nodes = 0
    documents = 0
    result: Any = None

    def place(value: Any, mark: Any) -> bool:
        """Attach a finished value to its parent; False when it was a mapping key."""
        nonlocal result
        if not stack:
            result = value
            source.root_mark = mark
            return True
        frame = stack[-1]
        container = frame.container
        if frame.is_list:
            frame.marks[len(container)] = (None, mark)
            container.append(value)
            return True
        key = frame.key
        if key is _NO_KEY:
            if isinstance(value, (dict, list)):
                raise _Fail(mark, frame.path, "mapping keys must be plain scalars")
            if value in frame.explicit_keys:
                raise _Fail(mark, (*frame.path, value), f"duplicate key {value!r}")
            frame.key = value
            frame.key_mark = mark
            return False
        frame.key = _NO_KEY
        if key is _MERGE:
            _merge(container, frame, value, mark)
            return True
        frame.explicit_keys.add(key)
        container[key] = value
        frame.marks[key] = (frame.key_mark, mark)
        return True

    def here() -> Path:
        """The path the next value will get (for error messages)."""
        if not stack:
            return ()
        frame = stack[-1]
        if frame.is_list:
            return (*frame.path, len(frame.container))
        if frame.key is _NO_KEY or frame.key is _MERGE:
            return frame.path
        return (*frame.path, frame.key)

    scalar_event = yaml.ScalarEvent
    end_events = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    start_events = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
    parser = _Loader(text)
    next_event = parser.get_event  # cheaper than the yaml.parse generator, per event
    try:
        while (event := next_event()) is not None:
            kind = type(event)
            if kind is scalar_event:  # most events: keep this path short
                nodes += 1
                value = _scalar(event, here)
                place(value, event.start_mark)
                if event.anchor:
                    anchors[event.anchor] = (value, 1)
            elif kind in end_events:
                frame = stack.pop()
                if frame.anchor:
                    anchors[frame.anchor] = (frame.container, nodes - frame.nodes_at_start + 1)
            elif kind in start_events:
                nodes += 1
                if len(stack) >= limits.max_depth:
                    raise _Fail(
                        event.start_mark,
                        stack[-1].path if stack else (),
                        f"nesting is deeper than {limits.max_depth} levels",
                    )
                _check_tag(event, here())
                if stack and stack[-1].key is _MERGE:
                    raise _Fail(
                        event.start_mark,
                        stack[-1].path,
                        "a merge key (<<) takes an alias to a mapping, such as <<: *defaults",
                    )
                container: Any = {} if kind is yaml.MappingStartEvent else []
                path = here()
                if not place(container, event.start_mark):  # a collection used as a key
                    raise _Fail(
                        event.start_mark, stack[-1].path, "mapping keys must be plain scalars"
                    )
                frame = _Frame(container, path, event.anchor, nodes)
                source.marks[id(container)] = frame.marks
                stack.append(frame)
            elif kind is yaml.AliasEvent:
                if event.anchor not in anchors:
                    raise _Fail(
                        event.start_mark,
                        stack[-1].path if stack else (),
                        f"unknown alias *{event.anchor}",
                    )
                value, size = anchors[event.anchor]
                nodes += size
                place(value, event.start_mark)
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _Fail(event.start_mark, (), "expected one YAML document, found several")
            if nodes > limits.max_nodes:
                raise _Fail(
                    getattr(event, "start_mark", None),
                    stack[-1].path if stack else (),
                    f"document expands to more than {limits.max_nodes} nodes "
                    "(an alias bomb?); refusing to read further",
                )
    finally:
        parser.dispose()
    return result


_MERGE = object()


def _merge(container: dict[Any, Any], frame: _Frame, value: Any, mark: Any) -> None:
    sources = value if isinstance(value, list) else [value]
    for item in sources:
        if not isinstance(item, dict):
            raise _Fail(mark, frame.path, "a merge key (<<) takes a mapping or a list of mappings")
        for key, merged in item.items():
            if key not in frame.explicit_keys and key not in container:
                container[key] = merged
                frame.marks[key] = (mark, mark)  # the alias is where this key came from


def _check_tag(event: Any, path: Path) -> None:
    tag = event.tag
    if tag is None or tag == "!" or tag in _ALLOWED_TAGS:
        return
    raise _Fail(event.start_mark, path, f"tag {_short_tag(tag)} is not allowed; use plain YAML")


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag


_plain_cache: dict[str, Any] = {}  # plain scalar text → value (all immutable)


def _scalar(event: Any, here: Callable[[], Path]) -> Any:
    tag = event.tag
    plain = event.implicit[0]
    if tag is None:
        if not plain:
            return event.value  # quoted: always a string
        cached = _plain_cache.get(event.value, _NO_KEY)
        if cached is not _NO_KEY:
            return cached
    value = _construct(event, tag, plain, here)
    if tag is None and plain and value is not _MERGE and len(_plain_cache) < 50_000:
        _plain_cache[event.value] = value
    return value


def _construct(event: Any, tag: str | None, plain: bool, here: Callable[[], Path]) -> Any:
    if tag is None or tag == "!":
        tag = _resolver.resolve(yaml.ScalarNode, event.value, (plain, False))  # type: ignore[no-untyped-call]
        if tag is None or (tag == "!" and not plain):
            tag = _CORE + "str"
    if tag == _MERGE_TAG:
        return _MERGE
    if tag == _TIMESTAMP_TAG:  # dates stay text: step data must be JSON-able
        return event.value
    if tag not in _ALLOWED_TAGS or tag in (_CORE + "map", _CORE + "seq"):
        raise _Fail(
            event.start_mark, here(), f"tag {_short_tag(tag)} is not allowed; use plain YAML"
        )
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark)
    try:
        return _constructor.yaml_constructors[tag](_constructor, node)
    except (ConstructorError, ValueError) as exc:
        raise _Fail(
            event.start_mark, here(), f"cannot read {event.value!r} as {tag[len(_CORE) :]}: {exc}"
        ) from None
