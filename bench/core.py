"""What every benchmark shares: figures, timing helpers, the table and the JSON report."""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(slots=True)
class Figure:
    """One measured figure, with the baseline it is judged against (if any)."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    higher_is_better: bool = True
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0 or self.value == 0:
            return None
        return self.value / self.baseline

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


Benchmark = Callable[[bool], list[Figure]]


def median_of(runs: int, measure: Callable[[], float]) -> float:
    """The median of `runs` measurements (these machines are noisy)."""
    return statistics.median(measure() for _ in range(runs))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def fmt(value: float, unit: str) -> str:
    if unit in ("s", "ms", "us") or abs(value) < 1000:
        return f"{value:,.3g} {unit}" if abs(value) < 100 else f"{value:,.0f} {unit}"
    return f"{value:,.0f} {unit}"


def table(figures: list[Figure]) -> str:
    """A plain-text table: figure, value, baseline, ratio, target."""
    rows = [("figure", "value", "baseline", "ratio", "target")]
    for f in figures:
        base = f"{fmt(f.baseline, f.unit)} ({f.baseline_name})" if f.baseline is not None else ""
        ratio = f"{f.ratio:.2f}x" if f.ratio is not None else ""
        rows.append((f.name, fmt(f.value, f.unit), base, ratio, f.target))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    import os

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }


def write_report(path: Path, figures: list[Figure], quick: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    report = {"machine": machine(), "quick": quick, "figures": [f.as_dict() for f in figures]}
    path.write_text(json.dumps(report, indent=2) + "\n")
