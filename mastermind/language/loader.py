"""From YAML text to a checked, compiled Definition — or a list of precise problems.

Three passes, each reporting every problem it finds with file, line, column and field path:
1. safe YAML with positions and limits (yaml_source);
2. shape and types (the pydantic models in `model`);
3. meaning: `needs` name steps, no cycles, agents exist, `with:` fits the agent, every
   expression parses and reads only what is in scope where it stands.
"""

from __future__ import annotations

import difflib
import gc
import hashlib
import logging
import os
import types
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from pydantic import BaseModel, ValidationError

from mastermind.errors import (
    ExpressionError,
    MastermindError,
    Problem,
    UnknownAgentError,
    WorkflowError,
)
from mastermind.language.catalog import AgentCatalog, AgentSpec, UnresolvedAgent
from mastermind.language.expressions import STATUS_FUNCTIONS
from mastermind.language.graph import find_cycle, topological_order
from mastermind.language.model import CRON_PATTERN, RetryPolicy, Step, Workflow
from mastermind.language.templates import Constant, Template, compile_value, has_expression
from mastermind.language.yaml_source import Limits, Path, Source, format_path, load_yaml

WORKFLOW_SUFFIXES = (".yaml", ".yml")
READ_CHUNK = 4096  # steps read from afar, checked per pass (bits per bitset)
log = logging.getLogger(__name__)


@dataclass(slots=True)
class CompiledStep:
    """A step ready to run: its spec, its agent class and its compiled expressions."""

    id: str
    spec: Step
    agent: AgentSpec
    needs: tuple[str, ...]
    dependents: tuple[str, ...]
    condition: Template | None
    condition_checks_status: bool  # uses always()/failure()/...: evaluated even after a failure
    for_each: Template | None
    params: Template
    params_per_item: bool  # `with:` reads item/index: render it for every instance
    outputs: Template | None
    retry: RetryPolicy | None
    timeout: float | None


@dataclass(slots=True)
class Definition:
    """A loaded workflow: the validated spec, compiled steps, and the exact text it came from."""

    spec: Workflow
    file: str
    text: str
    digest: str
    steps: dict[str, CompiledStep]
    order: tuple[str, ...]
    outputs: Template
    location: str = ""  # absolute path of the file, if it came from one

    @property
    def name(self) -> str:
        return self.spec.name


def load_file(
    path: str | FsPath, registry: AgentCatalog, limits: Limits | None = None
) -> Definition:
    """Load one workflow file; raise WorkflowError listing every problem."""
    limits = limits or Limits()
    file = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(limits.max_bytes + 1)
            if len(data) > limits.max_bytes:
                size = FsPath(path).stat().st_size
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
    except OSError as exc:
        raise WorkflowError([Problem(file, 0, 0, "", f"cannot read: {exc.strerror}")]) from None
    definition = load_text(data, file, registry, limits)
    definition.location = os.path.abspath(path)
    return definition


def load_text(
    text: str | bytes, file: str, registry: AgentCatalog, limits: Limits | None = None
) -> Definition:
    """Load a workflow from text; `file` names it in errors. Raises only WorkflowError."""
    collecting = gc.isenabled()
    gc.disable()  # loading builds many objects and no cycles worth collecting meanwhile
    try:
        return _load_text(text, file, registry, limits)
    except WorkflowError:
        raise
    except Exception as exc:  # a limit we missed (RecursionError...): still a positioned problem
        log.exception("%s: unexpected error while loading", file)
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise WorkflowError([Problem(file, 1, 1, "", f"cannot load this file: {what}")]) from None
    finally:
        if collecting:
            gc.enable()


def _load_text(
    text: str | bytes, file: str, registry: AgentCatalog, limits: Limits | None
) -> Definition:
    source = load_yaml(text, file, limits)
    if not isinstance(source.data, dict):
        found = "an empty file" if source.data is None else f"a {type(source.data).__name__}"
        raise WorkflowError(
            [source.problem((), f"expected a mapping with `name` and `steps`, found {found}")]
        )
    try:
        spec = Workflow.model_validate(source.data)
    except ValidationError as exc:
        raise WorkflowError(list(_shape_problems(exc, source, Workflow))) from None
    return _compile(spec, source, registry)


def workflow_files(paths: Iterable[str | FsPath]) -> list[FsPath]:
    """Expand folders to the workflow files inside them (sorted); files are kept as given."""
    found: list[FsPath] = []
    for raw in paths:
        path = FsPath(raw)
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.suffix in WORKFLOW_SUFFIXES and p.is_file())
            )
        else:
            found.append(path)
    return found


# ---------------------------------------------------------------------------------------- shape


def shape_problems(exc: ValidationError, source: Source, model: type[BaseModel]) -> list[Problem]:
    """Positioned problems, with a did-you-mean for misspelt fields, for a pydantic error about
    `source`'s data validated as `model` (the daemon's config uses it too)."""
    return list(_shape_problems(exc, source, model))


def _shape_problems(
    exc: ValidationError, source: Source, model: type[BaseModel], prefix: Path = ()
) -> Iterator[Problem]:
    seen: set[tuple[Path, str]] = set()
    data = _at(source.data, prefix)
    errors = exc.errors(include_url=False)
    # A misspelt field shows up twice: unknown `agnet` and missing `agent`. Say it once.
    suggested: set[Path] = set()
    for error in errors:
        if error["type"] == "extra_forbidden":
            path, _ = _data_path(data, error["loc"])
            match = _closest(str(path[-1]), _field_names(model, path[:-1]))
            if match:
                suggested.add((*path[:-1], match))
    for error in errors:
        path, on_key = _data_path(data, error["loc"])
        kind = error["type"]
        if kind == "missing":
            name = str(error["loc"][-1])
            if path and path[-1] == name:
                if path in suggested:
                    continue
                path = path[:-1]
            problem = source.problem((*prefix, *path), f"required field {name!r} is missing")
        elif kind == "extra_forbidden":
            name = str(path[-1])
            known = _field_names(model, path[:-1])
            message = f"unknown field {name!r}" + _did_you_mean(name, known)
            if known:
                message += f"; expected one of: {', '.join(sorted(known))}"
            problem = source.problem((*prefix, *path), message, key=True)
        else:
            problem = source.problem((*prefix, *path), _message(error), key=on_key)
        if ((*prefix, *path), problem.message) not in seen:
            seen.add(((*prefix, *path), problem.message))
            yield problem


def _at(data: Any, path: Path) -> Any:
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return None  # e.g. `with:` absent: the agent's Params saw {}
    return data


def _data_path(data: Any, loc: tuple[int | str, ...]) -> tuple[Path, bool]:
    """Keep the parts of a pydantic location that name real places in the data."""
    path: list[str | int] = []
    current = data
    on_key = False
    for part in loc:
        if part == "[key]":
            on_key = True
            continue
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_dict or in_list:
            path.append(part)
            current = current[part]
        elif isinstance(current, dict) and not isinstance(part, int) and not _is_tag(part):
            path.append(part)  # a missing or unknown field: name it
            current = None
    return tuple(path), on_key


def _is_tag(part: str | int) -> bool:
    # pydantic adds union members and validator names to locations: `str`, `function-after[...]`
    return isinstance(part, str) and ("[" in part or part in {"str", "bool", "int", "list[any]"})


_PATTERN_WORDS = {
    CRON_PATTERN: "a cron schedule of five fields, such as '*/5 * * * *'",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "an identifier (letters, digits and _, not starting with a digit)",
    r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$": "a name (letters, digits, _, . and -)",
}


def _message(error: Any) -> str:
    kind = error["type"]
    value = error.get("input")
    found = f", found {_show(value)}"
    ctx = error.get("ctx") or {}
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "expected an integer" + found
    if kind in ("bool_type", "bool_parsing"):
        return "expected true or false" + found
    if kind in ("string_type",):
        return "expected a string" + found
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "expected a mapping" + found
    if kind == "list_type":
        return "expected a list" + found
    if kind == "literal_error":
        return f"expected {ctx.get('expected', 'one of the listed values')}{found}"
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern", "")
        return f"expected {_PATTERN_WORDS.get(pattern, f'text matching {pattern}')}{found}"
    message = str(error["msg"])
    message = message[0].lower() + message[1:]
    return message + (found if not isinstance(value, (dict, list)) else "")


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _closest(word: str, choices: Iterable[str]) -> str | None:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return match[0] if match else None


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    match = _closest(word, choices)
    return f" (did you mean {match!r}?)" if match else ""


def _field_names(model: type[BaseModel], path: Path) -> set[str]:
    """The field names (as written in YAML) of the model that sits at `path` below `model`."""
    current: Any = model
    for part in path:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next(
                (f for n, f in current.model_fields.items() if (f.alias or n) == part), None
            )
            if field is None:
                return set()
            current = field.annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        elif typing.get_origin(current) is list:
            current = typing.get_args(current)[0]
        else:
            return set()
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return {f.alias or n for n, f in current.model_fields.items()}
    return set()


def _unwrap(annotation: Any) -> Any:
    """Strip Optional and Annotated wrappers."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


# ---------------------------------------------------------------------------------------- meaning


class _Checker:
    def __init__(self, spec: Workflow, source: Source, registry: AgentCatalog) -> None:
        self.spec = spec
        self.source = source
        self.registry = registry
        self.problems: list[Problem] = []
        self.needs: dict[str, tuple[str, ...]] = {}
        self.order: tuple[str, ...] = ()
        # reads of a step that is not a direct need: checked together, once every step is known
        self._transitive_reads: list[tuple[Path, str, str]] = []  # (where, reader, target)

    def fail(self, path: Path, message: str, *, key: bool = False) -> None:
        self.problems.append(self.source.problem(path, message, key=key))

    def check_graph(self) -> tuple[str, ...]:
        steps = self.spec.steps
        for step_id, step in steps.items():
            known: list[str] = []
            for index, name in enumerate(step.needs):
                path = ("steps", step_id, "needs", index)
                if name == step_id:
                    self.fail(path, "a step cannot need itself")
                elif name not in steps:
                    self.fail(path, f"no step named {name!r}" + _did_you_mean(name, steps.keys()))
                else:
                    known.append(name)
            self.needs[step_id] = tuple(known)
        order = topological_order(self.needs)
        if len(order) < len(self.needs):
            cycle = find_cycle(self.needs, set(self.needs) - set(order))
            self.fail(
                ("steps", cycle[0], "needs"),
                f"steps form a cycle: {' -> '.join([*cycle, cycle[0]])}",
            )
            return ()
        self.order = tuple(order)
        return self.order

    def check_transitive_reads(self) -> None:
        """Is each step read through `steps.X` upstream of its reader? Linear in the workflow:
        bitsets over the steps that are read (at most READ_CHUNK at a time), built in one pass
        in topological order per chunk. (Keeping every step's set of ancestors, as this once
        did, grew with the square of a chain's length: 3 GB for 11,000 steps.)"""
        if not self.order:
            return  # a cycle: already reported, and "upstream" means nothing
        targets = sorted({target for _, _, target in self._transitive_reads})
        for start in range(0, len(targets), READ_CHUNK):
            chunk = {name: bit for bit, name in enumerate(targets[start : start + READ_CHUNK])}
            above: dict[str, int] = {}  # step → bitset of the chunk's steps upstream of it
            for step_id in self.order:
                bits = 0
                for need in self.needs[step_id]:
                    bits |= above[need]
                    if need in chunk:
                        bits |= 1 << chunk[need]
                above[step_id] = bits
            for where, reader, target in self._transitive_reads:
                if target in chunk and not above[reader] >> chunk[target] & 1:
                    self.fail(
                        where,
                        f"step {reader!r} reads {target!r}, which is not upstream; add "
                        f"{target!r} to its needs (directly or through another step)",
                    )

    def agent(self, step_id: str, step: Step) -> AgentSpec | None:
        try:
            return self.registry.get(step.agent)
        except UnknownAgentError as exc:
            names = self.registry.names()
            if step.agent in names:
                self.fail(("steps", step_id, "agent"), str(exc))
            else:
                self.fail(
                    ("steps", step_id, "agent"),
                    f"unknown agent {step.agent!r}"
                    + _did_you_mean(step.agent, names)
                    + f"; known agents: {', '.join(names)}",
                )
            return None

    def check_params(self, step_id: str, step: Step, agent: AgentSpec) -> None:
        for name in agent.literal_fields:
            value = step.with_.get(name)
            if any(has_expression(v) for _, v in _walk(value, ())):
                self.fail(
                    ("steps", step_id, "with", name),
                    f"{name} must be written literally, without ${{{{ }}}}; pass data to it "
                    "through `env` instead",
                )
        try:
            # "loading": validators that do expensive checks of literal values (the socratic
            # agent reads its premises) do them here, once, and not for every run
            agent.Params.model_validate(step.with_, context={"loading": True})
        except ValidationError as exc:
            prefix = ("steps", step_id, "with")
            for problem in _shape_problems(exc, self.source, agent.Params, prefix):
                if not self._inside_expression(problem, step.with_, prefix):
                    self.problems.append(problem)

    def _inside_expression(self, problem: Problem, data: Any, prefix: Path) -> bool:
        # A field that holds an expression is checked after rendering, at run time.
        for path, value in _walk(data, prefix):
            if has_expression(value) and (
                problem.field == format_path(path)
                or problem.field.startswith(format_path(path) + ".")
                or problem.field.startswith(format_path(path) + "[")
            ):
                return True
        return False

    def compile(
        self, path: Path, value: Any, *, roots: set[str], step_id: str | None = None
    ) -> Template:
        """Compile a value's expressions and check what they read; Constant(None) if broken."""
        try:
            template = compile_value(value)
        except ExpressionError as exc:
            self.fail((*path, *exc.path), f"bad expression: {exc.message}")
            return Constant(None)
        for rel, expression in template.expressions():
            where = (*path, *rel)
            for ref in expression.reads:
                self._check_reference(where, ref, roots, step_id)
            if path[-1] != "if":
                for name in expression.calls & STATUS_FUNCTIONS:
                    self.fail(where, f"{name}() may only be used in `if:`")
        return template

    def _check_reference(
        self, path: Path, ref: tuple[str, ...], roots: set[str], step_id: str | None
    ) -> None:
        root = ref[0]
        if root not in roots:
            if root in ("item", "index"):
                self.fail(path, f"`{root}` is only defined in a step with `for_each`")
            elif root == "result":
                self.fail(path, "`result` is only defined in a step's `outputs`")
            else:
                self.fail(
                    path,
                    f"unknown name {root!r}"
                    + _did_you_mean(root, roots)
                    + f"; expressions here may read: {', '.join(sorted(roots))}",
                )
            return
        if root == "inputs" and len(ref) > 1 and ref[1] not in self.spec.inputs:
            declared = ", ".join(sorted(self.spec.inputs)) or "none"
            self.fail(
                path,
                f"input {ref[1]!r} is not declared"
                + _did_you_mean(ref[1], self.spec.inputs)
                + f" (declared inputs: {declared})",
            )
        if root == "steps" and len(ref) > 1:
            target = ref[1]
            if target not in self.spec.steps:
                self.fail(
                    path, f"no step named {target!r}" + _did_you_mean(target, self.spec.steps)
                )
            elif step_id is not None and target == step_id:
                self.fail(path, "a step cannot read itself")
            elif step_id is not None and target not in self.needs.get(step_id, ()):
                self._transitive_reads.append((path, step_id, target))
            if len(ref) > 2 and ref[2] not in ("outputs", "status"):
                self.fail(path, f"steps.{target} has `outputs` and `status`, not {ref[2]!r}")


def _walk(data: Any, path: Path) -> Iterator[tuple[Path, Any]]:
    yield path, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _walk(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _walk(value, (*path, index))


def _compile(spec: Workflow, source: Source, registry: AgentCatalog) -> Definition:
    check = _Checker(spec, source, registry)
    order = check.check_graph()
    base_roots = {"inputs", "steps", "run", "secrets"}
    compiled: dict[str, CompiledStep] = {}
    dependents: dict[str, list[str]] = {step_id: [] for step_id in spec.steps}
    for step_id, needs in check.needs.items():
        for name in needs:
            dependents[name].append(step_id)
    for step_id, step in spec.steps.items():
        base = ("steps", step_id)
        agent = check.agent(step_id, step)
        if agent is not None:
            check.check_params(step_id, step, agent)
        item_roots = base_roots | ({"item", "index"} if step.for_each is not None else set())
        condition = None
        if step.if_ is not None:
            condition = check.compile(
                (*base, "if"), _as_condition(step.if_), roots=base_roots, step_id=step_id
            )
        for_each = None
        if step.for_each is not None:
            for_each = check.compile(
                (*base, "for_each"), step.for_each, roots=base_roots, step_id=step_id
            )
        params = check.compile((*base, "with"), step.with_, roots=item_roots, step_id=step_id)
        outputs = None
        if step.outputs:
            outputs = check.compile(
                (*base, "outputs"), step.outputs, roots=item_roots | {"result"}, step_id=step_id
            )
        compiled[step_id] = CompiledStep(
            id=step_id,
            spec=step,
            agent=agent or UnresolvedAgent(),
            needs=check.needs.get(step_id, ()),
            dependents=tuple(dependents[step_id]),
            condition=condition,
            condition_checks_status=condition is not None
            and any(e.calls & STATUS_FUNCTIONS for _, e in condition.expressions()),
            for_each=for_each,
            params=params,
            params_per_item=any(
                ref[0] in ("item", "index") for _, e in params.expressions() for ref in e.reads
            ),
            outputs=outputs,
            retry=step.retry or spec.retry,
            timeout=step.timeout,
        )
    outputs = check.compile(("outputs",), spec.outputs, roots=base_roots)
    check.check_transitive_reads()
    for index, trigger in enumerate(spec.triggers):
        for key, value in trigger.inputs.items():
            if key not in spec.inputs:
                check.fail(
                    ("triggers", index, "inputs", key),
                    f"input {key!r} is not declared" + _did_you_mean(key, spec.inputs),
                    key=True,
                )
            elif has_expression(value):
                check.fail(("triggers", index, "inputs", key), "trigger inputs are plain values")
    if check.problems:
        raise WorkflowError(check.problems)
    text = source.text
    return Definition(
        spec=spec,
        file=source.file,
        text=text,
        digest=hashlib.sha256(text.encode()).hexdigest(),
        steps=compiled,
        order=order,
        outputs=outputs,
    )


def _as_condition(value: str | bool) -> Any:
    # A bare `if: steps.a.outputs.ok` (no ${{ }}) is an expression too, as authors expect.
    if isinstance(value, str) and "${{" not in value:
        return "${{ " + value + " }}"
    return value


class LoadReport:
    """Loading many files: the definitions that loaded, the problems of those that did not."""

    def __init__(self) -> None:
        self.definitions: list[Definition] = []
        self.problems: list[Problem] = []

    def add(self, path: FsPath, registry: AgentCatalog, limits: Limits | None = None) -> None:
        try:
            self.definitions.append(load_file(path, registry, limits))
        except WorkflowError as exc:
            self.problems.extend(exc.problems)
        except MastermindError as exc:  # never let one file stop the others
            self.problems.append(Problem(str(path), 0, 0, "", str(exc)))
