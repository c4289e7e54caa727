"""config/mastermind.service: `systemd-analyze verify` accepts it and `systemd-analyze
security` scores it at most 2.5."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ANALYZE = shutil.which("systemd-analyze")
pytestmark = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def unit_copy(tmp_path: Path) -> Path:
    """The shipped unit, pointing ExecStart at the mastermind this test runs."""
    executable = shutil.which("mastermind")
    assert executable, "mastermind is not on PATH (pip install -e .)"
    text = (ROOT / "config" / "mastermind.service").read_text()
    unit = tmp_path / "mastermind.service"
    unit.write_text(text.replace("/usr/local/bin/mastermind", executable))
    return unit


def test_unit_verifies(tmp_path: Path) -> None:
    unit = unit_copy(tmp_path)
    done = subprocess.run([ANALYZE or "", "verify", str(unit)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "mastermind.service" not in done.stderr, done.stderr


def test_unit_is_hardened(tmp_path: Path) -> None:
    unit = unit_copy(tmp_path)
    done = subprocess.run(
        [ANALYZE or "", "security", "--offline=true", str(unit)], capture_output=True, text=True
    )
    match = re.search(r"Overall exposure level for mastermind.service: ([0-9.]+)", done.stdout)
    assert match, done.stdout + done.stderr
    assert float(match.group(1)) <= 2.5
