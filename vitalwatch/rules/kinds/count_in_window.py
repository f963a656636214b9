"""``count_in_window``: at least ``count`` breaching readings within ``window``, or ``count``
consecutive breaching readings (``consecutive: true``), for intermittent abnormalities that a
sustained-threshold rule would miss (e.g. runs of extreme tachycardia between normal beats).

The kernel (``CountInWindowKernel``) keeps the hits as list state (``rules.bucket``): one entry
per hit, oldest first within each patient's. Not ``count`` cells per patient: a reload may
change ``count`` and keeps the rule's state, and a bucket grows a state by appending blank rows
of the kernel's own width.
"""

from __future__ import annotations

from typing import Literal

import numba
import numpy as np
from pydantic import Field

from vitalwatch.contracts.alerts import Alert
from vitalwatch.durations import DurationMs
from vitalwatch.rules.bucket import LIST_SLOT
from vitalwatch.rules.episode import Condition, EpisodeKernel, LimitRule, LimitSpec
from vitalwatch.rules.kernel import (
    BoolArray,
    FloatArray,
    IntArray,
    Kernel,
    KernelState,
    Patients,
    Released,
)
from vitalwatch.rules.kind import PatientContext, RuleState


class CountInWindowSpec(LimitSpec):
    kind: Literal["count_in_window"]
    count: int = Field(ge=1)
    window: DurationMs = Field(gt=0)
    consecutive: bool = False


class CountInWindowRule(LimitRule[CountInWindowSpec]):
    spec_model = CountInWindowSpec

    def condition(
        self, state: RuleState, ts: int, value: float, patient: PatientContext
    ) -> tuple[RuleState, Condition]:
        spec = self.spec
        limit = self.limit_for(patient)
        breaching = self.breaches(value, limit)
        hits: list[int] = [t for t in state.get("hits", []) if ts - t <= spec.window]
        if breaching:
            hits.append(ts)
        elif spec.consecutive:
            hits = []
        hits = hits[-spec.count :]
        holds = len(hits) >= spec.count
        since = hits[0] if hits else ts
        return {"hits": hits}, Condition(breaching, holds, since, value, limit)

    def kernel(self) -> Kernel | None:
        return CountInWindowKernel(self)


HITS = "list.hit"  # the hit times, one entry each; their slots in LIST_SLOT


@numba.njit(cache=True)
def counted(
    hit_slot: IntArray,
    hit: FloatArray,
    slot: IntArray,
    ts: FloatArray,
    breaching: BoolArray,
    count: int,
    window: float,
    consecutive: bool,
) -> tuple[BoolArray, FloatArray, IntArray, FloatArray]:
    """``CountInWindowRule.condition`` over values in order (sorted by slot, like the hits):
    holds and since of each, and the hits afterwards (a patient without values keeps its)."""
    n = len(ts)
    holds = np.empty(n, np.bool_)
    since = np.empty(n, np.float64)
    out_slot = np.empty(len(hit) + n, np.int64)  # each value adds at most one hit
    out_hit = np.empty(len(hit) + n, np.float64)
    size = 0  # entries written
    j = 0  # the next stored hit
    i = 0
    while i < n:
        patient = slot[i]
        while j < len(hit) and hit_slot[j] <= patient:  # copied; the patient's own are first
            out_slot[size], out_hit[size] = hit_slot[j], hit[j]
            size += 1
            j += 1
        start = size
        while start > 0 and out_slot[start - 1] == patient:
            start -= 1
        while i < n and slot[i] == patient:
            t = ts[i]
            end = start
            for k in range(start, size):  # those still within the window, in order
                if t - out_hit[k] <= window:
                    out_hit[end] = out_hit[k]
                    end += 1
            if breaching[i]:
                out_hit[end] = t
                end += 1
            elif consecutive:
                end = start
            first = max(start, end - count)  # the last ``count``
            for k in range(first, end):
                out_hit[start + k - first] = out_hit[k]
            size = start + end - first
            holds[i] = size - start >= count
            since[i] = out_hit[start] if size > start else t
            i += 1
        out_slot[start:size] = patient
    while j < len(hit):
        out_slot[size], out_hit[size] = hit_slot[j], hit[j]
        size += 1
        j += 1
    return holds, since, out_slot[:size], out_hit[:size]


class CountInWindowKernel(EpisodeKernel):
    rule: CountInWindowRule

    def blank(self, slots: int) -> KernelState:
        state = super().blank(slots)
        state[LIST_SLOT], state[HITS] = np.empty(0, np.int64), np.empty(0, np.float64)
        return state

    def run(self, state: KernelState, patients: Patients, released: Released) -> list[Alert]:
        spec = self.rule.spec
        slot, ts, value = self.measured(released)
        limit = self.rule.limits(patients)[slot]
        breaching = value > limit if self.rule.above else value < limit
        holds, since, state[LIST_SLOT], state[HITS] = counted(
            state[LIST_SLOT],
            state[HITS],
            slot,
            ts,
            breaching,
            spec.count,
            float(spec.window),
            spec.consecutive,
        )
        conditions = slot, ts, breaching, holds, since, value, limit
        return self.lifecycle(state["cells"], patients, conditions)
