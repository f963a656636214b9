"""``no_data`` and the evaluator's processing-time ``tick``: silence raises a technical alert
without waiting for a next reading; held readings are released when a feed stops."""

from typing import Any

from vitalwatch.contracts.readings import Reading, Signal
from vitalwatch.rules.evaluator import PatientEvaluator, PatientState
from vitalwatch.rules.kinds.no_data import NoDataRule, NoDataSpec

from ..helpers import PATIENT, hr, tachycardia


def no_hr(**overrides: Any) -> NoDataRule:
    fields: dict[str, Any] = {
        "id": "hr-no-data",
        "description": "no heart rate for 2 min",
        "source": "monitor default",
        "kind": "no_data",
        "signal": "heart_rate",
        "for": "2m",
        "severity": "low",
        "summary": "no heart rate for {duration} - bed {bed}",
    }
    fields.update(overrides)
    return NoDataRule(NoDataSpec.model_validate(fields))


def states(alerts: list) -> list[tuple[str, int, int]]:
    return [(a.state.value, a.onset_ms // 1000, a.detected_ms // 1000) for a in alerts]


def test_silence_fires_at_the_deadline_without_a_next_reading_and_resolves_on_the_next() -> None:
    evaluator = PatientEvaluator([no_hr()], allowed_lateness_ms=2_000)
    state = PatientState()
    evaluator.process(state, PATIENT, [hr(0, 80), hr(1, 80)], now_ms=1_500)
    assert evaluator.next_deadline(state) == 1_500 + 2_000  # first: release the held reading
    assert evaluator.tick(state, PATIENT, 3_500) == []
    assert evaluator.next_deadline(state) == 1_500 + 120_000
    assert evaluator.tick(state, PATIENT, 121_499) == []
    fired = evaluator.tick(state, PATIENT, 121_500)
    assert states(fired) == [("firing", 1, 121)]  # onset: the last reading, when silence began
    assert fired[0].labels["category"] == "technical" and fired[0].severity.value == "low"
    assert evaluator.next_deadline(state) is None  # firing: nothing more to wait for
    assert evaluator.tick(state, PATIENT, 500_000) == []  # and it fires once
    evaluation = evaluator.process(state, PATIENT, [hr(600, 80)], now_ms=600_000)
    resolved = evaluation.alerts + evaluator.tick(state, PATIENT, 602_000)
    assert states(resolved) == [("resolved", 1, 600)]
    assert resolved[0].alert_id == fired[0].alert_id


def test_over_history_a_gap_fires_and_resolves_in_event_time() -> None:
    evaluator = PatientEvaluator([no_hr()], allowed_lateness_ms=0)
    state = PatientState()
    readings = [hr(0, 80), hr(60, 80), hr(300, 80), hr(301, 80), hr(421, 80)]
    alerts = evaluator.process(state, PATIENT, readings).alerts + evaluator.flush(state, PATIENT)
    # 60 -> 300 is silent for 4 min: fires 2 min after 60, resolves at 300; 301 -> 421 is 2 min.
    assert states(alerts) == [
        ("firing", 60, 180), ("resolved", 60, 300), ("firing", 301, 421), ("resolved", 301, 421)
    ]  # fmt: skip
    assert evaluator.next_deadline(state) is None  # no arrival times over history: no timers


def test_another_signal_keeps_no_hr_from_being_quiet_only_for_its_own_stream() -> None:
    evaluator = PatientEvaluator([no_hr()], allowed_lateness_ms=0)
    state = PatientState()
    evaluator.process(state, PATIENT, [hr(0, 80)], now_ms=0)
    bp = Reading(Signal.BLOOD_PRESSURE, 100_000, {"systolic": 120.0, "diastolic": 80.0})
    evaluator.process(state, PATIENT, [bp], now_ms=100_000)
    assert states(evaluator.tick(state, PATIENT, 120_000)) == [("firing", 0, 120)]


def test_tick_releases_held_readings_once_the_feed_is_quiet_for_the_lateness() -> None:
    evaluator = PatientEvaluator([tachycardia(**{"for": "2s"})], allowed_lateness_ms=5_000)
    state = PatientState()
    evaluation = evaluator.process(state, PATIENT, [hr(t, 140) for t in range(4)], now_ms=10_000)
    assert evaluation.alerts == []  # held: the newest is within the lateness
    assert evaluator.tick(state, PATIENT, 14_999) == []
    assert states(evaluator.tick(state, PATIENT, 15_000)) == [("firing", 0, 2)]
    late = evaluator.process(state, PATIENT, [hr(2.5, 140)], now_ms=16_000).late
    assert late == [0]  # behind the released readings: late, returned to be dead-lettered


def test_every_signal_of_the_contract_can_be_watched_for_silence() -> None:
    import typing

    from vitalwatch.contracts.readings import Signal
    from vitalwatch.rules.kinds.no_data import NoDataSpec

    watched = typing.get_args(NoDataSpec.model_fields["signal"].annotation)
    assert sorted(watched) == sorted(signal.value for signal in Signal)
