"""When every feed stops at once (a ward's gateway goes down), the query still runs its timers:
the daemon's heartbeat makes batches run, so the readings held for lateness are released and
``no_data`` fires, with nothing else arriving."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from tests.integration.scenario import read_topic, warm_up
from vitalwatch.contracts.readings import Signal
from vitalwatch.simulate.messages import Message, publish

pytestmark = pytest.mark.integration

RULES = {
    "rules": [
        {"id": "tachy-5s", "description": "HR above 130 for 5 s", "source": "test",
         "kind": "threshold", "signal": "heart_rate", "above": 130, "for": "5s",
         "severity": "high", "summary": "HR {value:.0f}"},
        {"id": "no-hr-15s", "description": "no heart rate for 15 s", "source": "test",
         "kind": "no_data", "signal": "heart_rate", "for": "15s", "severity": "low",
         "summary": "no heart rate for {duration}"},
    ]
}  # fmt: skip


def test_held_readings_and_no_data_without_any_further_input(
    settings, start_daemon, tmp_path
) -> None:
    rules_dir = tmp_path / "silence-rules"
    rules_dir.mkdir()
    (rules_dir / "rules.yaml").write_text(yaml.safe_dump(RULES))
    settings.rules.directory = rules_dir
    daemon = start_daemon([])
    daemon.wait_for_event("daemon.ready", timeout=180)
    warm_up(settings)
    start = int(time.time() * 1000)
    # P-0001 at 140/min for 5 s; its last reading decides the alarm delay, then all is silent.
    readings = [
        Message(s * 1000, Signal.HEART_RATE, b"P-0001",
                json.dumps({"patient_id": "P-0001", "ts": start + s * 1000, "bpm": 140}).encode())
        for s in range(6)
    ]  # fmt: skip
    publish(readings, settings, speed=1.0)
    last_sent = time.time()

    alerts = [json.loads(m.value()) for m in read_topic(settings, settings.topics.alerts, 3, 60)]
    by_rule = {(a["rule_id"], a["patient_id"]): a for a in alerts if a["state"] == "firing"}
    tachy = by_rule[("tachy-5s", "P-0001")]
    assert tachy["detected_ms"] == start + 5_000  # the last reading, released by a timer
    no_data = by_rule[("no-hr-15s", "P-0001")]
    assert no_data["onset_ms"] == start + 5_000  # silence began at the last reading
    # It fired from a timer about 15 s after the last arrival, not at some later reading.
    assert 15 <= no_data["detected_ms"] / 1000 - last_sent < 15 + 10
    assert daemon.stop() == 0
