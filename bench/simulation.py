"""The fault simulation at scale (tests/simulation): as many seeds as fit in a time budget, up
to 10,000, each a world of random workflows run against injected store faults and crashes, with
every invariant checked after. Every seed runs over the memory store, and every SQLITE_EVERY-th
one over the real SQLite store too (a file in a temporary directory; about 5x the time).
Reports the seeds run, the faults injected and the violations (each with its one-line
reproduction)."""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter

from bench.core import Figure
from tests.simulation.harness import reproduction, run_seed

SEEDS = 10_000
SQLITE_EVERY = 2  # even seeds run over SQLite as well
BUDGET = 900.0  # seconds; the count actually run is reported
QUICK_SEEDS = 50


def simulation(quick: bool) -> list[Figure]:
    seeds = QUICK_SEEDS if quick else SEEDS
    logging.disable(logging.CRITICAL)  # injected faults log errors by design
    started = time.perf_counter()
    ran: Counter[str] = Counter()
    seconds: dict[str, float] = {"memory": 0.0, "sqlite": 0.0}
    runs = lives = 0
    faults: Counter[str] = Counter()
    failing: list[str] = []
    try:
        for seed in range(seeds):
            if time.perf_counter() - started > BUDGET:
                break
            stores = ["memory", "sqlite"] if seed % SQLITE_EVERY == 0 else ["memory"]
            for store in stores:
                began = time.perf_counter()
                outcome = run_seed(seed, store)
                seconds[store] += time.perf_counter() - began
                ran[store] += 1
                runs += outcome.runs
                lives += outcome.lives
                faults.update(outcome.faults)
                if outcome.violations:
                    failing.append(f"{store}-{seed}")
                    print(f"seed {seed} ({store}): {outcome.violations[0]}", file=sys.stderr)
                    print(f"  reproduce: {reproduction(seed, store)}", file=sys.stderr)
    finally:
        logging.disable(logging.NOTSET)
    elapsed = time.perf_counter() - started
    note = (
        f"{ran['memory']} seeds over memory, {ran['sqlite']} over SQLite in {elapsed:.0f}s "
        f"(budget {BUDGET:.0f}s), {runs} runs, {lives} coordinator lives (crash + resume), "
        f"faults {dict(faults)}, failing {failing[:20]}"
    )
    return [
        Figure(
            "simulation: seeds run (memory store, fault schedule per seed)",
            ran["memory"],
            "seeds",
            note=note,
        ),
        Figure(
            f"simulation: seeds run over SQLite too (1 in {SQLITE_EVERY})",
            ran["sqlite"],
            "seeds",
        ),
        Figure(
            "simulation: invariant violations (seed x store)",
            len(failing),
            "seeds",
            higher_is_better=False,
            target="0",
        ),
        Figure(
            "simulation: seeds per second, memory",
            ran["memory"] / seconds["memory"] if seconds["memory"] else 0.0,
            "seeds/s",
        ),
        Figure(
            "simulation: seeds per second, SQLite",
            ran["sqlite"] / seconds["sqlite"] if seconds["sqlite"] else 0.0,
            "seeds/s",
        ),
    ]
