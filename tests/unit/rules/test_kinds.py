"""count_in_window, trend and news2: each kind's edge cases."""

from __future__ import annotations

from typing import Any

import pytest

from vitalwatch.contracts.readings import Reading, Signal
from vitalwatch.rules.count_in_window import CountInWindowRule, CountInWindowSpec
from vitalwatch.rules.news2 import News2Rule, News2Spec, news2_score
from vitalwatch.rules.trend import TrendRule, TrendSpec

from .helpers import PATIENT, hr, run

COMMON = {
    "description": "d",
    "source": "s",
    "severity": "high",
    "summary": "{value}",
    "cooldown": "0s",
}


def sbp(ts_s: float, value: float) -> Reading:
    return Reading(Signal.BLOOD_PRESSURE, int(ts_s * 1000), {"systolic": value, "diastolic": 50.0})


def build(rule_cls: Any, spec_cls: Any, **fields: Any) -> Any:
    return rule_cls(spec_cls.model_validate({**COMMON, "id": "r", **fields}))


@pytest.mark.parametrize(
    ("value", "score"),
    [(40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2), (130, 2), (131, 3),
     (130.4, 2), (130.5, 3), (0, 3), (250, 3)],
)  # fmt: skip
def test_news2_pulse_bands_at_every_boundary(value: float, score: int) -> None:
    assert news2_score("pulse", value) == score


@pytest.mark.parametrize(
    ("value", "score"),
    [(90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3)],
)
def test_news2_systolic_bands_at_every_boundary(value: float, score: int) -> None:
    assert news2_score("systolic", value) == score


def test_news2_red_score_fires_on_the_first_reading_and_resolves() -> None:
    rule = build(News2Rule, News2Spec, kind="news2", parameter="pulse", min_score=3)
    readings = [hr(0, 130), hr(1, 131), hr(2, 135), hr(3, 129)]
    assert run(rule, readings) == [("firing", 1, 1), ("resolved", 1, 3)]


def test_news2_systolic_ignores_heart_rate() -> None:
    rule = build(News2Rule, News2Spec, kind="news2", parameter="systolic")
    assert rule.signals == frozenset({Signal.BLOOD_PRESSURE})
    state: dict = {}
    state, alerts = rule.step(state, sbp(0, 88), PATIENT)
    assert [a.values for a in alerts] == [{"systolic": 88}]


def count_rule(**fields: Any) -> CountInWindowRule:
    spec = {
        "kind": "count_in_window",
        "signal": "heart_rate",
        "above": 150,
        "count": 3,
        "window": "60s",
    }
    return build(CountInWindowRule, CountInWindowSpec, **{**spec, **fields})


def test_count_in_window_fires_on_the_nth_breach_within_the_window() -> None:
    readings = [hr(0, 160), hr(10, 90), hr(20, 160), hr(30, 90), hr(40, 160)]
    assert run(count_rule(), readings) == [("firing", 0, 40)]


def test_count_in_window_breaches_too_far_apart_do_not_fire() -> None:
    readings = [hr(0, 160), hr(35, 160), hr(70, 160), hr(105, 160)]
    assert run(count_rule(), readings) == []


def test_consecutive_count_is_reset_by_a_normal_reading() -> None:
    rule = count_rule(consecutive=True, window="10m")
    assert run(rule, [hr(0, 160), hr(1, 160), hr(2, 90), hr(3, 160), hr(4, 160)]) == []
    assert run(rule, [hr(0, 160), hr(1, 160), hr(2, 160)]) == [("firing", 0, 2)]


def trend_rule(**fields: Any) -> TrendRule:
    spec = {"kind": "trend", "signal": "systolic", "change": -30, "window": "15m"}
    return build(TrendRule, TrendSpec, **{**spec, **fields})


def test_trend_fall_within_the_window_fires_from_the_peak() -> None:
    readings = [sbp(0, 120), sbp(300, 130), sbp(600, 110), sbp(900, 100)]
    assert run(trend_rule(), readings) == [("firing", 300, 900)]


def test_trend_the_same_fall_over_a_longer_time_does_not_fire() -> None:
    readings = [sbp(0, 130), sbp(600, 115), sbp(1200, 100)]
    assert run(trend_rule(), readings) == []


def test_trend_rise() -> None:
    readings = [sbp(0, 100), sbp(60, 125), sbp(120, 131)]
    assert run(trend_rule(change=30), readings) == [("firing", 0, 120)]


def test_trend_reads_the_window_of_state_written_as_pairs() -> None:
    """A checkpoint from before the flat layout keeps its window across an upgrade."""
    rule = trend_rule()
    old_state = {"kind": {"recent": [[300_000, 130.0], [600_000, 110.0]]}}
    _, alerts = rule.step(old_state, sbp(900, 100), PATIENT)
    assert [(a.state.value, a.onset_ms // 1000, a.detected_ms // 1000) for a in alerts] == [
        ("firing", 300, 900)
    ]


def test_zero_change_is_refused() -> None:
    with pytest.raises(ValueError, match="change of 0"):
        trend_rule(change=0)
