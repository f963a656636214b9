"""The NEWS2 observation chart: each parameter's score, from the Royal College of Physicians'
National Early Warning Score (NEWS) 2, December 2017, chart 1 ("The NEWS scoring system").

    respiration rate (/min): <=8: 3 | 9-11: 1 | 12-20: 0 | 21-24: 2 | >=25: 3
    SpO2 scale 1 (%):        <=91: 3 | 92-93: 2 | 94-95: 1 | >=96: 0
    SpO2 scale 2 (%):        <=83: 3 | 84-85: 2 | 86-87: 1 | 88-92: 0 | >=93 on air: 0
                             93-94 on oxygen: 1 | 95-96 on oxygen: 2 | >=97 on oxygen: 3
    air or oxygen:           air: 0 | oxygen: 2
    systolic (mmHg):         <=90: 3 | 91-100: 2 | 101-110: 1 | 111-219: 0 | >=220: 3
    pulse (/min):            <=40: 3 | 41-50: 1 | 51-90: 0 | 91-110: 1 | 111-130: 2 | >=131: 3
    consciousness:           Alert: 0 | new Confusion, Voice, Pain, Unresponsive: 3
    temperature (degC):      <=35.0: 3 | 35.1-36.0: 1 | 36.1-38.0: 0 | 38.1-39.0: 1 | >=39.1: 2

SpO2 scale 2 is for patients with hypercapnic respiratory failure, on a clinician's decision
(chart 1's note; RCP NEWS2 report, section 5); everyone else is scored on scale 1. Values are
scored as charted: whole numbers, temperature to a tenth of a degree, rounded half up.

Aggregate bands (the clinical response chart, "NEWS thresholds and triggers"): 0-4 low, a
score of 3 in any single parameter low-medium ("red score": urgent ward-based response), 5-6
medium (urgent response), 7 or more high (emergency response).
"""

from __future__ import annotations

import math

import numpy as np

from vitalwatch.rules.kernel import FloatArray, IntArray

# (upper bound inclusive, score) in ascending order, on the charted value (temperature in
# tenths of a degree); above the last bound scores the last entry.
BANDS: dict[str, tuple[tuple[float, int], ...]] = {
    "respiration": ((8, 3), (11, 1), (20, 0), (24, 2), (math.inf, 3)),
    "spo2_scale1": ((91, 3), (93, 2), (95, 1), (math.inf, 0)),
    "spo2_scale2_air": ((83, 3), (85, 2), (87, 1), (math.inf, 0)),
    "spo2_scale2_oxygen": ((83, 3), (85, 2), (87, 1), (92, 0), (94, 1), (96, 2), (math.inf, 3)),
    "systolic": ((90, 3), (100, 2), (110, 1), (219, 0), (math.inf, 3)),
    "pulse": ((40, 3), (50, 1), (90, 0), (110, 1), (130, 2), (math.inf, 3)),
    "consciousness": ((0, 0), (math.inf, 3)),  # the index in A, C, V, P, U: Alert is 0
    "temperature": ((350, 3), (360, 1), (380, 0), (390, 1), (math.inf, 2)),
}
OXYGEN_SCORE = 2
RED_SCORE = 3
# Tenths of a degree for temperature, whole units for the rest.
_CHARTED_SCALE = {"temperature": 10.0}


# Added before rounding so that a value written to a tenth (36.05) is rounded half up although
# binary floating point holds it a hair under (36.05 x 10 = 360.49999999999994).
ROUNDING_SLACK = 1e-9


def charted(band: str, value: float) -> float:
    """The value as written on the chart, in the band's unit, rounded half up."""
    return math.floor(value * _CHARTED_SCALE.get(band, 1.0) + 0.5 + ROUNDING_SLACK)


def band_score(band: str, value: float) -> int:
    written = charted(band, value)
    for upper, score in BANDS[band]:
        if written <= upper:
            return score
    raise AssertionError("the last band is unbounded")


def spo2_band(scale: int, on_oxygen: bool) -> str:
    """The SpO2 row of the chart: scale 1, or scale 2 on air or on oxygen."""
    if scale != 2:
        return "spo2_scale1"
    return "spo2_scale2_oxygen" if on_oxygen else "spo2_scale2_air"


# BANDS as arrays, for ``band_scores``.
_UPPERS = {name: np.array([upper for upper, _ in bands]) for name, bands in BANDS.items()}
_SCORES = {name: np.array([score for _, score in bands]) for name, bands in BANDS.items()}


def band_scores(band: str, values: FloatArray) -> IntArray:
    """``band_score`` of each value: the first band whose upper bound the charted value is at
    or under (``side="left"``)."""
    written = np.floor(values * _CHARTED_SCALE.get(band, 1.0) + 0.5 + ROUNDING_SLACK)
    scores: IntArray = _SCORES[band][np.searchsorted(_UPPERS[band], written, "left")]
    return scores


def band_table(bands: tuple[str, ...]) -> tuple[FloatArray, IntArray, FloatArray]:
    """Several bands as one padded table for compiled code: per band its upper bounds and
    scores (padded with +inf and the last score) and its charted-value scale."""
    width = max(len(BANDS[name]) for name in bands)
    uppers = np.full((len(bands), width), np.inf)
    scores = np.zeros((len(bands), width), np.int64)
    scales = np.ones(len(bands))
    for row, name in enumerate(bands):
        entries = BANDS[name]
        uppers[row, : len(entries)] = [upper for upper, _ in entries]
        scores[row, :] = entries[-1][1]
        scores[row, : len(entries)] = [score for _, score in entries]
        scales[row] = _CHARTED_SCALE.get(name, 1.0)
    return uppers, scores, scales
