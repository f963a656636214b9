"""Dependency outages: gauges, one technical alarm per outage after the grace, the return
logged; and the checkpoint probe on a real directory."""

from __future__ import annotations

import os
from pathlib import Path

import structlog.testing

from tests.unit.service.test_http_health import Clock
from tests.unit.service.test_query_supervisor import value
from vitalwatch.metrics import Metrics
from vitalwatch.service.dependencies import DependencyWatch
from vitalwatch.service.health import Check, CheckpointProbe
from vitalwatch.service.technical_alarm import TechnicalAlarm


def test_an_outage_past_the_grace_is_one_alarm_and_its_end_is_logged() -> None:
    clock, metrics = Clock(), Metrics()
    broker = Check("broker", True, "1 brokers answered")
    checkpoint = Check("checkpoint", True, "/cp is writable")
    watch = DependencyWatch([lambda: broker, lambda: checkpoint], metrics, TechnicalAlarm(metrics),
                            alarm_after_s=10, clock=clock)  # fmt: skip
    watch.tick()
    assert value(metrics, "vitalwatch_dependency_up", dependency="broker") == 1
    broker = Check("broker", False, "no answer within 2 s")
    with structlog.testing.capture_logs() as logs:
        for _ in range(25):  # 25 s down: one alarm, at 10 s
            watch.tick()
            clock.now += 1
    assert [e["event"] for e in logs] == ["dependency.failing", "dependency.down"]
    assert logs[1]["component"] == "broker" and logs[1]["down_s"] == 10
    assert logs[1]["detail"] == "no answer within 2 s"
    assert value(metrics, "vitalwatch_dependency_up", dependency="broker") == 0
    assert value(metrics, "vitalwatch_technical_alerts_total", component="broker") == 1
    assert value(metrics, "vitalwatch_technical_alerts_total", component="checkpoint") == 0
    assert watch.failing() == [broker]
    broker = Check("broker", True, "1 brokers answered")
    with structlog.testing.capture_logs() as logs:
        watch.tick()
    assert [(e["event"], e["down_s"]) for e in logs] == [("dependency.back", 25)]
    assert value(metrics, "vitalwatch_dependency_up", dependency="broker") == 1
    assert watch.failing() == []


def test_a_blip_shorter_than_the_grace_raises_no_alarm() -> None:
    clock, metrics = Clock(), Metrics()
    answers = iter([False] * 5 + [True] + [False] * 5 + [True])
    watch = DependencyWatch([lambda: Check("broker", next(answers), "")], metrics,
                            TechnicalAlarm(metrics), alarm_after_s=10, clock=clock)  # fmt: skip
    for _ in range(12):
        watch.tick()
        clock.now += 1
    assert value(metrics, "vitalwatch_technical_alerts_total", component="broker") == 0


def test_the_checkpoint_probe_writes_in_the_batch_directories_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    probe = CheckpointProbe(tmp_path / "query")
    assert probe().ok  # before the first batch: nothing to write to yet
    (tmp_path / "query" / "offsets").mkdir(parents=True)
    assert probe() == Check("checkpoint", True, f"{tmp_path / 'query'} is writable")
    assert [p.name for p in (tmp_path / "query").rglob("*")] == ["offsets"]
    # A write that fails (here the probe's name is taken by a directory) names the directory.
    (tmp_path / "query" / "offsets" / f".vitalwatch-probe-{os.getpid()}").mkdir()
    check = probe()
    assert not check.ok
    assert check.detail == f"cannot write in {tmp_path / 'query' / 'offsets'}: Is a directory"
