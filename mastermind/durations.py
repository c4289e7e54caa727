"""Durations as authors write them: `500ms`, `30s`, `5m`, `1h30m`, `2d`."""

from __future__ import annotations

import functools
import re

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
DURATION_PATTERN = r"^(\d+(\.\d+)?(ms|s|m|h|d))+$"


@functools.lru_cache(maxsize=1024)
def parse_duration(text: str) -> float:
    """Return the number of seconds in `text`; raise ValueError naming the accepted forms."""
    pos = 0
    total = 0.0
    stripped = text.strip()
    for match in _PART.finditer(stripped):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(stripped):
        raise ValueError(f"expected a duration such as 500ms, 30s, 5m or 1h30m, found {text!r}")
    return total


def format_duration(seconds: float) -> str:
    """Render seconds the way an author would write them (inverse of parse_duration)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    parts = []
    remaining = round(seconds, 3)
    for unit in ("d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if remaining >= size:
            count = int(remaining // size)
            parts.append(f"{count}{unit}")
            remaining -= count * size
    if remaining or not parts:
        parts.append(f"{remaining:g}s")
    return "".join(parts)
