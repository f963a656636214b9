"""Where an alert's time goes: the notifier turns the alert's own times, its Kafka record's
timestamp and its clock into per-stage latency histograms (``stages.latency``)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from vitalwatch.contracts.alerts import Severity
from vitalwatch.metrics import ALERT_STAGES
from vitalwatch.notify.stores.alerts import Source

from .harness import Harness, alert
from .test_severity_grouping import ROUTING


def sample(h: Harness, name: str, stage: str, severity: str = "high") -> float | None:
    labels = {"stage": stage, "severity": severity}
    return h.metrics.registry.get_sample_value(f"vitalwatch_alert_{name}_seconds_sum", labels)


def count(h: Harness, name: str, stage: str, severity: str = "high") -> float:
    labels = {"stage": stage, "severity": severity}
    value = h.metrics.registry.get_sample_value(f"vitalwatch_alert_{name}_seconds_count", labels)
    return value or 0.0


def test_each_stage_of_a_high_alert_is_timed_from_its_own_times(tmp_path: Path) -> None:
    h = Harness(tmp_path / "n.sqlite", ROUTING)
    now = time.time()
    detected_ms = int((now - 2.0) * 1000)
    a = replace(alert(), detected_ms=detected_ms, released_ms=detected_ms + 1_000)
    written = detected_ms / 1000 + 1.5
    h.dispatcher.ingest(a, Source("alerts", 0, 1), now - 0.25, written)
    h.dispatcher.tick(now, h.stop)  # high: flushed and (inline) accepted in this tick
    assert len(h.sent("nurse://")) == 1
    stages = {stage: sample(h, "stage", stage) for stage in ALERT_STAGES}
    assert stages["released"] == 1.0 and stages["written"] == 0.5
    assert abs((stages["read"] or 0) - 0.25) < 0.01 and abs((stages["flushed"] or 0) - 0.25) < 0.01
    assert 0 <= (stages["accepted"] or -1) < 1  # from the flush to the receiver's answer, inline
    ages = {stage: sample(h, "age", stage) for stage in ALERT_STAGES}
    assert ages["released"] == 1.0 and ages["written"] == 1.5
    assert abs((ages["flushed"] or 0) - 2.0) < 0.01 and 2.0 <= (ages["accepted"] or 0) < 3
    h.dispatcher.ingest(a, Source("alerts", 0, 1), now + 1, written)  # a replay: not timed again
    assert count(h, "age", "read") == 1


def test_what_is_unknown_is_left_out_and_severity_is_the_label(tmp_path: Path) -> None:
    h = Harness(tmp_path / "n.sqlite", ROUTING)
    now = time.time()
    a = replace(alert(severity=Severity.MEDIUM), detected_ms=int((now - 3) * 1000))
    h.dispatcher.ingest(a, Source("alerts", 0, 1), now)  # no released_ms, no record timestamp
    h.dispatcher.tick(now, h.stop)
    assert h.sent("nurse://") == []  # medium: waits its group wait
    assert count(h, "age", "read", "medium") == 1 and count(h, "stage", "read", "medium") == 0
    assert count(h, "age", "released", "medium") == 0 and count(h, "age", "read") == 0
    h.dispatcher.tick(now + 5, h.stop)
    assert count(h, "stage", "flushed", "medium") == 1
    assert abs((sample(h, "stage", "flushed", "medium") or 0) - 5) < 0.01


def test_a_repeat_or_an_escalation_is_not_an_accepted_first_notification(tmp_path: Path) -> None:
    routing = ROUTING.replace("repeat_interval: 0s", "repeat_interval: 10s")
    h = Harness(tmp_path / "n.sqlite", routing)
    now = time.time()
    h.dispatcher.ingest(replace(alert(), detected_ms=int(now * 1000)), Source("a", 0, 1), now)
    for second in range(0, 25):
        h.dispatcher.tick(now + second, h.stop)
    assert len(h.sent("nurse://")) == 3  # the first message and two repeats
    assert count(h, "stage", "accepted") == 1 and count(h, "stage", "flushed") == 1
