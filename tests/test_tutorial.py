"""docs/tutorial.md, run as a reader would: its files written, its commands run in order.

Blocks: ```python / ```yaml with a first line `# file: PATH` are written to a fresh folder;
```sh blocks run there with bash (-e, pipefail); the ```sh daemon block starts the daemon (on a
free port: `127.0.0.1:8931` in later commands is rewritten to it) and waits until it reports
READY to systemd; the ```sh systemd block needs root and a running systemd, so it is checked
instead: `systemd-analyze verify` on the unit, and the config loaded as installed there.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mastermind.service.config import load_config
from tests.daemon_harness import RunningDaemon
from tests.markdown_blocks import Block, blocks

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.md"
TOOLS = ("jq", "promtool", "curl")


def test_the_tutorial_has_every_part() -> None:
    text = TUTORIAL.read_text()
    for part in ("asyncio.gather", "retry:", "agent: cpu", "agent: socratic", "grafana"):
        assert part in text, part
    infos = [b.info for b in blocks(TUTORIAL)]
    assert infos.count("sh daemon") == 1 and infos.count("sh systemd") == 1
    assert infos.count("sh") >= 5


@pytest.mark.slow
@pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in TOOLS),
    reason=f"needs {TOOLS} (.ci/run installs them)",
)
def test_every_command_of_the_tutorial(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "mastermind"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mastermind "$@"\n')
    shim.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "MASTERMIND_STATE_DIR": str(tmp_path / "cli-state"),
        "MASTERMIND_SRC": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    daemon: RunningDaemon | None = None
    try:
        for block in blocks(TUTORIAL):
            where = f"{TUTORIAL.name}:{block.line}"
            if block.file_name:
                target = work / block.file_name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.text)
            elif block.language != "sh":
                continue
            elif block.info == "sh daemon":
                daemon = start_daemon(block, work, env, tmp_path)
                env["MASTERMIND_URL"] = daemon.url
            elif block.info == "sh systemd":
                check_systemd_block(block, work, tmp_path)
            else:
                script = block.text
                if daemon is not None:
                    script = script.replace("127.0.0.1:8931", f"127.0.0.1:{daemon.port}")
                done = subprocess.run(
                    ["bash", "-euo", "pipefail", "-c", script],
                    cwd=work,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                assert done.returncode == 0, f"{where}\n{script}\n{done.stdout}{done.stderr}"
        assert daemon is not None
    finally:
        if daemon is not None:
            daemon.process.terminate()
            daemon.process.communicate(timeout=60)
            daemon.notify.close()
    assert daemon.process.returncode == 0


def start_daemon(block: Block, work: Path, env: dict[str, str], tmp_path: Path) -> RunningDaemon:
    notify_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    command = block.text.strip()
    assert command.startswith("mastermind serve"), command
    process = subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        cwd=work,
        env={**env, "NOTIFY_SOCKET": str(notify_path), "MASTERMIND_API__PORT": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    daemon = RunningDaemon(process, notify, 0)
    ready = daemon.wait_for("READY=1", timeout=60)
    status = next(line for line in ready.splitlines() if line.startswith("STATUS="))
    daemon.port = int(status.rsplit(" ", 1)[1])
    return daemon


def check_systemd_block(block: Block, work: Path, tmp_path: Path) -> None:
    """What can be checked without root and a running systemd."""
    assert "config/mastermind.service" in block.text
    etc = tmp_path / "etc" / "mastermind"  # stands for /etc/mastermind
    etc.mkdir(parents=True)
    shutil.copy(work / "mastermind.yaml", etc)
    shutil.copytree(work / "flows", etc / "flows")
    credentials = tmp_path / "credentials"  # LoadCredential=api-tokens:/etc/mastermind/api-tokens
    credentials.mkdir()
    (credentials / "api-tokens").write_text("tutorial-token\n")
    config = load_config(
        etc / "mastermind.yaml",
        environ={
            "CREDENTIALS_DIRECTORY": str(credentials),
            "MASTERMIND_STORE__STATE_DIR": "/var/lib/mastermind",  # the unit's Environment=
        },
    )
    assert config.workflows == etc / "flows"  # relative to the config file, not the cwd
    assert (config.workflows / "digest.yaml").is_file()
    assert config.api.tokens == ["tutorial-token"]
    assert config.store.state_dir == Path("/var/lib/mastermind")
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return
    unit = tmp_path / "mastermind.service"
    executable = tmp_path / "bin" / "mastermind"
    unit.write_text(
        (ROOT / "config" / "mastermind.service")
        .read_text()
        .replace("/usr/local/bin/mastermind", str(executable))
    )
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert done.returncode == 0 and "mastermind.service" not in done.stderr, done.stderr
