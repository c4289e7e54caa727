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
