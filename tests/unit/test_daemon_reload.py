"""SIGHUP's routing reload (``RoutingReloads.reload``) on a notifier that is not started: a valid
file replaces the routing, an invalid one is a technical alarm and the old routing stays, the
same file again is counted as unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from prometheus_client import CollectorRegistry

from vitalwatch.metrics import Metrics
from vitalwatch.notify.service import NotificationService
from vitalwatch.rules.watch import RuleWatcher
from vitalwatch.service.reload import RoutingReloads
from vitalwatch.service.technical_alarm import TechnicalAlarm
from vitalwatch.settings import load_settings

WARD = """
route: {receiver: ward}
receivers:
  - name: ward
    tiers: [{urls: ["json://127.0.0.1:9/ward"]}]
"""
ONCALL = """
route: {receiver: oncall}
receivers:
  - name: oncall
    tiers: [{urls: ["json://127.0.0.1:9/oncall"]}]
"""
UNKNOWN_RECEIVER = """
route: {receiver: nobody}
receivers:
  - name: oncall
    tiers: [{urls: ["json://127.0.0.1:9/oncall"]}]
"""


@pytest.fixture
def routing_file(tmp_path: Path) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(WARD)
    return path


@pytest.fixture
def notifier(tmp_path: Path, routing_file: Path) -> Iterator[NotificationService]:
    settings = load_settings(
        state_dir=tmp_path / "state",
        kafka={"bootstrap_servers": "127.0.0.1:1"},  # never reached: the notifier is not started
        rules={"directory": tmp_path},
        notify={"routing_file": str(routing_file)},
    )
    service = NotificationService(settings, Metrics(CollectorRegistry()), environ={})
    yield service
    service.stop(timeout=1)


def reloads(metrics: Metrics, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "vitalwatch_routing_reloads_total", {"outcome": outcome}
    )
    return value or 0.0


def test_a_valid_new_file_replaces_the_routing(notifier, routing_file) -> None:
    metrics = notifier.ops.metrics
    routing_file.write_text(ONCALL)
    new = RoutingReloads(None, notifier, metrics, TechnicalAlarm(metrics)).reload()
    assert new is not None and notifier.routing is new
    assert list(notifier.routing.receivers) == ["oncall"]
    assert reloads(metrics, "applied") == 1


def test_an_invalid_file_is_a_technical_alarm_and_the_old_routing_stays(
    notifier, routing_file
) -> None:
    metrics, running = notifier.ops.metrics, notifier.routing
    routing_file.write_text(UNKNOWN_RECEIVER)
    with structlog.testing.capture_logs() as logs:
        assert RoutingReloads(None, notifier, metrics, TechnicalAlarm(metrics)).reload() is None
    assert notifier.routing is running and list(running.receivers) == ["ward"]
    assert reloads(metrics, "invalid") == 1 and reloads(metrics, "applied") == 0
    technical = {"component": "routing"}
    assert metrics.registry.get_sample_value("vitalwatch_technical_alerts_total", technical) == 1
    (event,) = [e for e in logs if e["event"] == "routing.reload_rejected"]
    assert event["file"] == str(routing_file) and event["technical_alert"] is True
    assert "route 'root': field 'receiver': unknown receiver 'nobody'" in event["error"]


def test_the_same_file_again_is_unchanged(notifier, routing_file) -> None:
    metrics, running = notifier.ops.metrics, notifier.routing
    routing_file.write_text(WARD)  # rewritten, same content
    assert RoutingReloads(None, notifier, metrics, TechnicalAlarm(metrics)).reload() is None
    assert notifier.routing is running
    assert reloads(metrics, "unchanged") == 1 and reloads(metrics, "applied") == 0


def test_an_edit_of_the_file_or_sighup_rereads_it_and_nothing_else_does(
    notifier, routing_file
) -> None:
    metrics = notifier.ops.metrics
    routing = RoutingReloads(RuleWatcher(routing_file), notifier, metrics, TechnicalAlarm(metrics))
    routing.check(signalled=False)
    attempts = ("applied", "invalid", "unchanged")
    assert [reloads(metrics, outcome) for outcome in attempts] == [0, 0, 0]
    routing_file.write_text(ONCALL)
    routing.check(signalled=False)
    assert list(notifier.routing.receivers) == ["oncall"] and reloads(metrics, "applied") == 1
    routing.check(signalled=True)
    assert reloads(metrics, "unchanged") == 1
