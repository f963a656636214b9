from vitalwatch.contracts.alerts import AlertState
from vitalwatch.contracts.readings import PATIENT_ID_PATTERN

from ..helpers import PATIENT, hr, run, tachycardia


def steady(start: int, end: int, bpm: float) -> list:
    return [hr(t, bpm) for t in range(start, end + 1)]


def test_sustained_breach_fires_once_when_the_delay_is_met() -> None:
    alerts = run(tachycardia(), steady(0, 120, 140))
    assert alerts == [("firing", 0, 60)]


def test_breach_shorter_than_the_delay_does_not_fire() -> None:
    assert run(tachycardia(), steady(0, 59, 140) + steady(60, 100, 90)) == []


def test_limit_itself_does_not_breach_and_one_above_does() -> None:
    # NEWS2: pulse >= 131 scores 3, so "above: 130" must not fire at exactly 130.
    assert run(tachycardia(), steady(0, 90, 130)) == []
    assert run(tachycardia(), steady(0, 90, 131)) == [("firing", 0, 60)]


def test_a_dip_restarts_the_alarm_delay() -> None:
    readings = steady(0, 40, 140) + [hr(41, 100)] + steady(42, 110, 140)
    assert run(tachycardia(), readings) == [("firing", 42, 102)]


def test_a_gap_in_readings_restarts_the_alarm_delay() -> None:
    # max_gap is 10 s: 20 s without readings is no evidence that the breach held.
    readings = steady(0, 40, 140) + steady(61, 130, 140)
    assert run(tachycardia(), readings) == [("firing", 61, 121)]


def test_a_gap_within_max_gap_keeps_the_run() -> None:
    readings = steady(0, 30, 140) + steady(40, 70, 140)
    assert run(tachycardia(), readings) == [("firing", 0, 60)]


def test_resolves_after_clear_after_of_normal_readings() -> None:
    rule = tachycardia(clear_after="20s")
    readings = steady(0, 70, 140) + steady(71, 85, 90) + [hr(86, 140)] + steady(87, 120, 90)
    assert run(rule, readings) == [("firing", 0, 60), ("resolved", 0, 107)]


def test_cooldown_suppresses_a_new_episode_and_allows_it_afterwards() -> None:
    rule = tachycardia(cooldown="5m")
    first = steady(0, 70, 140) + [hr(71, 90)]
    second = steady(72, 200, 140)  # would fire at 132, but the last firing was at 60
    third = steady(201, 400, 140)  # continuing breach fires once the cooldown is over
    alerts = run(rule, first + second + third)
    assert alerts == [("firing", 0, 60), ("resolved", 0, 71), ("firing", 72, 360)]


def test_below_limit_rule_fires_on_low_values() -> None:
    rule = tachycardia(above=None, below=40, id="brady")
    assert run(rule, steady(0, 70, 35)) == [("firing", 0, 60)]


def test_alert_carries_values_labels_summary_and_a_deterministic_id() -> None:
    rule = tachycardia(labels={"team": "rrt"})
    state: dict = {}
    fired = []
    for reading in steady(0, 60, 142):
        state, alerts = rule.step(state, reading, PATIENT)
        fired += alerts
    (alert,) = fired
    assert alert.state is AlertState.FIRING
    assert alert.values == {"bpm": 142}
    assert alert.labels == {"team": "rrt", "bed": "12", "ward": "ICU-A"}
    assert alert.summary == "HR 142 for 1m bed 12"
    again = run(rule, steady(0, 60, 142))
    assert again == [("firing", 0, 60)]
    from vitalwatch.contracts.alerts import alert_id

    assert alert.alert_id == alert_id("tachy", "P-0042", 0)
    assert alert.alert_id != alert_id("tachy", "P-0042", 1000)


def test_patient_id_pattern_rejects_spaces() -> None:
    import re

    assert re.match(PATIENT_ID_PATTERN, "P-0042")
    assert not re.match(PATIENT_ID_PATTERN, "P 0042")
