"""Cold start: a command imports only what it needs. Checked through sys.modules in a fresh
interpreter (no timing: what is imported is what costs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
)

PROBE = """
import contextlib, io, json, sys
import mastermind.cli.main
after_import = sorted(sys.modules)
if len(sys.argv) > 1:
    with contextlib.redirect_stdout(io.StringIO()):
        code = mastermind.cli.main.main(sys.argv[1:])
    assert code == 0, code
print(json.dumps({"import": after_import, "run": sorted(sys.modules)}))
"""


def _modules(*argv: str) -> dict[str, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    loaded: dict[str, list[str]] = json.loads(done.stdout)
    return loaded


def test_importing_the_cli_loads_no_daemon_database_or_pool_code() -> None:
    loaded = set(_modules()["import"])
    assert "mastermind.cli.main" in loaded  # the probe really imported it
    assert loaded.isdisjoint(NOT_FOR_RUN), sorted(loaded & set(NOT_FOR_RUN))


def test_running_a_one_step_workflow_loads_only_its_agent(tmp_path: Path) -> None:
    flow = tmp_path / "one.yaml"
    flow.write_text("name: one\nsteps: {a: {agent: noop, with: {value: 1}}}\n")
    state = tmp_path / "state"
    loaded = set(_modules("run", "-q", "--state-dir", str(state), str(flow))["run"])
    assert {"agents.noop", "mastermind.store.sqlite"} <= loaded  # it really ran, on SQLite
    assert (state / "mastermind.db").exists()
    assert loaded.isdisjoint(NOT_FOR_RUN), sorted(loaded & set(NOT_FOR_RUN))
