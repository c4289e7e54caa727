"""Backoff between attempts: exponential, linear or constant, capped, with full jitter."""

from __future__ import annotations

import random

from mastermind.language.model import RetryPolicy

NO_RETRY = RetryPolicy(attempts=1)


def backoff_delay(policy: RetryPolicy, failed_attempt: int, rng: random.Random) -> float:
    """Seconds to wait after attempt number `failed_attempt` (1-based) failed.

    Full jitter (a uniform draw between 0 and the capped delay) spreads retries of many steps
    that failed together, so they do not hit a recovering service in lockstep.
    """
    if policy.backoff == "exponential":
        delay = policy.initial * 2 ** min(failed_attempt - 1, 62)
    elif policy.backoff == "linear":
        delay = policy.initial * failed_attempt
    else:
        delay = policy.initial
    delay = min(delay, policy.max)
    return rng.uniform(0.0, delay) if policy.jitter else delay
