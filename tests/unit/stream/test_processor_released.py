"""Each alert row carries when the processor released its deciding reading to the rules
(``released_ms``, this worker's wall clock), for the notifier's latency stages."""

from __future__ import annotations

import json
import time

from tests.unit.rules.helpers import tachycardia
from tests.unit.stream.test_processor_timers import BUCKET, T0, processor_under_test, reading


def test_alerts_released_by_readings_and_by_the_timer_carry_the_wall_clock() -> None:
    test = processor_under_test([tachycardia(**{"for": "2s"})])
    test.setProcessingTime(1_000)
    before = int(time.time() * 1000)
    readings = [reading("P-1", T0 + s * 1000, 140) for s in range(6)]
    readings += [reading("P-2", T0 + s * 1000, 140) for s in range(4)]  # held: not yet due
    rows = test.test(BUCKET, readings)
    by_reading = [json.loads(r.value) for r in rows if r.topic == "alerts"]
    rows = test.setProcessingTime(10_000)  # the held readings: released by the timer
    by_timer = [json.loads(r.value) for r in rows if r.topic == "alerts"]
    after = int(time.time() * 1000)
    assert [m["state"] for m in by_reading + by_timer] == ["firing", "firing"]
    assert all(before <= m["released_ms"] <= after for m in by_reading + by_timer)
    assert by_reading[0]["patient_id"] == "P-1" and by_timer[0]["patient_id"] == "P-2"
