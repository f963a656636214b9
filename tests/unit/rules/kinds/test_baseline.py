"""``baseline``: deviation from the patient's own exponentially weighted baseline."""

from typing import Any

from vitalwatch.rules.kinds.baseline import BaselineRule, BaselineSpec

from ..helpers import hr, run


def baseline(**overrides: Any) -> BaselineRule:
    fields: dict[str, Any] = {
        "id": "hr-above-baseline",
        "description": "heart rate 30/min above the patient's baseline",
        "source": "test",
        "kind": "baseline",
        "signal": "heart_rate",
        "change": 30,
        "half_life": "1h",
        "warm_up": "10m",
        "cooldown": "0s",
        "severity": "medium",
        "summary": "HR {value:.0f} ({limit:+.0f} from baseline) - bed {bed}",
    }
    fields.update(overrides)
    return BaselineRule(BaselineSpec.model_validate(fields))


def minutes(start: int, end: int, bpm: float) -> list:
    return [hr(m * 60, bpm) for m in range(start, end)]


def test_a_rise_of_change_above_the_patients_own_baseline_fires() -> None:
    # Baseline 60: 89 is no alert, 90 is (the limit is reached, not exceeded).
    assert run(baseline(), minutes(0, 30, 60) + minutes(30, 31, 89)) == []
    assert run(baseline(), minutes(0, 30, 60) + minutes(30, 31, 90)) == [("firing", 1800, 1800)]


def test_the_same_value_is_normal_for_a_patient_whose_baseline_is_high() -> None:
    assert run(baseline(), minutes(0, 30, 95) + minutes(30, 31, 110)) == []


def test_nothing_is_judged_during_the_warm_up() -> None:
    assert run(baseline(), minutes(0, 5, 60) + minutes(5, 6, 120)) == []


def test_a_lasting_change_becomes_the_new_baseline_and_resolves() -> None:
    alerts = run(baseline(half_life="10m"), minutes(0, 30, 60) + minutes(30, 120, 100))
    assert alerts[0] == ("firing", 1800, 1800)
    assert alerts[1][0] == "resolved"  # the baseline caught up with 100 within a few half-lives
    assert 1800 < alerts[1][2] < 1800 + 3 * 600


def test_a_fall_from_baseline() -> None:
    rule = baseline(change=-25, id="hr-below-baseline")
    assert run(rule, minutes(0, 30, 90) + minutes(30, 31, 64)) == [("firing", 1800, 1800)]
