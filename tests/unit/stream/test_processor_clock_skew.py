"""A device clock running ahead: a reading stamped further ahead of its Kafka record than
``max_clock_skew`` is dead-lettered as ``future`` and kept out of the rules, so it cannot move
the patient's watermark ahead and make the correct readings after it late (which hid their
alerts: found by the clock-skew fault test)."""

from __future__ import annotations

from typing import Any

from tests.unit.rules.helpers import tachycardia
from tests.unit.stream.input_rows import PandasTester, heart_rate_row
from tests.unit.stream.test_processor_timers import (
    BUCKET,
    LATENESS_MS,
    T0,
    alerts,
    stored_patients,
)
from vitalwatch.stream.processor import RuleProcessor

SKEW_MS = 30_000


def processor_under_test() -> PandasTester:
    rule = tachycardia(**{"for": "10s"})
    processor = RuleProcessor([rule], LATENESS_MS, "alerts", "dead", max_clock_skew_ms=SKEW_MS)
    return PandasTester(processor, timeMode="ProcessingTime")


def published(patient: str, ts: int, bpm: float, published_ms: int) -> dict[str, Any]:
    return heart_rate_row(patient, ts, bpm, bucket=BUCKET, published_ms=published_ms)


def dead_letters(rows: list[Any]) -> list[tuple[str, str]]:
    return [
        (row.key.decode(), row.deadletter_reason)
        for row in rows
        if isinstance(row.deadletter_reason, str)  # alerts: null (NaN once frames are joined)
    ]


def test_a_reading_stamped_minutes_ahead_is_dead_lettered_and_hides_nothing() -> None:
    test = processor_under_test()
    test.setProcessingTime(1_000)
    ahead = published("P-1", T0 + 10 * 60_000, 150, published_ms=T0)  # 10 min ahead
    out = test.test(BUCKET, [ahead])
    assert dead_letters(out) == [("P-1", "future")]
    # The correct readings after it are evaluated, not late: the tachycardia fires.
    readings = [published("P-1", T0 + s * 1000, 150, published_ms=T0 + s * 1000) for s in range(15)]
    out = test.test(BUCKET, readings)
    assert dead_letters(out) == []
    assert alerts([r for r in out if r.rule_id]) == [("P-1", "tachy", "firing")]


def test_the_bound_is_inclusive_and_only_clock_error_counts() -> None:
    test = processor_under_test()
    test.setProcessingTime(1_000)
    rows = [
        published("P-1", T0 + SKEW_MS, 80, published_ms=T0),  # exactly the skew: evaluated
        published("P-2", T0 + SKEW_MS + 1, 80, published_ms=T0),  # 1 ms more: future
        published("P-3", T0 - 3_600_000, 80, published_ms=T0),  # an hour old: not future
        heart_rate_row("P-4", T0 + 3_600_000, 80, bucket=BUCKET),  # no record time: not judged
    ]
    out = test.test(BUCKET, rows)
    assert dead_letters(out) == [("P-2", "future")]
    assert sorted(stored_patients(test)) == ["P-1", "P-3", "P-4"]  # P-2 never reached the rules
