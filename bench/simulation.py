"""The fault simulation at scale (tests/simulation): as many seeds as fit in a time budget, up
to 10,000, each a world of random workflows run against injected store faults and crashes, with
every invariant checked after. Reports the seeds run, the faults injected and the violations
(each with its one-line reproduction)."""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter

from bench.core import Figure
from tests.simulation.harness import reproduction, run_seed

SEEDS = 10_000
BUDGET = 900.0  # seconds; the count actually run is reported
QUICK_SEEDS = 50


def simulation(quick: bool) -> list[Figure]:
    seeds = QUICK_SEEDS if quick else SEEDS
    logging.disable(logging.CRITICAL)  # injected faults log errors by design
    started = time.perf_counter()
    ran = runs = lives = 0
    faults: Counter[str] = Counter()
    failing: list[int] = []
    try:
        for seed in range(seeds):
            if time.perf_counter() - started > BUDGET:
                break
            outcome = run_seed(seed)
            ran += 1
            runs += outcome.runs
            lives += outcome.lives
            faults.update(outcome.faults)
            if outcome.violations:
                failing.append(seed)
                print(f"seed {seed}: {outcome.violations[0]}", file=sys.stderr)
                print(f"  reproduce: {reproduction(seed)}", file=sys.stderr)
    finally:
        logging.disable(logging.NOTSET)
    elapsed = time.perf_counter() - started
    note = (
        f"{ran} seeds in {elapsed:.0f}s (budget {BUDGET:.0f}s), {runs} runs, {lives} coordinator "
        f"lives (crash + resume), faults {dict(faults)}, failing seeds {failing[:20]}"
    )
    return [
        Figure(
            "simulation: seeds run (memory store, fault schedule per seed)", ran, "seeds", note=note
        ),
        Figure(
            "simulation: invariant violations",
            len(failing),
            "seeds",
            higher_is_better=False,
            target="0",
        ),
        Figure("simulation: seeds per second", ran / elapsed if elapsed else 0.0, "seeds/s"),
    ]
