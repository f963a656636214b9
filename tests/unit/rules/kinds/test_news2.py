"""``news2``: the NEWS2 sub-score bands and the score rule's edge cases."""

from __future__ import annotations

import pytest

from vitalwatch.contracts.readings import Signal
from vitalwatch.rules.kinds.news2 import News2Rule, News2Spec
from vitalwatch.rules.news2_chart import band_score

from ..helpers import PATIENT, build, hr, run, sbp


@pytest.mark.parametrize(
    ("value", "score"),
    [(40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2), (130, 2), (131, 3),
     (130.4, 2), (130.5, 3), (0, 3), (250, 3)],
)  # fmt: skip
def test_news2_pulse_bands_at_every_boundary(value: float, score: int) -> None:
    assert band_score("pulse", value) == score


@pytest.mark.parametrize(
    ("value", "score"),
    [(90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3)],
)
def test_news2_systolic_bands_at_every_boundary(value: float, score: int) -> None:
    assert band_score("systolic", value) == score


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
