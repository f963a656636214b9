"""``news2``: a National Early Warning Score 2 parameter score, from the RCP 2017 chart.

Implemented parameters (those vitalwatch's signals carry), scored on the whole-number value as
charted:

    pulse (/min):    <=40: 3 | 41-50: 1 | 51-90: 0 | 91-110: 1 | 111-130: 2 | >=131: 3
    systolic (mmHg): <=90: 3 | 91-100: 2 | 101-110: 1 | 111-219: 0 | >=220: 3

The rule fires when the parameter's score reaches ``min_score``; 3 is the RCP's "red score"
trigger (a single parameter scoring 3 warrants an urgent ward-based response). Respiration,
SpO2, temperature and consciousness extend this table when their signals exist; the aggregate
bands (5-6 urgent, >=7 emergency) need them.

The kernel (``News2Kernel``) scores a call's values with numpy and keeps one cell per patient,
the start of the current run of scoring readings (the episode's onset).
"""

from __future__ import annotations

import math
from typing import Literal

import numba
import numpy as np
from pydantic import Field

from vitalwatch.contracts.alerts import Alert, AlertState
from vitalwatch.rules.episode import (
    EPISODE_CELLS,
    Condition,
    Conditions,
    EpisodeKernel,
    EpisodeRule,
    EpisodeSpec,
)
from vitalwatch.rules.kernel import BoolArray, FloatArray, IntArray, Kernel, Patients, Released
from vitalwatch.rules.kind import PatientContext, RuleState

# (upper bound inclusive, score) in ascending order; above the last bound scores the last entry.
BANDS: dict[str, tuple[tuple[float, int], ...]] = {
    "pulse": ((40, 3), (50, 1), (90, 0), (110, 1), (130, 2), (math.inf, 3)),
    "systolic": ((90, 3), (100, 2), (110, 1), (219, 0), (math.inf, 3)),
}
_MEASURE = {"pulse": "heart_rate", "systolic": "systolic"}


def news2_score(parameter: str, value: float) -> int:
    charted = math.floor(value + 0.5)
    for upper, score in BANDS[parameter]:
        if charted <= upper:
            return score
    raise AssertionError("the last band is unbounded")


# BANDS as arrays, for ``news2_scores``.
_UPPERS = {name: np.array([upper for upper, _ in bands]) for name, bands in BANDS.items()}
_SCORES = {name: np.array([score for _, score in bands]) for name, bands in BANDS.items()}


def news2_scores(parameter: str, values: FloatArray) -> IntArray:
    """``news2_score`` of each value: the first band whose upper bound the charted value is at
    or under (``side="left"``), on the value rounded half up as there."""
    charted = np.floor(values + 0.5)
    scores: IntArray = _SCORES[parameter][np.searchsorted(_UPPERS[parameter], charted, "left")]
    return scores


class News2Spec(EpisodeSpec):
    kind: Literal["news2"]
    parameter: Literal["pulse", "systolic"]
    min_score: int = Field(default=3, ge=1, le=3)


class News2Rule(EpisodeRule[News2Spec]):
    spec_model = News2Spec

    def __init__(self, spec: News2Spec) -> None:
        super().__init__(spec)
        self.measure = _MEASURE[spec.parameter]

    def condition(
        self, state: RuleState, ts: int, value: float, patient: PatientContext
    ) -> tuple[RuleState, Condition]:
        breaching = news2_score(self.spec.parameter, value) >= self.spec.min_score
        since: int = ts
        if breaching and state.get("since") is not None:
            since = state["since"]
        new_state = {"since": since if breaching else None}
        return new_state, Condition(breaching, breaching, since, value, self.spec.min_score)

    def alert(
        self,
        state: AlertState,
        patient: PatientContext,
        onset_ms: int,
        detected_ms: int,
        values: dict[str, float],
        limit: float,
        repeat: int = 0,
    ) -> Alert:
        """The limit is ``min_score``, a whole number: a summary shows it as one (``3``) also
        when the kernel, whose limits are float64, passes ``3.0``."""
        return super().alert(state, patient, onset_ms, detected_ms, values, int(limit), repeat)

    def kernel(self) -> Kernel | None:
        return News2Kernel(self)


SINCE = EPISODE_CELLS


@numba.njit(cache=True)
def breach_runs(
    cells: FloatArray, cell: int, slot: IntArray, ts: FloatArray, breaching: BoolArray
) -> FloatArray:
    """For values in order, when the run of breaching values each is part of began (its own
    time if it does not breach), the open run's start kept in ``cells[:, cell]`` (NaN: none):
    the ``since`` of kinds whose condition holds exactly while values breach (also baseline)."""
    since = np.empty(len(ts), np.float64)
    for i in range(len(ts)):
        row = cells[slot[i]]
        start = ts[i] if not breaching[i] or np.isnan(row[cell]) else row[cell]
        since[i] = start
        row[cell] = start if breaching[i] else np.nan
    return since


class News2Kernel(EpisodeKernel):
    rule: News2Rule
    kind_cells = 1  # SINCE

    def conditions(self, cells: FloatArray, patients: Patients, released: Released) -> Conditions:
        spec = self.rule.spec
        slot, ts, value = self.measured(released)
        breaching = news2_scores(spec.parameter, value) >= spec.min_score
        since = breach_runs(cells, SINCE, slot, ts, breaching)
        limit = np.full(len(ts), float(spec.min_score))
        return slot, ts, breaching, breaching, since, value, limit
