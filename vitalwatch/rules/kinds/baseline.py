"""``baseline``: deviation from the patient's own baseline, e.g. heart rate 30/min above what is
usual for this patient, whatever the population limits say.

The baseline is an exponentially weighted mean in event time with half-life ``half_life`` (a
reading ``half_life`` old weighs half as much as a new one), so the state is two numbers however
long the history. A reading breaches when ``value - baseline`` reaches ``change`` (signed: a
rise, or a fall when negative), judged against the baseline *before* the reading joins it; no
reading is judged before the baseline has ``warm_up`` of history. Breaching readings join the
baseline too, so a lasting change becomes the new normal after a few half-lives - the rule
flags deviations, not states (those are what ``threshold`` is for).

The kernel (``BaselineKernel``) keeps the same four numbers per patient as cells (mean, since,
last, onset) and computes the mean bit for bit as ``condition()`` does.
"""

from __future__ import annotations

from typing import Literal

import numba
import numpy as np
from pydantic import Field

from vitalwatch.durations import DurationMs
from vitalwatch.rules.episode import (
    EPISODE_CELLS,
    ChangeRule,
    ChangeSpec,
    Condition,
    Conditions,
    EpisodeKernel,
)
from vitalwatch.rules.kernel import BoolArray, FloatArray, IntArray, Kernel, Patients, Released
from vitalwatch.rules.kind import PatientContext, RuleState
from vitalwatch.rules.kinds.news2 import breach_runs


class BaselineSpec(ChangeSpec):
    kind: Literal["baseline"]
    half_life: DurationMs = Field(gt=0)
    warm_up: DurationMs = Field(default=0, ge=0)


class BaselineRule(ChangeRule[BaselineSpec]):
    spec_model = BaselineSpec

    def condition(
        self, state: RuleState, ts: int, value: float, patient: PatientContext
    ) -> tuple[RuleState, Condition]:
        spec = self.spec
        change = self.change_for(patient)
        mean: float | None = state.get("mean")
        since: int = state.get("since", ts)
        last: int = state.get("last", ts)
        breaching = False
        if mean is not None and ts - since >= spec.warm_up:
            delta = value - mean
            breaching = self.reached(delta, change)
        if mean is None:
            mean = value
        else:
            keep = 0.5 ** ((ts - last) / spec.half_life)
            mean = keep * mean + (1 - keep) * value
        previous: int | None = state.get("onset")
        onset: int = ts if previous is None or not breaching else previous
        new_state = {
            "mean": mean,
            "since": since,
            "last": ts,
            "onset": onset if breaching else None,
        }
        return new_state, Condition(breaching, breaching, onset, value, change)

    def kernel(self) -> Kernel | None:
        return BaselineKernel(self)


MEAN, SINCE, LAST, ONSET = range(EPISODE_CELLS, EPISODE_CELLS + 4)
# The base of the mean's decay, passed to ``deviations`` as an argument: with a literal 0.5 LLVM
# rewrites ``0.5 ** x`` as ``exp2(-x)``, which rounds differently from Python's float power (the
# C library's ``pow``, which numba calls for a base it does not know) for about 3 in 10,000 x.
HALF = 0.5


@numba.njit(cache=True)
def deviations(
    cells: FloatArray,
    slot: IntArray,
    ts: FloatArray,
    value: FloatArray,
    change: FloatArray,
    half_life: float,
    warm_up: float,
    half: float,
) -> BoolArray:
    """``BaselineRule.condition`` over values in order, but for the onset: whether each
    breaches; the values join each patient's mean (MEAN, SINCE and LAST updated)."""
    breaching = np.zeros(len(ts), np.bool_)
    for i in range(len(ts)):
        row = cells[slot[i]]
        t = ts[i]
        mean = row[MEAN]
        if np.isnan(mean):
            row[MEAN], row[SINCE] = value[i], t
        else:
            if t - row[SINCE] >= warm_up:
                delta = value[i] - mean
                breaching[i] = delta <= change[i] if change[i] < 0 else delta >= change[i]
            keep = half ** ((t - row[LAST]) / half_life)
            row[MEAN] = keep * mean + (1 - keep) * value[i]
        row[LAST] = t
    return breaching


class BaselineKernel(EpisodeKernel):
    rule: BaselineRule
    kind_cells = 4  # MEAN, SINCE, LAST, ONSET

    def conditions(self, cells: FloatArray, patients: Patients, released: Released) -> Conditions:
        spec = self.rule.spec
        slot, ts, value = self.measured(released)
        change = self.rule.changes(patients)[slot]
        breaching = deviations(
            cells, slot, ts, value, change, float(spec.half_life), float(spec.warm_up), HALF
        )
        onset = breach_runs(cells, ONSET, slot, ts, breaching)
        return slot, ts, breaching, breaching, onset, value, change
