"""monitoring/: the self-monitoring rules pass ``promtool check rules`` and their own
``promtool test rules``; the Prometheus config checks; the Grafana dashboard and the rules only
use metrics vitalwatch exports, and no patient label."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import yaml

from tests.conftest import REPO
from vitalwatch.metrics import Metrics

MONITORING = REPO / "monitoring"
_METRIC = re.compile(r"\bvitalwatch_[a-z_]+\b")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: install Debian's prometheus package (.ci/run does)"
    return subprocess.run(
        [tool, *args], cwd=MONITORING, capture_output=True, text=True, timeout=120
    )


def exported_names() -> set[str]:
    """Every sample name vitalwatch exports (with _total, _bucket, _info ... suffixes)."""
    names = set()
    for family in Metrics().registry.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        names.update(family.name + s for s in ("_total", "_bucket", "_count", "_sum", "_info"))
    return names


def test_rules_check_and_pass_their_tests() -> None:
    checked = promtool("check", "rules", "vitalwatch-rules.yaml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    shipped = yaml.safe_load((MONITORING / "vitalwatch-rules.yaml").read_text())
    count = sum(len(group["rules"]) for group in shipped["groups"])
    assert f"SUCCESS: {count} rules found" in checked.stdout
    tested = promtool("test", "rules", "vitalwatch-rules.test.yaml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_prometheus_config_checks() -> None:
    checked = promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def rule_exprs() -> list[str]:
    groups = yaml.safe_load((MONITORING / "vitalwatch-rules.yaml").read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana" / "vitalwatch.json").read_text())
    assert dashboard["uid"] == "vitalwatch" and dashboard["panels"]
    exprs = []
    for panel in dashboard["panels"]:
        assert panel["targets"], f"panel {panel['title']!r} shows nothing"
        assert panel["datasource"]["uid"] == "prometheus"
        exprs += [target["expr"] for target in panel["targets"]]
    return exprs


def test_dashboard_and_rules_use_only_exported_metrics() -> None:
    exported = exported_names()
    for expr in rule_exprs() + dashboard_exprs():
        used = _METRIC.findall(expr)
        assert used or expr.startswith("up{"), expr
        assert set(used) <= exported, (expr, set(used) - exported)
        assert "patient" not in expr


def test_the_check_would_catch_a_misspelt_metric() -> None:
    assert not set(_METRIC.findall("rate(vitalwatch_readings_totl[5m])")) <= exported_names()
