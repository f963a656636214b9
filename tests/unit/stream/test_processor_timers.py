"""The stream processor's processing-time timers, driven by PySpark's in-memory TwsTester:
what must happen when nothing arrives does happen."""

from __future__ import annotations

import json
from typing import Any

from pyspark.sql.streaming.stateful_processor import TimerValues

from tests.unit.rules.helpers import tachycardia
from tests.unit.rules.kinds.test_no_data import no_hr
from tests.unit.stream.input_rows import PandasTester, heart_rate_row, input_frame, output_rows
from vitalwatch.rules.bucket import Bucket
from vitalwatch.stream.processor import RuleProcessor

T0 = 1_795_615_200_000
LATENESS_MS = 2_000
BUCKET = 7


def reading(patient: str, ts: int, bpm: float) -> dict[str, Any]:
    return heart_rate_row(patient, ts, bpm, bucket=BUCKET)


def stored_patients(test: PandasTester) -> list[str]:
    stored = test.peekValueState("bucket", BUCKET)
    assert stored is not None
    return Bucket.decode(stored[1]).ids


def processor_under_test(rules: list[Any], state_ttl_ms: int = 86_400_000) -> PandasTester:
    processor = RuleProcessor(rules, LATENESS_MS, "alerts", "dead", state_ttl_ms=state_ttl_ms)
    return PandasTester(processor, timeMode="ProcessingTime")


def alerts(rows: list[Any]) -> list[tuple[str, str, str]]:
    return [
        (json.loads(r.value)["patient_id"], json.loads(r.value)["rule_id"], r.alert_state)
        for r in rows
    ]


def test_the_last_readings_of_a_feed_that_stops_are_released_by_the_timer() -> None:
    test = processor_under_test([tachycardia(**{"for": "2s"})])
    test.setProcessingTime(1_000)
    held = test.test(BUCKET, [reading("P-1", T0 + s * 1000, 140) for s in range(4)])
    assert held == []  # the newest readings are within the lateness
    assert test.setProcessingTime(2_999) == []
    assert alerts(test.setProcessingTime(3_000)) == [("P-1", "tachy", "firing")]


def test_readings_tick_what_is_due_and_move_the_timer_past_it() -> None:
    """In a live batch Spark fires the expired timers after the input: the input call ticks
    the patients already due, with the batch's time, so the timer moves on to the next deadline
    instead of firing for them (one decoding and encoding of the bucket a batch, not two)."""
    test = processor_under_test([tachycardia(**{"for": "2s"})])
    test.setProcessingTime(1_000)
    test.test(BUCKET, [reading("P-1", T0 + s * 1000, 140) for s in range(4)])
    test.handle.setGroupingKey(BUCKET)
    assert list(test.handle.listTimers()) == [3_000]  # P-1's held readings: arrival + lateness
    batch_at_3s = TimerValues(currentProcessingTimeInMs=3_000)
    frames = iter([input_frame([reading("P-2", T0, 80)])])
    rows = output_rows(list(test.processor.handleInputRows((BUCKET,), frames, batch_at_3s)))
    assert alerts(rows) == [("P-1", "tachy", "firing")]
    assert list(test.handle.listTimers()) == [5_000]  # P-2's held reading
    assert test.setProcessingTime(3_000) == []  # the same batch's timers: nothing left, no repeat


def test_readings_tick_what_is_due_in_a_bucket_another_worker_wrote_last() -> None:
    """Decoded afresh, a bucket knows no patient's deadline: the input call works them out, so
    the due patient is ticked there too and the timer moves on instead of firing for it."""
    test = processor_under_test([tachycardia(**{"for": "2s"})])
    test.setProcessingTime(1_000)
    test.test(BUCKET, [reading("P-1", T0 + s * 1000, 140) for s in range(4)])
    stored = test.peekValueState("bucket", BUCKET)
    assert stored is not None
    test.updateValueState("bucket", BUCKET, ("written-by-another-worker", *stored[1:]))
    test.handle.setGroupingKey(BUCKET)
    batch_at_3s = TimerValues(currentProcessingTimeInMs=3_000)
    frames = iter([input_frame([reading("P-2", T0, 80)])])
    rows = output_rows(list(test.processor.handleInputRows((BUCKET,), frames, batch_at_3s)))
    assert alerts(rows) == [("P-1", "tachy", "firing")]
    assert list(test.handle.listTimers()) == [5_000]
    assert test.setProcessingTime(3_000) == []


def test_no_data_fires_from_the_timer_for_the_silent_patient_only() -> None:
    test = processor_under_test([no_hr()])
    test.setProcessingTime(1_000)
    test.test(BUCKET, [reading("P-1", T0, 80), reading("P-2", T0, 80)])
    fired = []
    for second in range(2, 130):  # P-2 keeps sending, P-1 has gone silent
        fired += alerts(test.setProcessingTime(second * 1_000))
        fired += alerts(test.test(BUCKET, [reading("P-2", T0 + second * 1_000, 80)]))
        if second == 120:
            assert fired == []  # P-1's last arrival was at 1 s: due at 121 s
    assert fired == [("P-1", "hr-no-data", "firing")]


def test_a_patient_silent_for_the_state_ttl_is_forgotten() -> None:
    test = processor_under_test([tachycardia()], state_ttl_ms=60_000)
    test.setProcessingTime(1_000)
    test.test(BUCKET, [reading("P-1", T0, 80)])
    assert stored_patients(test) == ["P-1"]
    test.setProcessingTime(60_999)
    assert stored_patients(test) == ["P-1"]
    test.setProcessingTime(61_000)
    assert stored_patients(test) == []
