"""`--seed N` runs one simulation seed (the reproduction a failing seed prints); without it the
suite runs a fixed set of seeds (the option itself is declared in tests/conftest.py, which
pytest reads before collecting). Seeds that show a known, reported engine bug are expected to
fail (strictly: when the bug is fixed they pass, and the mark must go)."""

from __future__ import annotations

import pytest

# the fixed set, plus seeds beyond it that found bugs (regression tests; see test_simulation.py)
SUITE_SEEDS = [*range(200), 233, 332, 448, 495, 1287, 3494]

# A commit the store refuses while a later commit of the same run is in flight: the later one
# lands, and the refused event is committed again under its number once nothing is in flight.
# If the process dies before that, the hole stays. Closing it needs the stores to refuse an
# event whose number does not follow the last one they hold (reported, not done here).
GAP_AFTER_REFUSED_COMMIT = "a refused commit, later ones landed, then a crash: a hole in seq"
KNOWN: dict[int, str] = dict.fromkeys((233,), GAP_AFTER_REFUSED_COMMIT)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "seed" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--seed", None) or list(SUITE_SEEDS)
        params = [
            pytest.param(s, marks=pytest.mark.xfail(strict=True, reason=KNOWN[s]))
            if s in KNOWN
            else s
            for s in chosen
        ]
        metafunc.parametrize("seed", params)
