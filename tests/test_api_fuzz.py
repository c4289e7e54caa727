"""schemathesis against the daemon's own OpenAPI document: no request makes it fail (5xx)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.daemon_harness import ROOT, TOKEN, daemon

SCHEMATHESIS = shutil.which("schemathesis")


@pytest.mark.skipif(SCHEMATHESIS is None, reason="schemathesis is not installed (dev extra)")
def test_no_request_makes_the_daemon_fail(tmp_path: Path) -> None:
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    shutil.copy(ROOT / "workflows" / "hello.yaml", workflows / "hello.yaml")
    with daemon(tmp_path, workflows) as d:
        done = subprocess.run(
            [
                SCHEMATHESIS or "",
                "run",
                f"{d.url}/api/v1/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "25",
                "-H",
                f"Authorization: Bearer {TOKEN}",
                "--exclude-operation-id",
                "runEvents",  # a stream: followed by other tests
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=400,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-4000:]
        assert d.process.poll() is None  # the daemon is still up
