"""``trend``: a rise or fall of a signal within a window."""

from __future__ import annotations

from typing import Any

import pytest

from vitalwatch.rules.kinds.trend import TrendRule, TrendSpec

from ..helpers import PATIENT, build, run, sbp


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
