"""Cold start: a command imports only what it needs. Checked through sys.modules in a fresh
interpreter (no timing: what is imported is what costs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

# Heavy or unrelated to running a workflow locally: the daemon (aiohttp, metrics, triggers,
# its pydantic config models), PostgreSQL, the process pool, the SAT solver, HTTP clients.
NOT_FOR_RUN = (
    "aiohttp",
    "asyncpg",
    "multiprocessing",
    "concurrent.futures.process",
    "prometheus_client",
    "watchfiles",
    "croniter",
    "pycryptosat",
    "http.client",
    "urllib.request",
    "mastermind.service",
    "mastermind.service.config",
    "mastermind.store.postgres",
    "mastermind.engine.process_pool",
    "mastermind.reasoning",
    "agents.http",
    "agents.python",
    "agents.shell",
    "agents.socratic",
    "agents.llm",
    "lark",
    "inflect",
    "shtab",
)

# What `import mastermind.cli.main` must not pay for: every command imports what it needs when
# it runs (`--version`, `--help` and the daemon's client commands need none of these).
NOT_FOR_THE_CLI = ("pydantic", "asyncio", "yaml", "mastermind.language", "mastermind.engine")

PROBE = """
import contextlib, io, json, sys, tokenize
import mastermind.cli.main
after_import = sorted(sys.modules)
if len(sys.argv) > 1:
    with contextlib.redirect_stdout(io.StringIO()):
        code = mastermind.cli.main.main(sys.argv[1:])
    assert code == 0, code
# tokenize's patterns cost ~13 M instructions to compile; pydantic compiles them when it reads a
# builtin's text signature (e.g. a `default_factory=list`), so a run must not need them
compiled = getattr(tokenize, "_compile", None)
tokenized = compiled.cache_info().currsize if hasattr(compiled, "cache_info") else 0
print(json.dumps({"import": after_import, "run": sorted(sys.modules), "tokenized": tokenized}))
"""


def _modules(*argv: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    loaded: dict[str, Any] = json.loads(done.stdout)
    return loaded


def _imported(loaded: set[str], names: tuple[str, ...]) -> list[str]:
    """The modules in `loaded` that are `names` or inside them."""
    return sorted(m for m in loaded if m in names or m.startswith(tuple(n + "." for n in names)))


def test_importing_the_cli_loads_no_daemon_database_or_pool_code() -> None:
    loaded = set(_modules()["import"])
    assert "mastermind.cli.main" in loaded  # the probe really imported it
    assert loaded.isdisjoint(NOT_FOR_RUN), sorted(loaded & set(NOT_FOR_RUN))
    assert not _imported(loaded, NOT_FOR_THE_CLI)


def test_running_a_one_step_workflow_loads_only_its_agent(tmp_path: Path) -> None:
    flow = tmp_path / "one.yaml"
    flow.write_text("name: one\nsteps: {a: {agent: noop, with: {value: 1}}}\n")
    state = tmp_path / "state"
    loaded = set(_modules("run", "-q", "--state-dir", str(state), str(flow))["run"])
    assert {"agents.noop", "mastermind.store.sqlite"} <= loaded  # it really ran, on SQLite
    assert (state / "mastermind.db").exists()
    assert loaded.isdisjoint(NOT_FOR_RUN), sorted(loaded & set(NOT_FOR_RUN))


def test_running_a_python_workflow_loads_no_http_database_or_reasoning_code(
    tmp_path: Path,
) -> None:
    (tmp_path / "helpers_cold.py").write_text("def double(x):\n    return 2 * x\n")
    flow = tmp_path / "py.yaml"
    flow.write_text(
        "name: py\nsteps:\n  a: {agent: python, with: {function: 'helpers_cold:double', "
        "args: [21]}}\n"
    )
    probe = _modules("run", "-q", "--state-dir", str(tmp_path / "state"), str(flow))
    loaded = set(probe["run"])
    assert "agents.python" in loaded  # it really ran the python agent
    assert "helpers_cold" in loaded
    unwanted = ("aiohttp", "asyncpg", "lark", "inflect", "pycryptosat", "mastermind.service")
    assert not _imported(loaded, unwanted)
    others = {"agents.http", "agents.shell", "agents.cpu", "agents.socratic", "agents.llm"}
    assert loaded.isdisjoint(others), sorted(loaded & others)
    assert probe["tokenized"] == 0
