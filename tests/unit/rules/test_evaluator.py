"""The per-patient evaluator: event-time order, watermark, late readings, batch = stream."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from vitalwatch.contracts.readings import Reading, Signal
from vitalwatch.rules.evaluator import PatientEvaluator, PatientState
from vitalwatch.settings import RuleSettings

from .helpers import PATIENT, hr, tachycardia

LATENESS_MS = 5_000


def evaluate_in_batches(readings: list[Reading], batch_sizes: list[int]) -> list[tuple]:
    """Feed readings in arrival order, split into micro-batches, state carried as the stream
    stores it (JSON)."""
    evaluator = PatientEvaluator([tachycardia()], LATENESS_MS)
    state = PatientState()
    out: list[tuple] = []
    position = 0
    sizes = iter(batch_sizes)
    while position < len(readings):
        size = max(1, next(sizes, 1))
        batch = readings[position : position + size]
        position += size
        result = evaluator.process(state, PATIENT, batch)
        assert result.late == []
        out += [(a.alert_id, a.state.value, a.detected_ms) for a in result.alerts]
        state = PatientState.from_json_obj(orjson.loads(orjson.dumps(state)))
    out += [(a.alert_id, a.state.value, a.detected_ms) for a in evaluator.flush(state, PATIENT)]
    return out


def jitter_within_lateness(readings: list[Reading], data: st.DataObject) -> list[Reading]:
    """Reorder so no reading arrives after one more than LATENESS_MS newer (never late)."""
    keyed = [
        (r.ts_ms + data.draw(st.integers(0, LATENESS_MS - 1)), i, r) for i, r in enumerate(readings)
    ]
    return [r for _, _, r in sorted(keyed)]


# Runs of one value (so sustained breaches, dips and recoveries all occur), with gaps.
segments = st.lists(
    st.tuples(
        st.sampled_from([90, 130, 131, 150]), st.integers(1, 90), st.sampled_from([1, 1, 1, 12])
    ),
    min_size=1,
    max_size=12,
)


def series(runs: list[tuple[int, int, int]]) -> list[Reading]:
    readings, t = [], 0
    for value, length, step in runs:
        for _ in range(length):
            readings.append(hr(t, value))
            t += step
    return readings


@settings(max_examples=150, deadline=None)
@given(runs=segments, data=st.data())
def test_out_of_order_within_lateness_gives_the_alerts_of_in_order(runs, data) -> None:
    readings = series(runs)
    in_order = evaluate_in_batches(readings, [len(readings)])
    shuffled = jitter_within_lateness(readings, data)
    batches = data.draw(st.lists(st.integers(1, 20), max_size=60))
    assert evaluate_in_batches(shuffled, batches) == in_order


def test_reading_behind_the_watermark_is_late_and_not_evaluated() -> None:
    evaluator = PatientEvaluator([tachycardia()], LATENESS_MS)
    state = PatientState()
    evaluator.process(state, PATIENT, [hr(t, 140) for t in range(0, 30)])
    result = evaluator.process(state, PATIENT, [hr(10, 90), hr(30, 140)])
    assert result.late == [0]


def test_detection_waits_for_the_watermark_and_flush_releases_the_tail() -> None:
    evaluator = PatientEvaluator([tachycardia()], LATENESS_MS)
    state = PatientState()
    first = evaluator.process(state, PATIENT, [hr(t, 140) for t in range(0, 61)])
    assert first.alerts == []  # the reading at 60 s is still within the lateness window
    second = evaluator.process(state, PATIENT, [hr(65, 140)])
    assert [a.detected_ms for a in second.alerts] == [60_000]


def test_watermarks_are_per_signal() -> None:
    """A blood-pressure cuff whose clock lags must not make heart-rate readings late."""
    evaluator = PatientEvaluator([tachycardia()], LATENESS_MS)
    state = PatientState()
    bp = Reading(Signal.BLOOD_PRESSURE, 500_000, {"systolic": 120.0, "diastolic": 80.0})
    evaluator.process(state, PATIENT, [bp])
    assert evaluator.process(state, PATIENT, [hr(10, 90)]).late == []


# -- the default: no lateness hold (README "Event time and lateness") ------------------------

DEFAULT_LATENESS_MS = RuleSettings().allowed_lateness


def alert_keys(alerts: list) -> list[tuple]:
    return [(a.alert_id, a.state.value, a.detected_ms) for a in alerts]


def in_order_alerts(readings: list[Reading]) -> list[tuple]:
    evaluator = PatientEvaluator([tachycardia()], DEFAULT_LATENESS_MS)
    state = PatientState()
    alerts = evaluator.process(state, PATIENT, sorted(readings, key=lambda r: r.ts_ms), 0).alerts
    return alert_keys(alerts + evaluator.flush(state, PATIENT))


def test_by_default_a_reading_in_order_is_evaluated_in_the_call_it_arrives_in() -> None:
    evaluator = PatientEvaluator([tachycardia()], DEFAULT_LATENESS_MS)
    state = PatientState()
    first = evaluator.process(state, PATIENT, [hr(t, 140) for t in range(0, 61)], now_ms=1_000)
    assert [a.detected_ms for a in first.alerts] == [60_000]  # the deciding reading's own call


def test_a_reading_at_the_time_of_the_newest_released_is_not_late() -> None:
    """In order it would come after the released reading of that time, so it is evaluated."""
    evaluator = PatientEvaluator([tachycardia(**{"for": "0s"})], 0)
    state = PatientState()
    assert evaluator.process(state, PATIENT, [hr(9, 90), hr(10, 90)], now_ms=0).alerts == []
    again = evaluator.process(state, PATIENT, [hr(10, 140)], now_ms=1)
    assert again.late == [] and [a.detected_ms for a in again.alerts] == [10_000]


@settings(max_examples=150, deadline=None)
@given(runs=segments, data=st.data())
def test_by_default_in_order_input_gives_its_alerts_in_the_call_of_the_deciding_reading(
    runs, data
) -> None:
    """Readings in order per signal (Kafka's order per key), cut into any micro-batches and
    shuffled within each (a batch's rows come in no set order): the alerts of in-order input,
    none late, each in the call of the reading that decides it: nothing waits."""
    readings = series(runs)
    evaluator = PatientEvaluator([tachycardia()], DEFAULT_LATENESS_MS)
    state = PatientState()
    got: list[tuple] = []
    position, now = 0, 0
    for size in data.draw(st.lists(st.integers(1, 20), max_size=60)) + [len(readings)]:
        batch = data.draw(st.permutations(readings[position : position + size]))
        position += size
        now += 1_000
        result = evaluator.process(state, PATIENT, batch, now)
        assert result.late == []
        assert {a.detected_ms for a in result.alerts} <= {r.ts_ms for r in batch}
        got += alert_keys(result.alerts + evaluator.tick(state, PATIENT, now))
        state = PatientState.from_json_obj(orjson.loads(orjson.dumps(state)))
    assert alert_keys(evaluator.flush(state, PATIENT)) == []  # nothing was held back
    assert got == in_order_alerts(readings)


@settings(max_examples=150, deadline=None)
@given(runs=segments, data=st.data())
def test_by_default_a_reading_older_than_one_of_an_earlier_call_is_late_and_the_rest_exact(
    runs, data
) -> None:
    """Out of order across micro-batches (a feed Kafka did not get in order): a reading older
    than one evaluated in an earlier call is late (dead-lettered and counted by the stream);
    the alerts are those of the other readings in order."""
    readings = jitter_within_lateness(series(runs), data)
    evaluator = PatientEvaluator([tachycardia()], DEFAULT_LATENESS_MS)
    state = PatientState()
    got, kept, newest = [], [], None
    position = 0
    for size in data.draw(st.lists(st.integers(1, 20), max_size=60)) + [len(readings)]:
        batch = readings[position : position + size]
        position += size
        result = evaluator.process(state, PATIENT, batch, position)
        expected_late = [i for i, r in enumerate(batch) if newest is not None and r.ts_ms < newest]
        assert result.late == expected_late
        kept += [r for i, r in enumerate(batch) if i not in expected_late]
        newest = max([r.ts_ms for r in batch] + ([newest] if newest is not None else []))
        got += alert_keys(result.alerts)
    got += alert_keys(evaluator.flush(state, PATIENT))
    assert got == in_order_alerts(kept)
