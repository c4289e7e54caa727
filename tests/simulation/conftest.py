"""`--seed N` runs one simulation seed (the reproduction a failing seed prints), over the store
`--sim-store` names (memory or sqlite; both without it); without `--seed` the suite runs a fixed
set of seeds over the memory store and part of them over SQLite (the options themselves are
declared in tests/conftest.py, which pytest reads before collecting)."""

from __future__ import annotations

import pytest

# the fixed set, plus seeds beyond it that found bugs (regression tests; see test_simulation.py)
SUITE_SEEDS = [*range(200), 233, 332, 448, 495, 1287, 3494, 8372, 8963]
# the real SQLite store (a file in a temporary directory) costs about 5x the memory store's time
SQLITE_SEEDS = [*range(100), 233, 8372, 8963]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "seed" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--seed", None)
        stores = metafunc.config.getoption("--sim-store", None) or ["memory", "sqlite"]
        if chosen:
            params = [(store, seed) for store in stores for seed in chosen]
        else:
            params = [("memory", s) for s in SUITE_SEEDS] + [("sqlite", s) for s in SQLITE_SEEDS]
        metafunc.parametrize(("store", "seed"), params, ids=[f"{st}-{se}" for st, se in params])
