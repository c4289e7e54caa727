"""The metrics the daemon exports pass promtool, and the dashboard and alerts use only them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mastermind.service.metrics import Metrics, StateCollector
from mastermind.store.events import Event

ROOT = Path(__file__).resolve().parent.parent
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool (Debian: prometheus) missing"
)


def exported() -> str:
    metrics = Metrics()
    metrics.add_collector(
        StateCollector(
            lambda: {
                "runs_active": 1,
                "ready": 2,
                "pool_workers": 2,
                "pool_replaced": 0,
                "commits": 10,
                "commit_seconds": 0.5,
            }
        )
    )
    for event in [
        Event("r", 1, 1.0, "running", workflow="w"),
        Event("r", 2, 1.0, "running", step_id="a", attempt=1, workflow="w", agent="http"),
        Event(
            "r",
            3,
            1.0,
            "retrying",
            step_id="a",
            attempt=1,
            workflow="w",
            agent="http",
            duration=0.1,
        ),
        Event("r", 4, 1.0, "running", step_id="a", attempt=2, workflow="w", agent="http"),
        Event(
            "r",
            5,
            1.0,
            "succeeded",
            step_id="a",
            attempt=2,
            workflow="w",
            agent="http",
            duration=0.2,
        ),
        Event("r", 6, 2.0, "succeeded", workflow="w", duration=1.0),
    ]:
        metrics.observe(event)
    metrics.loop_lag.observe(0.002)
    metrics.reloads.labels("ok").inc()
    return metrics.render().decode()


@needs_promtool
def test_promtool_accepts_the_metrics() -> None:
    done = subprocess.run(
        [PROMTOOL or "", "check", "metrics"], input=exported(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_metrics_count_what_happened() -> None:
    text = exported()
    assert 'mastermind_runs_total{status="succeeded",workflow="w"} 1.0' in text
    assert 'mastermind_step_retries_total{agent="http"} 1.0' in text
    assert 'mastermind_steps_total{agent="http",status="succeeded",workflow="w"} 1.0' in text
    assert 'mastermind_steps_running{agent="http"} 0.0' in text
    assert "mastermind_build_info{" in text


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
