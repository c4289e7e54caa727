"""The step DAG: ordering, cycle finding, and drawing it as Mermaid or Graphviz dot."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mastermind.language.loader import Definition


def topological_order(needs: Mapping[str, Sequence[str]]) -> list[str]:
    """Kahn's algorithm, stable in declaration order; steps on a cycle are left out."""
    waiting = {step: len(deps) for step, deps in needs.items()}
    dependents: dict[str, list[str]] = {step: [] for step in needs}
    for step, deps in needs.items():
        for dep in deps:
            dependents[dep].append(step)
    ready = deque(step for step, count in waiting.items() if count == 0)
    order: list[str] = []
    while ready:
        step = ready.popleft()
        order.append(step)
        for child in dependents[step]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    return order


def find_cycle(needs: Mapping[str, Sequence[str]], candidates: set[str]) -> list[str]:
    """One cycle among `candidates` (steps Kahn could not order), in execution order."""
    start = min(candidates, key=list(needs).index)
    path: list[str] = []
    position: dict[str, int] = {}
    step = start
    while step not in position:
        position[step] = len(path)
        path.append(step)
        step = next(dep for dep in needs[step] if dep in candidates)
    cycle = path[position[step] :]
    cycle.reverse()  # present it in execution order: a -> b means b needs a
    order = list(needs)
    first = min(range(len(cycle)), key=lambda i: order.index(cycle[i]))
    return cycle[first:] + cycle[:first]


def _label(definition: Definition, step_id: str) -> str:
    step = definition.steps[step_id].spec
    fan = " ×N" if step.for_each is not None else ""
    return f"{step_id}\\n({step.agent}{fan})"


def to_mermaid(definition: Definition) -> str:
    """The DAG as a Mermaid flowchart."""
    lines = ["flowchart TD"]
    for step_id in definition.order:
        label = _label(definition, step_id).replace("\\n", "<br/>")
        lines.append(f'    {step_id}["{label}"]')
    for step_id in definition.order:
        step = definition.steps[step_id]
        arrow = "-.->" if step.condition is not None else "-->"
        lines.extend(f"    {dep} {arrow} {step_id}" for dep in step.needs)
    return "\n".join(lines) + "\n"


def to_dot(definition: Definition) -> str:
    """The DAG in Graphviz dot."""
    lines = [f'digraph "{definition.name}" {{', "    rankdir=TB;", "    node [shape=box];"]
    for step_id in definition.order:
        lines.append(f'    "{step_id}" [label="{_label(definition, step_id)}"];')
    for step_id in definition.order:
        step = definition.steps[step_id]
        style = " [style=dashed]" if step.condition is not None else ""
        lines.extend(f'    "{dep}" -> "{step_id}"{style};' for dep in step.needs)
    lines.append("}")
    return "\n".join(lines) + "\n"
