"""``news2``: one National Early Warning Score 2 parameter's score, from the RCP 2017 chart
(``rules.news2_chart``), on each reading of that parameter.

The rule fires when the parameter's score reaches ``min_score``; 3 is the RCP's "red score"
trigger (a single parameter scoring 3 warrants an urgent ward-based response). SpO2 and air or
oxygen are scored together, on the scale the patient is on, by ``news2_aggregate``, which also
scores the aggregate and the highest single parameter over the whole chart.

The kernel (``News2Kernel``) scores a call's values with numpy and keeps one cell per patient,
the start of the current run of scoring readings (the episode's onset).
"""

from __future__ import annotations

from collections.abc import Mapping
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
from vitalwatch.rules.news2_chart import band_score, band_scores

# Each parameter's measure (``rules.episode.MEASURES``); its chart row has the parameter's name.
_MEASURE = {
    "pulse": "heart_rate",
    "systolic": "systolic",
    "respiration": "respiration_rate",
    "temperature": "temperature",
    "consciousness": "consciousness",
}
Parameter = Literal["pulse", "systolic", "respiration", "temperature", "consciousness"]


class News2Spec(EpisodeSpec):
    kind: Literal["news2"]
    parameter: Parameter
    min_score: int = Field(default=3, ge=1, le=3)


class News2Rule(EpisodeRule[News2Spec]):
    spec_model = News2Spec

    def __init__(self, spec: News2Spec) -> None:
        super().__init__(spec)
        self.measure = _MEASURE[spec.parameter]

    def condition(
        self, state: RuleState, ts: int, value: float, patient: PatientContext
    ) -> tuple[RuleState, Condition]:
        breaching = band_score(self.spec.parameter, value) >= self.spec.min_score
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
        labels: Mapping[str, str] | None = None,
    ) -> Alert:
        """The limit is ``min_score``, a whole number: a summary shows it as one (``3``) also
        when the kernel, whose limits are float64, passes ``3.0``."""
        limit = int(limit)
        return super().alert(state, patient, onset_ms, detected_ms, values, limit, repeat, labels)

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
        breaching = band_scores(spec.parameter, value) >= spec.min_score
        since = breach_runs(cells, SINCE, slot, ts, breaching)
        limit = np.full(len(ts), float(spec.min_score))
        return slot, ts, breaching, breaching, since, value, limit
