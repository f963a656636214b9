"""``trend``: a change of a measure within a window, e.g. systolic falling 30 mmHg in 15 min.

``change`` is signed: negative for a fall (from the highest value in the window), positive for
a rise (from the lowest). The onset is the time of that reference reading.

The kernel (``TrendKernel``) keeps each patient's window as list state (``rules.bucket``): the
entries ``list.slot``, ``list.ts`` and ``list.value``, sorted by slot and then event time, the
reference's ``times`` and ``values`` for all of a bucket's patients; the episode in the cells.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Literal

import numba
import numpy as np
from pydantic import Field

from vitalwatch.contracts.alerts import Alert
from vitalwatch.durations import DurationMs
from vitalwatch.rules.episode import ChangeRule, ChangeSpec, Condition, EpisodeKernel
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


class TrendSpec(ChangeSpec):
    kind: Literal["trend"]
    window: DurationMs = Field(gt=0)


class TrendRule(ChangeRule[TrendSpec]):
    spec_model = TrendSpec

    def condition(
        self, state: RuleState, ts: int, value: float, patient: PatientContext
    ) -> tuple[RuleState, Condition]:
        spec = self.spec
        change = self.change_for(patient)
        times, values = _window(state)
        keep = bisect_left(times, ts - spec.window)  # readings come in event-time order
        times, values = times[keep:], values[keep:]
        breaching = False
        since = ts
        if times:
            pick = max if change < 0 else min
            ref_value, negated_ts = pick(zip(values, (-t for t in times), strict=True))
            delta = value - ref_value
            breaching = self.reached(delta, change)
            since = -negated_ts
        times.append(ts)
        values.append(value)
        return {"times": times, "values": values}, Condition(
            breaching, breaching, since, value, change
        )

    def kernel(self) -> Kernel | None:
        return TrendKernel(self)


def _window(state: RuleState) -> tuple[list[int], list[float]]:
    """The readings in the window, as two flat lists (times, values): the state is stored and
    decoded every micro-batch, and a list per reading (an hour of a cuff: 60) made most of a
    patient's state objects. State written before this layout (pairs under ``recent``) is read
    too, so an upgrade keeps the window."""
    if "times" in state:
        return state["times"], state["values"]
    pairs = state.get("recent", [])
    return [t for t, _ in pairs], [v for _, v in pairs]


@numba.njit(cache=True)
def _reference(values: FloatArray, head: int, end: int, fall: bool) -> int:
    """Where the reference reading is in a window ``values[head:end]`` (in event-time order):
    the highest value (a fall) or the lowest (a rise), of equal ones the earliest highest or
    the latest lowest, as the reference's max or min over (value, -time)."""
    ref = head
    for j in range(head + 1, end):
        if (fall and values[j] > values[ref]) or (not fall and values[j] <= values[ref]):
            ref = j
    return ref


@numba.njit(cache=True)
def _windows(
    entry_slot: IntArray,
    entry_ts: IntArray,
    entry_value: FloatArray,
    slot: IntArray,
    ts: IntArray,
    value: FloatArray,
    change: FloatArray,
    window: int,
) -> tuple[IntArray, IntArray, FloatArray, BoolArray, FloatArray]:
    """``TrendRule.condition`` over values in order (sorted by slot), each slot's window given
    and returned as list state: the new entries (slot, time, value), then each value's
    breaching and since. Entries of slots without values are copied as they are."""
    m, n = len(entry_ts), len(ts)
    out_slot = np.empty(m + n, np.int64)
    out_ts = np.empty(m + n, np.int64)
    out_value = np.empty(m + n, np.float64)
    breaching = np.empty(n, np.bool_)
    since = np.empty(n, np.float64)
    e = end = i = 0
    while i < n:
        s = slot[i]
        while e < m and entry_slot[e] < s:
            out_slot[end], out_ts[end], out_value[end] = entry_slot[e], entry_ts[e], entry_value[e]
            e += 1
            end += 1
        start = end  # the slot's window is out[head:end]
        while e < m and entry_slot[e] == s:
            out_slot[end], out_ts[end], out_value[end] = s, entry_ts[e], entry_value[e]
            e += 1
            end += 1
        head = start
        while i < n and slot[i] == s:
            t = ts[i]
            while head < end and out_ts[head] < t - window:  # bisect_left: the window is sorted
                head += 1
            breaching[i], since[i] = False, t
            if head < end:
                ref = _reference(out_value, head, end, change[i] < 0)
                delta = value[i] - out_value[ref]
                breaching[i] = delta <= change[i] if change[i] < 0 else delta >= change[i]
                since[i] = out_ts[ref]
            out_slot[end], out_ts[end], out_value[end] = s, t, value[i]
            end += 1
            i += 1
        kept = end - head
        out_ts[start : start + kept] = out_ts[head:end].copy()
        out_value[start : start + kept] = out_value[head:end].copy()
        end = start + kept
    rest = m - e
    out_slot[end : end + rest] = entry_slot[e:]
    out_ts[end : end + rest] = entry_ts[e:]
    out_value[end : end + rest] = entry_value[e:]
    end += rest
    return out_slot[:end].copy(), out_ts[:end].copy(), out_value[:end].copy(), breaching, since


class TrendKernel(EpisodeKernel):
    rule: TrendRule

    def blank(self, slots: int) -> KernelState:
        state = super().blank(slots)
        state["list.slot"] = np.empty(0, np.int64)
        state["list.ts"] = np.empty(0, np.int64)
        state["list.value"] = np.empty(0, np.float64)
        return state

    def run(self, state: KernelState, patients: Patients, released: Released) -> list[Alert]:
        slot, ts, value = self.measured(released)
        change = self.rule.changes(patients)[slot]
        windows = _windows(
            state["list.slot"],
            state["list.ts"],
            state["list.value"],
            slot,
            ts.astype(np.int64),
            value,
            change,
            self.rule.spec.window,
        )
        state["list.slot"], state["list.ts"], state["list.value"], breaching, since = windows
        conditions = (slot, ts, breaching, breaching, since, value, change)
        return self.lifecycle(state["cells"], patients, conditions)
