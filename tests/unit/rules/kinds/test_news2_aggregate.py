"""``news2_aggregate``: the chart's aggregate and highest score from each parameter's latest
fresh reading, scored in event time once every signal the patient sends has caught up."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from vitalwatch.contracts.readings import ACVPU_FIELD, ON_OXYGEN_FIELD, Reading, Signal
from vitalwatch.rules.bucket import Bucket
from vitalwatch.rules.engine import ColumnarEngine
from vitalwatch.rules.evaluator import PatientEvaluator, PatientState
from vitalwatch.rules.kernel import SIGNAL_INDEX, VALUE_FIELDS
from vitalwatch.rules.kind import PatientContext
from vitalwatch.rules.kinds.news2_aggregate import News2AggregateRule, News2AggregateSpec

from ..helpers import PATIENT, build


def news2(**fields: Any) -> News2AggregateRule:
    spec = {"kind": "news2_aggregate", "min_score": 5, "summary": "{value:.0f} {limit}", **fields}
    rule: News2AggregateRule = build(News2AggregateRule, News2AggregateSpec, **spec)
    return rule


def reading(signal: Signal, ts_s: float, **values: float) -> Reading:
    return Reading(signal, int(ts_s * 1000), values)


def pulse(ts_s: float, bpm: float) -> Reading:
    return reading(Signal.HEART_RATE, ts_s, bpm=bpm)


def spo2(ts_s: float, value: float, on_oxygen: bool | None = None) -> Reading:
    extra = {} if on_oxygen is None else {ON_OXYGEN_FIELD: float(on_oxygen)}
    return reading(Signal.SPO2, ts_s, spo2=value, **extra)


def respiration(ts_s: float, rate: float) -> Reading:
    return reading(Signal.RESPIRATION, ts_s, rate=rate)


def temperature(ts_s: float, celsius: float) -> Reading:
    return reading(Signal.TEMPERATURE, ts_s, celsius=celsius)


def acvpu(ts_s: float, level: int) -> Reading:
    return reading(Signal.CONSCIOUSNESS, ts_s, **{ACVPU_FIELD: float(level)})


def systolic(ts_s: float, value: float) -> Reading:
    return reading(Signal.BLOOD_PRESSURE, ts_s, systolic=value, diastolic=50.0)


Alerts = list[tuple[str, int, int, float]]


def fired(rule: News2AggregateRule, readings: list[Reading], patient: Any = PATIENT) -> Alerts:
    evaluator = PatientEvaluator([rule], allowed_lateness_ms=0)
    state = PatientState()
    alerts = evaluator.process(state, patient, readings).alerts + evaluator.flush(state, patient)
    return [(a.state.value, a.onset_ms // 1000, a.detected_ms // 1000, a.values[k]) for a in alerts
            for k in a.values]  # fmt: skip


@pytest.mark.parametrize(
    ("readings", "score"),
    [
        ([respiration(0, 21), pulse(0, 111)], 4),  # 2 + 2
        ([respiration(0, 21), pulse(0, 111), temperature(0, 38.1)], 5),  # + 1
        ([respiration(0, 25), pulse(0, 111), temperature(0, 38.1)], 6),
        ([respiration(0, 25), pulse(0, 111), temperature(0, 39.1)], 7),
        # every parameter at once: 3 + 3 + 2 (oxygen) + 3 + 3 + 3 + 3
        (
            [
                respiration(0, 8),
                spo2(0, 91, on_oxygen=True),
                systolic(0, 90),
                pulse(0, 40),
                acvpu(0, 4),
                temperature(0, 35.0),
            ],
            20,
        ),
    ],
)
def test_the_aggregate_is_the_sum_of_the_parameters_scores(readings: list[Reading], score: int):
    for min_score, fires in ((score, True), (min(score + 1, 20), score == 20)):
        alerts = fired(news2(min_score=min_score), readings)
        assert alerts == ([("firing", 0, 0, float(score))] if fires else []), min_score


def test_the_aggregate_bands_of_the_default_rules() -> None:
    urgent, emergency = news2(id="urgent", min_score=5), news2(id="emergency", min_score=7)
    six = [respiration(0, 25), pulse(0, 111), temperature(0, 38.1)]
    assert fired(urgent, six) == [("firing", 0, 0, 6.0)]
    assert fired(emergency, six) == []
    seven = [*six[:2], temperature(0, 39.1)]
    assert fired(emergency, seven) == [("firing", 0, 0, 7.0)]


@pytest.mark.parametrize(
    "red",
    [
        respiration(0, 25),
        spo2(0, 91),
        systolic(0, 220),
        pulse(0, 131),
        acvpu(0, 1),
        temperature(0, 35.0),
    ],
)
def test_the_highest_single_parameter_is_a_red_score(red: Reading) -> None:
    rule = news2(measure="highest", min_score=3)
    assert fired(rule, [red]) == [("firing", 0, 0, 3.0)]
    assert fired(rule, [respiration(0, 21), pulse(0, 111), temperature(0, 39.1)]) == []


def test_oxygen_scores_2_and_moves_spo2_to_the_oxygen_row_of_scale_2() -> None:
    rule = news2(measure="aggregate", min_score=1)
    # scale 1: SpO2 97 scores 0; on oxygen the aggregate is 2
    assert fired(rule, [spo2(0, 97, on_oxygen=True)]) == [("firing", 0, 0, 2.0)]
    assert fired(rule, [spo2(0, 97, on_oxygen=False)]) == []
    assert fired(rule, [spo2(0, 97)]) == []  # not known: air
    flagged = PatientContext("P-1", overrides={"r.spo2_scale": 2.0})
    assert fired(rule, [spo2(0, 97, on_oxygen=True)], flagged) == [("firing", 0, 0, 5.0)]
    assert fired(rule, [spo2(0, 93, on_oxygen=False)], flagged) == []  # >= 93 on air: 0
    assert fired(rule, [spo2(0, 87)], flagged) == [("firing", 0, 0, 1.0)]
    assert fired(news2(min_score=1, spo2_scale=2), [spo2(0, 97, on_oxygen=True)]) == [
        ("firing", 0, 0, 5.0)
    ]


def test_a_reading_older_than_its_freshness_does_not_score() -> None:
    rule = news2(min_score=5, freshness={"systolic": "10m"})
    # pulse 131 (3) + systolic 100 (2) = 5; the systolic is fresh for 10 min exactly
    readings = [systolic(0, 100), pulse(0, 131), pulse(600, 131), pulse(601, 131)]
    assert fired(news2(min_score=5, freshness={"systolic": "10m"}, clear_after="0s"), readings) == [
        ("firing", 0, 0, 5.0),
        ("resolved", 0, 601, 3.0),
    ]
    assert rule.freshness["oxygen"] == rule.freshness["spo2"] == 300_000


def test_readings_of_one_time_are_scored_together() -> None:
    # Three parameters stamped at one time give one score, not a rising 2, 4, 5.
    rule = news2(min_score=1)
    readings = [respiration(0, 21), pulse(0, 111), temperature(0, 38.1)]
    assert fired(rule, readings) == [("firing", 0, 0, 5.0)]


def live(rule: News2AggregateRule, calls: list[tuple[int, list[Reading]]]) -> list[list[Any]]:
    """Each call's readings at its processing time (ms), then any due tick, one list a call."""
    evaluator = PatientEvaluator([rule], allowed_lateness_ms=0, pairing_wait_ms=0)
    state = PatientState()
    out: list[list[Any]] = []
    for now, readings in calls:
        alerts = evaluator.process(state, PATIENT, readings, now).alerts if readings else []
        deadline = evaluator.next_deadline(state)
        if not readings and deadline is not None and deadline <= now:
            alerts += evaluator.tick(state, PATIENT, now)
        out.append([(a.state.value, a.onset_ms // 1000, a.detected_ms // 1000) for a in alerts])
    return out


def test_a_time_is_scored_once_every_signal_has_caught_up_with_it() -> None:
    rule = news2(min_score=5, clear_after="0s")
    # The SpO2 of 10 s (91: 3) comes after the pulse up to 20 s (111: 2): 10 s is scored with
    # it, as over history, not without it when the pulse arrived.
    calls = [
        (1_000, [pulse(0, 111), spo2(0, 96)]),
        (2_000, [pulse(t, 111) for t in range(10, 21)]),
        (3_000, [spo2(10, 91)]),
    ]
    assert live(rule, calls) == [[], [], [("firing", 10, 10)]]
    everything = [r for _, readings in calls for r in readings]
    assert [a[:3] for a in fired(rule, everything)] == [("firing", 10, 10)]


def test_a_quiet_signal_stops_holding_the_others_back() -> None:
    rule = news2(min_score=5)
    calls = [
        (1_000, [respiration(0, 25), pulse(0, 80)]),  # 3 + 0
        (5_000, [pulse(5, 131)]),  # 3 + 3 at 5 s, held: respiration has no reading at 5 s yet
        (5_000, []),  # the respiration feed quiet since 1 s (the pairing wait is 0)
    ]
    assert live(rule, calls) == [[], [], [("firing", 5, 5)]]


def test_a_signal_sent_but_not_released_yet_holds_the_others_back() -> None:
    # The respiration rate of 0 s arrives after the SpO2 of 1 s has gone quiet; while it is
    # held back (the pairing wait), 1 s is not scored without it: 3 + 3 + 2, not 3 + 2.
    rule = news2(min_score=7)
    evaluator = PatientEvaluator([rule], allowed_lateness_ms=0, pairing_wait_ms=2_000)
    state = PatientState()
    assert evaluator.process(state, PATIENT, [spo2(1, 91, on_oxygen=True)], 1_000).alerts == []
    assert evaluator.process(state, PATIENT, [respiration(0, 26)], 2_500).alerts == []
    assert evaluator.tick(state, PATIENT, 3_000) == []  # the SpO2 quiet, released: it waits
    alerts = evaluator.tick(state, PATIENT, 4_500)  # the respiration rate quiet too
    assert [(a.state.value, a.onset_ms, a.values) for a in alerts] == [
        ("firing", 1_000, {"news2_aggregate": 8.0})
    ]


def test_the_kernel_gives_the_reference_alerts_and_state() -> None:
    rule = news2(min_score=4, clear_after="2s", freshness={"pulse": "3s"})
    flagged = PatientContext("P-2", overrides={"r.spo2_scale": 2.0, "r.min_score": 6.0})
    patients = [PatientContext("P-1"), flagged]
    readings = {
        "P-1": [respiration(0, 25), pulse(0, 111), spo2(1, 93, True), pulse(2, 80),
                temperature(3, 38.1), pulse(7, 131), acvpu(8, 2), pulse(9, 60)],
        "P-2": [spo2(0, 97, True), pulse(0, 95), respiration(2, 21), spo2(3, 86), pulse(5, 95)],
    }  # fmt: skip
    expected = []
    for patient in patients:
        expected += fired(rule, readings[patient.patient_id], patient)
    engine = ColumnarEngine([rule], allowed_lateness_ms=0)
    bucket = Bucket()
    ids = [p.patient_id for p in patients]
    order = [(p, r) for p in ids for r in readings[p]]
    slots = bucket.admit(ids, patients)[[ids.index(p) for p, _ in order]]
    values = np.array([[r.values.get(f, np.nan) for f in VALUE_FIELDS] for _, r in order])
    alerts, _ = engine.process(
        bucket,
        slots,
        np.array([SIGNAL_INDEX[r.signal] for _, r in order], np.int8),
        np.array([r.ts_ms for _, r in order], np.int64),
        values,
        None,
    )
    alerts += engine.flush(bucket, np.unique(slots))
    got = [(a.state.value, a.onset_ms // 1000, a.detected_ms // 1000, *a.values.values())
           for a in sorted(alerts, key=lambda a: a.patient_id)]  # fmt: skip
    assert expected  # both patients' scores reach their limits at some point
    assert got == expected
