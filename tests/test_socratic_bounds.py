"""A small socratic request is decided in a thread of the daemon: while the solver works on a
hard one, the daemon's other threads (its event loop) must keep running. With a binding that
held the GIL during solve (PySAT's plain solve()), a 40-letter parity equivalence of 610
characters froze the event loop for 55-99 s and the step's timeout could not fire."""

from __future__ import annotations

import random
import threading
from typing import Any

from mastermind.reasoning.engine import evaluate, is_small


def parities(letters: int, seed: int) -> dict[str, Any]:
    """`x0 xor ... xor xN` entails the same letters xor-ed in another order: true, and hard for
    plain resolution, although it is a short text."""
    names = [f"x{i}" for i in range(letters)]
    shuffled = names[:]
    random.Random(seed).shuffle(shuffled)
    return {"premises": [" xor ".join(names)], "conclusion": " xor ".join(shuffled)}


def test_the_solver_lets_other_threads_run() -> None:
    request = parities(40, seed=1)
    assert is_small(request)  # so the agent decides it in a thread of the daemon
    outcome: list[dict[str, Any]] = []
    worker = threading.Thread(target=lambda: outcome.append(evaluate(request)))
    turns = 0
    worker.start()
    while worker.is_alive():
        turns += 1
        worker.join(0.001)
    assert outcome and outcome[0]["valid"] is True
    # a solver that kept the GIL would give this thread one or two turns in all
    assert turns >= 20, f"this thread got {turns} turns while the solver worked"
