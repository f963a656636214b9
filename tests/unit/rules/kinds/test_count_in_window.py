"""``count_in_window``: the n-th breach within a window, and consecutive counts."""

from __future__ import annotations

from typing import Any

from vitalwatch.rules.kinds.count_in_window import CountInWindowRule, CountInWindowSpec

from ..helpers import build, hr, run


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
