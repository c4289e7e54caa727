"""`mastermind socratic` with piped input, as a real subprocess."""

from __future__ import annotations

import subprocess
import sys


def test_console_session_from_a_pipe() -> None:
    script = "\n".join(
        [
            "add All humans are mortal.",
            "add Socrates is a human.",
            "add All humans mortal",
            "premises",
            "conclude Socrates is mortal.",
            "conclude",
            "challenge 2",
            "frobnicate",
            "exit",
            "add never reached",
        ]
    )
    done = subprocess.run(
        [sys.executable, "-m", "mastermind", "socratic"],
        input=script,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0
    out = done.stdout
    assert "(1) all humans are mortal" in out
    assert "rejected: 'mortal' looks like an adjective or a noun" in out
    assert "VALID: it follows: Socrates is mortal" in out
    assert "follows: some humans are mortal; Socrates is mortal" in out
    assert "no longer follows: some humans are mortal; Socrates is mortal" in out
    assert "unknown command 'frobnicate'" in out
    assert "never reached" not in out
    assert "socratic>" not in out  # no prompt when not a terminal
