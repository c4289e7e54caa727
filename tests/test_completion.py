"""Shell completion scripts (`mastermind completion SHELL`), sourced into real shells."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def script(shell: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mastermind", "completion", shell],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return done.stdout


def test_bash_completes_commands_and_verbs(tmp_path: Path) -> None:
    path = tmp_path / "mastermind.bash"
    path.write_text(script("bash"))

    def complete(*words: str) -> list[str]:
        line = " ".join(words)
        program = (
            f"source {path}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
            f'COMP_LINE="{line}"; COMP_POINT=${{#COMP_LINE}}; '
            f'_shtab_mastermind mastermind "{words[-1]}" "{words[-2]}"; '
            'printf "%s\\n" "${COMPREPLY[@]}"'
        )
        done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
        return done.stdout.split()

    assert complete("mastermind", "ru") == ["run", "runs"]
    assert complete("mastermind", "runs", "de") == ["decide"]
    assert "--log-format" in complete("mastermind", "serve", "--")


@pytest.mark.parametrize(("shell", "check"), [("zsh", ["zsh", "-n"]), ("fish", ["fish", "-n"])])
def test_zsh_and_fish_scripts_parse(shell: str, check: list[str], tmp_path: Path) -> None:
    text = script(shell)
    assert "decide" in text and "validate" in text
    if shutil.which(check[0]) is None:
        pytest.skip(f"{check[0]} is not installed (.ci/run installs it)")
    path = tmp_path / f"mastermind.{shell}"
    path.write_text(text)
    done = subprocess.run([*check, str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
