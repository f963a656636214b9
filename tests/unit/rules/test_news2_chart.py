"""The NEWS2 chart (RCP 2017, chart 1) at every band boundary of every parameter."""

from __future__ import annotations

import numpy as np
import pytest

from vitalwatch.rules.news2_chart import BANDS, band_score, band_scores, spo2_band

BOUNDARIES = {
    "respiration": [(8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (0, 3)],
    "spo2_scale1": [(91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)],
    "spo2_scale2_air": [(83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0), (92, 0), (93, 0),
                        (100, 0)],
    "spo2_scale2_oxygen": [(83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0), (92, 0),
                           (93, 1), (94, 1), (95, 2), (96, 2), (97, 3), (100, 3)],
    "systolic": [(90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3)],
    "pulse": [(40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2),
              (130, 2), (131, 3)],
    # the index in A, C, V, P, U
    "consciousness": [(0, 0), (1, 3), (2, 3), (3, 3), (4, 3)],
    "temperature": [(35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1), (39.0, 1),
                    (39.1, 2), (42.0, 2), (20.0, 3)],
}  # fmt: skip
CASES = [(band, value, score) for band, cases in BOUNDARIES.items() for value, score in cases]


@pytest.mark.parametrize(("band", "value", "score"), CASES)
def test_every_band_boundary_scores_as_on_the_chart(band: str, value: float, score: int) -> None:
    assert band_score(band, value) == score
    assert band_scores(band, np.array([float(value)])).tolist() == [score]


@pytest.mark.parametrize(
    ("band", "value", "score"),
    [
        ("temperature", 36.05, 0),  # charted 36.1 (rounded half up, though 36.05 x 10 < 360.5)
        ("temperature", 36.04, 1),  # charted 36.0
        ("temperature", 35.05, 1),
        ("pulse", 130.5, 3),
        ("pulse", 130.49, 2),
        ("spo2_scale1", 91.5, 2),
        ("respiration", 20.5, 2),
    ],
)
def test_values_are_scored_as_charted_rounded_half_up(band: str, value: float, score: int) -> None:
    assert band_score(band, value) == score
    assert band_scores(band, np.array([value])).tolist() == [score]


def test_the_vectorised_scores_are_the_scalar_ones_everywhere() -> None:
    values = np.round(np.arange(0.0, 250.0, 0.05), 2)
    for band in BANDS:
        assert band_scores(band, values).tolist() == [band_score(band, v) for v in values], band


def test_spo2_scale_2_is_only_for_flagged_patients_and_depends_on_oxygen() -> None:
    assert spo2_band(1, on_oxygen=True) == spo2_band(1, on_oxygen=False) == "spo2_scale1"
    assert spo2_band(2, on_oxygen=False) == "spo2_scale2_air"
    assert spo2_band(2, on_oxygen=True) == "spo2_scale2_oxygen"
