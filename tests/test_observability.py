"""The metrics the daemon exports pass promtool, and the dashboard and alerts use only them."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import uvloop
import yaml

from mastermind.engine.agent import AgentRegistry
from mastermind.engine.coordinator import Coordinator
from mastermind.language.loader import load_text
from mastermind.service.metrics import Metrics
from tests.agents_for_tests import register_all

ROOT = Path(__file__).resolve().parent.parent
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool (Debian: prometheus) missing"
)


FLAKY = """
name: w
steps:
  a: {agent: flaky, with: {failures: 1}, retry: {attempts: 2, initial: 1ms}}
"""


def exported() -> str:
    """The exposition text after a real run (one retry, then success) through a real
    Coordinator, as the daemon wires it; loop lag and reloads are fed by daemon chores."""

    async def run() -> str:
        registry = register_all(AgentRegistry(load_plugins=False))
        async with Coordinator(registry) as coordinator:
            metrics = Metrics()
            metrics.attach(coordinator)
            assert (await coordinator.run(load_text(FLAKY, "w.yaml", registry))).ok
            metrics.loop_lag.observe(0.002)
            metrics.reloads.labels("ok").inc()
            return metrics.render().decode()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(run())


@needs_promtool
def test_promtool_accepts_the_metrics() -> None:
    done = subprocess.run(
        [PROMTOOL or "", "check", "metrics"], input=exported(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_metrics_count_what_happened() -> None:
    text = exported()
    assert 'mastermind_runs_total{status="succeeded",workflow="w"} 1.0' in text
    assert 'mastermind_step_retries_total{agent="flaky"} 1.0' in text
    assert 'mastermind_steps_total{agent="flaky",status="succeeded",workflow="w"} 1.0' in text
    assert 'mastermind_steps_running{agent="flaky"} 0.0' in text
    assert "mastermind_build_info{" in text
    assert "_created" not in text  # disable_created_metrics: no timestamp series per counter


@needs_promtool
def test_promtool_accepts_the_alert_rules() -> None:
    done = subprocess.run(
        [PROMTOOL or "", "check", "rules", str(ROOT / "config/prometheus/alerts.yml")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def metric_names_in(text: str) -> set[str]:
    return set(re.findall(r"\b(mastermind_[a-z_]+)", text))


def test_dashboard_and_alerts_use_only_exported_metrics() -> None:
    available = set()
    for line in exported().splitlines():
        if line and not line.startswith("#"):
            available.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    dashboard = json.loads((ROOT / "config/grafana/mastermind.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    alerts = (ROOT / "config/prometheus/alerts.yml").read_text()
    used = metric_names_in(exprs) | metric_names_in(alerts)
    assert used <= available, used - available
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("runs", "throughput", "latency", "failures", "loop lag", "pool", "store"):
        assert topic in titles, topic


@needs_promtool
def test_every_alert_fires_and_stays_silent_when_it_should() -> None:
    """`promtool test rules` on the shipped cases (config/prometheus/alerts.test.yml)."""
    done = subprocess.run(
        [PROMTOOL or "", "test", "rules", str(ROOT / "config/prometheus/alerts.test.yml")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_shipped_alert_has_a_firing_and_a_silent_case() -> None:
    rules = yaml.safe_load((ROOT / "config/prometheus/alerts.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    cases = yaml.safe_load((ROOT / "config/prometheus/alerts.test.yml").read_text())
    fires: set[str] = set()
    silent: set[str] = set()
    for test in cases["tests"]:
        for check in test.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else silent).add(check["alertname"])
    assert alerts - fires == set(), "alerts never shown to fire"
    assert alerts - silent == set(), "alerts never shown to stay silent"
