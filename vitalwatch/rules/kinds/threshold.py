"""``threshold``: a value above (or below) a limit, sustained, with hysteresis and a cooldown.

Semantics, in event time, per patient:
- a reading *breaches* when its value is strictly above ``above`` (or strictly below ``below``),
  a limit the patient roster may override per patient (column ``<rule-id>.above``);
- the alarm delay ``for`` is met when every reading since the first breach of the current run
  breaches and the run spans at least ``for`` (a dip resets the run);
- a gap of more than ``max_gap`` between two readings also resets the run (no evidence that the
  condition held in between);
- once firing, it resolves after non-breaching readings spanning ``clear_after`` (0: the first);
- a new episode does not fire within ``cooldown`` of the previous firing.
"""

from __future__ import annotations

from typing import Literal

import numba
import numpy as np
from pydantic import Field

from vitalwatch.durations import DurationMs
from vitalwatch.rules.episode import (
    EPISODE_CELLS,
    Condition,
    Conditions,
    EpisodeKernel,
    LimitRule,
    LimitSpec,
)
from vitalwatch.rules.kernel import BoolArray, FloatArray, IntArray, Kernel, Patients, Released
from vitalwatch.rules.kind import PatientContext, RuleState


class ThresholdSpec(LimitSpec):
    kind: Literal["threshold"]
    for_: DurationMs = Field(alias="for", ge=0)
    max_gap: DurationMs = Field(default=30_000, gt=0)


class ThresholdRule(LimitRule[ThresholdSpec]):
    spec_model = ThresholdSpec

    def condition(
        self, state: RuleState, ts: int, value: float, patient: PatientContext
    ) -> tuple[RuleState, Condition]:
        limit = self.limit_for(patient)
        run_start: int | None = state.get("run_start")
        last_ts: int | None = state.get("last_ts")
        if last_ts is not None and ts - last_ts > self.spec.max_gap:
            run_start = None
        breaching = self.breaches(value, limit)
        if not breaching:
            run_start = None
        elif run_start is None:
            run_start = ts
        holds = run_start is not None and ts - run_start >= self.spec.for_
        since = run_start if run_start is not None else ts
        return {"run_start": run_start, "last_ts": ts}, Condition(
            breaching, holds, since, value, limit
        )

    def kernel(self) -> Kernel | None:
        return ThresholdKernel(self)


RUN_START, LAST_TS = EPISODE_CELLS, EPISODE_CELLS + 1


@numba.njit(cache=True)
def sustained(
    cells: FloatArray,
    slot: IntArray,
    ts: FloatArray,
    value: FloatArray,
    limit: FloatArray,
    above: bool,
    for_: float,
    max_gap: float,
) -> tuple[BoolArray, BoolArray, FloatArray]:
    """``ThresholdRule.condition`` over values in order: breaching, holds and since of each."""
    n = len(ts)
    breaching = np.empty(n, np.bool_)
    holds = np.empty(n, np.bool_)
    since = np.empty(n, np.float64)
    for i in range(n):
        row = cells[slot[i]]
        t = ts[i]
        run_start = row[RUN_START]
        if not np.isnan(row[LAST_TS]) and t - row[LAST_TS] > max_gap:
            run_start = np.nan
        breaches = value[i] > limit[i] if above else value[i] < limit[i]
        if not breaches:
            run_start = np.nan
        elif np.isnan(run_start):
            run_start = t
        breaching[i] = breaches
        holds[i] = not np.isnan(run_start) and t - run_start >= for_
        since[i] = t if np.isnan(run_start) else run_start
        row[RUN_START], row[LAST_TS] = run_start, t
    return breaching, holds, since


class ThresholdKernel(EpisodeKernel):
    rule: ThresholdRule
    kind_cells = 2  # RUN_START, LAST_TS

    def conditions(self, cells: FloatArray, patients: Patients, released: Released) -> Conditions:
        slot, ts, value = self.measured(released)
        return self.sustained(cells, slot, ts, value, patients)

    def sustained(
        self,
        cells: FloatArray,
        slot: IntArray,
        ts: FloatArray,
        value: FloatArray,
        patients: Patients,
    ) -> Conditions:
        spec = self.rule.spec
        limit = self.rule.limits(patients)[slot]
        breaching, holds, since = sustained(
            cells, slot, ts, value, limit, self.rule.above, float(spec.for_), float(spec.max_gap)
        )
        return slot, ts, breaching, holds, since, value, limit
