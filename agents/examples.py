"""Small functions the example workflows call through the `python` and `cpu` agents."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

_calls: Counter[str] = Counter()


def word_stats(texts: list[str] | str) -> dict[str, Any]:
    """Count words across texts: total, distinct, and the five most common."""
    if isinstance(texts, str):
        texts = [texts]
    words = [w.lower() for text in texts for w in re.findall(r"[A-Za-z']+", str(text))]
    counts = Counter(words)
    return {
        "words": len(words),
        "distinct": len(counts),
        "top": [word for word, _ in counts.most_common(5)],
    }


def shout(text: str) -> str:
    """Upper-case a string."""
    return text.upper()


async def add(a: float, b: float) -> float:
    """An async function: awaited by the python agent."""
    return a + b


def flaky(key: str, failures: int) -> dict[str, Any]:
    """Fail (retryably) the first `failures` calls for `key` in this process, then succeed."""
    from mastermind.errors import RetryableStepError

    _calls[key] += 1
    if _calls[key] <= failures:
        raise RetryableStepError(f"transient failure {_calls[key]} of {failures} for {key}")
    return {"key": key, "calls": _calls[key]}


def fib(n: int) -> int:
    """Deliberately slow Fibonacci: CPU work for the process pool."""
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def die(code: int = 3) -> None:
    """End the worker process abruptly, as a crashing C extension would."""
    import os

    os._exit(code)


def spin(seconds: float) -> float:
    """Busy-loop for `seconds` of CPU time; returns the seconds spun."""
    import time

    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
    return seconds


def pid() -> int:
    """The worker's process id."""
    import os

    return os.getpid()
