"""`mastermind serve --log-format json`: one JSON object per log line (journald, Loki)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.daemon_harness import ROOT


def test_log_format_json_for_journald_and_loki(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()  # empty: serving no workflows is worth a warning
    config = tmp_path / "mastermind.yaml"
    config.write_text(
        f"workflows: {folder}\napi: {{port: 0, tokens: [t]}}\nstore: {{state_dir: {tmp_path}}}\n"
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mastermind",
            "serve",
            "--config",
            str(config),
            "--log-format",
            "json",
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    try:
        entries = []
        for line in process.stderr:  # every line is one JSON object, up to "listening on"
            entries.append(json.loads(line))
            if entries[-1]["message"].startswith("listening on"):
                break
        process.send_signal(signal.SIGTERM)
        rest = process.communicate(timeout=60)[1]
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    entries += [json.loads(line) for line in rest.splitlines()]
    assert process.returncode == 0
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    warned = [e for e in entries if e["message"].startswith("serving no workflows")]
    assert warned and warned[0]["level"] == "WARNING"
    assert len(warned) == 1, warned  # the reload covering the folder watch's start is quiet
    assert any(e["message"].startswith("stopping") for e in entries)
