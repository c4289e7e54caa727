"""Server-side drawing geometry: the DAG in layers, and the timeline of attempts.

The DAG is laid out left to right: a step's layer is one more than the deepest step it needs
(read off the topological order), and within a layer steps are ordered by the mean row of what
they need (one barycentre sweep), which removes most edge crossings of real workflows without
a layout library. Everything here is plain numbers; the templates turn them into SVG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

NODE_W, NODE_H = 184, 64
GAP_X, GAP_Y = 64, 30
PAD = 12


@dataclass(frozen=True, slots=True)
class Placed:
    id: str
    layer: int
    row: int
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    path: str  # an SVG path: a cubic curve from the source's right edge to the target's left


@dataclass(frozen=True, slots=True)
class DagLayout:
    nodes: list[Placed]
    edges: list[Edge]
    width: int
    height: int
    node_w: int = NODE_W
    node_h: int = NODE_H


def layers(order: Sequence[str], needs: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Layer of each step: 0 without needs, else one more than its deepest need."""
    layer: dict[str, int] = {}
    for step in order:  # topological: every need is placed before the step
        layer[step] = 1 + max((layer[n] for n in needs.get(step, ())), default=-1)
    return layer


def layout_dag(order: Sequence[str], needs: Mapping[str, Sequence[str]]) -> DagLayout:
    """Place every step of a DAG given in topological order."""
    layer = layers(order, needs)
    columns: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for step in order:
        columns[layer[step]].append(step)
    row: dict[str, int] = {}
    position = {step: i for i, step in enumerate(order)}
    for column in columns:

        def weight(step: str) -> tuple[float, int]:
            above = [row[n] for n in needs.get(step, ()) if n in row]
            centre = sum(above) / len(above) if above else float(position[step])
            return (centre, position[step])

        column.sort(key=weight)
        for index, step in enumerate(column):
            row[step] = index
    tallest = max((len(c) for c in columns), default=0)
    height = PAD * 2 + tallest * NODE_H + max(tallest - 1, 0) * GAP_Y
    nodes: dict[str, Placed] = {}
    for index, column in enumerate(columns):
        # centre short columns vertically so edges stay short
        offset = (tallest - len(column)) * (NODE_H + GAP_Y) // 2
        for r, step in enumerate(column):
            nodes[step] = Placed(
                step,
                index,
                r,
                PAD + index * (NODE_W + GAP_X),
                PAD + offset + r * (NODE_H + GAP_Y),
            )
    edges = []
    for step in order:
        target = nodes[step]
        for need in needs.get(step, ()):
            source = nodes[need]
            x1, y1 = source.x + NODE_W, source.y + NODE_H // 2
            x2, y2 = target.x - 6, target.y + NODE_H // 2  # leave room for the arrow head
            bend = max((x2 - x1) // 2, 16)
            path = f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"
            edges.append(Edge(need, step, path))
    width = PAD * 2 + len(columns) * NODE_W + max(len(columns) - 1, 0) * GAP_X
    return DagLayout([nodes[s] for s in order], edges, width, height)


# ---------------------------------------------------------------------------------- timeline

ROW_H, LABEL_W, CHART_W = 22, 190, 900


@dataclass(frozen=True, slots=True)
class Bar:
    row: int
    x: float
    width: float
    status: str
    title: str


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class TimelineLayout:
    labels: list[str]
    bars: list[Bar]
    ticks: list[Tick]
    width: int
    height: int
    label_w: int = LABEL_W
    row_h: int = ROW_H


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt of one step instance, in wall-clock seconds."""

    attempt: int
    started: float
    finished: float | None
    status: str
    error: str | None = None


def layout_timeline(
    rows: Sequence[tuple[str, Sequence[Attempt]]], start: float, end: float
) -> TimelineLayout:
    """A Gantt chart: one row per step instance, one bar per attempt; unfinished attempts
    reach `end` (now)."""
    span = max(end - start, 1e-3)
    scale = CHART_W / span
    bars = []
    for index, (_, attempts) in enumerate(rows):
        for a in attempts:
            stop = a.finished if a.finished is not None else end
            x = LABEL_W + (a.started - start) * scale
            width = max((stop - a.started) * scale, 2.0)  # an instant attempt stays visible
            what = f"attempt {a.attempt}: {a.status}, {format_seconds(stop - a.started)}"
            if a.error:
                what += f", {a.error[:200]}"
            bars.append(Bar(index, round(x, 1), round(width, 1), a.status, what))
    step = _tick_step(span)
    ticks = [
        Tick(round(LABEL_W + t * scale, 1), format_seconds(t))
        for t in (i * step for i in range(int(span / step) + 1))
    ]
    height = ROW_H * (len(rows) + 1) + 4
    return TimelineLayout([label for label, _ in rows], bars, ticks, LABEL_W + CHART_W + 48, height)


def _tick_step(span: float) -> float:
    """A round interval giving 4 to 10 ticks over `span` seconds."""
    for step in (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300,
                 600, 900, 1800, 3600, 7200, 14400, 28800, 86400):  # fmt: skip
        if span / step <= 10:
            return step
    return span / 10


def format_seconds(seconds: float) -> str:
    """Durations for people: 850 ms, 4.2 s, 3 min 5 s, 2 h 10 min."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    if seconds < 3600:
        minutes, rest = divmod(int(seconds), 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(int(seconds) // 60, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"
