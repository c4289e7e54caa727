"""What `pip install mastermind` brings: a lean default, extras by name, no pre-releases."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_default_install_is_lean_and_released() -> None:
    requirements = [Requirement(r) for r in PROJECT["dependencies"]]
    names = {r.name for r in requirements}
    assert "asyncpg" not in names  # SQLite only: PostgreSQL is the `postgres` extra
    for requirement in requirements:
        for spec in requirement.specifier:
            assert not Requirement(f"x{spec}").specifier.prereleases, requirement


def test_extras() -> None:
    extras = PROJECT["optional-dependencies"]
    assert [Requirement(r).name for r in extras["postgres"]] == ["asyncpg"]
    dev = [Requirement(r) for r in extras["dev"]]
    assert any(r.name == "mastermind" and r.extras == {"postgres"} for r in dev)
    assert {"check-jsonschema", "pytest", "mypy", "ruff"} <= {r.name for r in dev}


def test_license_classifiers_urls() -> None:
    assert PROJECT["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "Typing :: Typed" in PROJECT["classifiers"]
    assert {"Homepage", "Documentation"} <= set(PROJECT["urls"])
    assert (ROOT / "mastermind" / "py.typed").is_file()


def test_dsn_without_asyncpg_names_the_extra(tmp_path: Path) -> None:
    """As on a SQLite-only install: asyncpg cannot be imported."""
    blocker = tmp_path / "asyncpg.py"
    blocker.write_text("raise ImportError('No module named asyncpg')\n")
    done = subprocess.run(
        [sys.executable, "-m", "mastermind", "runs", "list", "--dsn", "postgresql://127.0.0.1/x"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"},
    )
    assert done.returncode == 1
    assert "pip install 'mastermind[postgres]'" in done.stderr
    assert "Traceback" not in done.stderr
