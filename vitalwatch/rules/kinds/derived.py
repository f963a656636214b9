"""``derived``: a measure computed across readings, compared with a limit and sustained like
``threshold`` (alarm delay ``for``, ``max_gap``, hysteresis, cooldown, re-notify).

Measures:
    shock_index     heart rate / systolic pressure, at each blood-pressure reading, with the
                    latest heart rate at or before it and at most ``freshness`` older
                    (Allgöwer and Burri 1967; > 1.0 is associated with shock and mortality)
    pulse_pressure  systolic - diastolic of one blood-pressure reading (narrow < 25 mmHg:
                    low stroke volume; wide > 100 mmHg)

Mean arterial pressure, when a cuff does not report it, is derived at parsing, so ``threshold``
rules on ``mean_arterial_pressure`` already cover it.

Pairing across streams is deterministic in event time, whatever the batching: a blood-pressure
reading is evaluated once a heart-rate reading *after* it has been released (so every heart rate
at or before it is known; the heart-rate watermark guarantees no earlier one can still come), or
when the heart-rate feed goes quiet (live) or ends (history). Heart rates are kept back to
``_HISTORY_MS`` behind the newest (plus the one before, for the freshness check) and back to
any held blood-pressure reading. Live, this rule gets each signal's readings through the
evaluator's pairing hold (``rules.pairing_wait``, at least the allowed lateness), so a cuff
reading is released within that and two triggers of its arrival, and the pairing is exact while
that stays well under ``_HISTORY_MS``. A cuff reading released further behind the heart-rate
feed (a backlog of minutes read in one micro-batch after an outage) is paired with the oldest
heart rate kept and may be judged stale: a bounded state (~15 readings per patient) chosen over
exactness there.

The kernels keep threshold's state cells (the episode, then the run) and reuse its ``sustained``
over the derived values. The pairing measures' kernel (``PairingKernel``) also keeps the heart
rates and the queue of cuff readings, as list state (``rules.bucket``): per entry its slot,
``list.ts``, ``list.value`` (the heart rate, or the cuff's systolic) and ``list.cuff`` (a queued
cuff reading, else a heart rate); within a slot the heart rates, then the queue, each in
event-time order.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Literal

import numba
import numpy as np
import numpy.typing as npt
from pydantic import Field

from vitalwatch.contracts.alerts import Alert
from vitalwatch.contracts.readings import Reading, Signal
from vitalwatch.durations import DurationMs
from vitalwatch.rules.episode import Conditions, LimitRule
from vitalwatch.rules.kernel import (
    SIGNAL_INDEX,
    VALUE_INDEX,
    BoolArray,
    FloatArray,
    IntArray,
    Kernel,
    KernelState,
    Patients,
    Released,
)
from vitalwatch.rules.kind import PatientContext, RuleState
from vitalwatch.rules.kinds.threshold import ThresholdKernel, ThresholdRule, ThresholdSpec

DerivedMeasure = Literal["shock_index", "pulse_pressure"]


def _shock_index(heart_rate: float, systolic: float) -> float | None:
    return heart_rate / systolic if systolic > 0 else None


# How far behind the newest heart rate a blood-pressure reading may be released and still be
# paired exactly. Live, a cuff reading is released the pairing wait after it arrives.
_HISTORY_MS = 15_000
_HEART_RATE_ONLY = frozenset({Signal.HEART_RATE})


class DerivedSpec(ThresholdSpec):
    kind: Literal["derived"]  # type: ignore[assignment]
    signal: DerivedMeasure  # type: ignore[assignment]
    freshness: DurationMs = Field(default=60_000, gt=0)


class DerivedRule(ThresholdRule):
    """Threshold semantics over a derived measure; the sustained-breach logic is inherited."""

    spec_model = DerivedSpec  # type: ignore[assignment]

    def __init__(self, spec: DerivedSpec) -> None:
        LimitRule.__init__(self, spec)
        self.derived: DerivedSpec = spec

    @property
    def signals(self) -> frozenset[Signal]:
        if self.derived.signal == "pulse_pressure":
            return frozenset({Signal.BLOOD_PRESSURE})
        return frozenset({Signal.BLOOD_PRESSURE, Signal.HEART_RATE})

    def measure_field(self) -> str:
        return self.derived.signal

    def kernel(self) -> Kernel | None:
        if self.derived.signal == "pulse_pressure":
            return PulsePressureKernel(self)
        return PairingKernel(self)

    def step(
        self, state: RuleState, reading: Reading, patient: PatientContext
    ) -> tuple[RuleState, list[Alert]]:
        if self.derived.signal == "pulse_pressure":
            systolic, diastolic = reading.values.get("systolic"), reading.values.get("diastolic")
            if systolic is None or diastolic is None:
                return state, []
            return self.advance(state, reading.ts_ms, systolic - diastolic, patient)
        episode = state.get("episode", {})
        heart = _Heart(state)
        queue: list[list[float]] = state.get("queue", [])
        if reading.signal is Signal.HEART_RATE:
            heart.times.append(reading.ts_ms)
            heart.rates.append(reading.values["bpm"])
            if not queue:  # the common case, once a second: nothing waits to be paired
                return heart.state(episode, queue), []
        else:
            queue.append([reading.ts_ms, reading.values["systolic"]])
        newest_heart = heart.times[-1] if heart.times else None
        ready = [q for q in queue if newest_heart is not None and q[0] < newest_heart]
        return self._evaluate(episode, heart, queue, ready, patient)

    def finish(
        self, state: RuleState, patient: PatientContext, quiet: frozenset[Signal]
    ) -> tuple[RuleState, list[Alert]]:
        queue = state.get("queue", [])
        if Signal.HEART_RATE not in quiet or not queue:
            return state, []
        return self._evaluate(state.get("episode", {}), _Heart(state), queue, queue, patient)

    def held_until_quiet(self, state: RuleState) -> frozenset[Signal]:
        """A held blood-pressure reading waits for a later heart rate, or for the heart-rate
        feed to go quiet (``finish``); the cuff's own silence changes nothing."""
        return _HEART_RATE_ONLY if state.get("queue") else frozenset()

    def _evaluate(
        self,
        episode: RuleState,
        heart: _Heart,
        queue: list[list[float]],
        ready: list[list[float]],
        patient: PatientContext,
    ) -> tuple[RuleState, list[Alert]]:
        alerts: list[Alert] = []
        for bp_ts, systolic in ready:
            latest = bisect_right(heart.times, bp_ts) - 1  # the last heart rate at or before it
            if latest < 0 or bp_ts - heart.times[latest] > self.derived.freshness:
                continue
            value = _shock_index(heart.rates[latest], systolic)
            if value is not None:
                episode, fired = self.advance(episode, int(bp_ts), value, patient)
                alerts += fired
        queue = queue[len(ready) :]
        return heart.state(episode, queue), alerts


class _Heart:
    """The heart rates a derived rule keeps, in event-time order, as two flat lists (times and
    rates) rather than a list of pairs: the rule state is stored and decoded every micro-batch,
    and one list object per reading made most of a patient's state objects. State from
    before this layout (pairs under ``heart``) is not read: it held at most ``_HISTORY_MS`` of
    heart rates, gathered again within as long after an upgrade."""

    def __init__(self, state: RuleState) -> None:
        self.times: list[int] = state.get("heart_ts", [])
        self.rates: list[float] = state.get("heart_bpm", [])

    def state(self, episode: RuleState, queue: list[list[float]]) -> RuleState:
        """The rule's state, with the heart rates still needed: from the last one at or before
        the horizon (``_HISTORY_MS`` behind the newest, or the oldest held blood-pressure
        reading), so the freshness of a reading at the horizon can still be judged."""
        keep_from = 0
        if self.times:
            horizon = self.times[-1] - _HISTORY_MS
            if queue:
                horizon = min(horizon, int(queue[0][0]))
            keep_from = max(bisect_right(self.times, horizon) - 1, 0)
        return {
            "episode": episode,
            "heart_ts": self.times[keep_from:],
            "heart_bpm": self.rates[keep_from:],
            "queue": queue,
        }


class PulsePressureKernel(ThresholdKernel):
    """``pulse_pressure``: threshold's kernel over systolic - diastolic of each cuff reading."""

    rule: DerivedRule

    def conditions(self, cells: FloatArray, patients: Patients, released: Released) -> Conditions:
        values = released.values
        pressure = values[:, VALUE_INDEX["systolic"]] - values[:, VALUE_INDEX["diastolic"]]
        present = ~np.isnan(pressure)  # a reading without either leaves the rule as it was
        slot, ts = released.slot[present], released.ts[present].astype(np.float64)
        return self.sustained(cells, slot, ts, pressure[present], patients)


# What the pairing goes through, per slot in order: a released heart rate, a released cuff
# reading, and ``finish`` with the heart-rate feed quiet.
HEART, CUFF, QUIET = 0, 1, 2


@numba.njit(cache=True)
def _pairing(
    entry_slot: IntArray,
    entry_ts: IntArray,
    entry_value: FloatArray,
    entry_cuff: BoolArray,
    slot: IntArray,
    event: npt.NDArray[np.int8],
    ts: IntArray,
    value: FloatArray,
    freshness: int,
    history: int,
) -> tuple[IntArray, IntArray, FloatArray, BoolArray, IntArray, IntArray, FloatArray, FloatArray]:
    """``DerivedRule.step`` and ``finish`` of the pairing measures over events sorted by slot,
    each slot's heart rates and queue given and returned as list state: the new entries (slot,
    time, value, cuff), then the pairs to evaluate in order (slot, time, heart rate, systolic).
    Entries of slots without events are copied as they are."""
    m, n = len(entry_ts), len(ts)
    out_slot = np.empty(m + n, np.int64)
    out_ts = np.empty(m + n, np.int64)
    out_value = np.empty(m + n, np.float64)
    out_cuff = np.empty(m + n, np.bool_)
    # One slot's heart rates (``heart[hs:he]``) and queue (``queue[qs:qe]``) while it is paired.
    heart_ts = np.empty(m + n, np.int64)
    heart_bpm = np.empty(m + n, np.float64)
    queue_ts = np.empty(m + n, np.int64)
    queue_systolic = np.empty(m + n, np.float64)
    pair_slot = np.empty(m + n, np.int64)
    pair_ts = np.empty(m + n, np.int64)
    pair_bpm = np.empty(m + n, np.float64)
    pair_systolic = np.empty(m + n, np.float64)
    pairs = e = end = i = 0
    while i < n:
        s = slot[i]
        while e < m and entry_slot[e] < s:
            out_slot[end], out_ts[end] = entry_slot[e], entry_ts[e]
            out_value[end], out_cuff[end] = entry_value[e], entry_cuff[e]
            e += 1
            end += 1
        hs = he = qs = qe = 0
        while e < m and entry_slot[e] == s:
            if entry_cuff[e]:
                queue_ts[qe], queue_systolic[qe] = entry_ts[e], entry_value[e]
                qe += 1
            else:
                heart_ts[he], heart_bpm[he] = entry_ts[e], entry_value[e]
                he += 1
            e += 1
        while i < n and slot[i] == s:
            kind = event[i]
            if kind == HEART:
                heart_ts[he], heart_bpm[he] = ts[i], value[i]
                he += 1
            elif kind == CUFF:
                queue_ts[qe], queue_systolic[qe] = ts[i], value[i]
                qe += 1
            i += 1
            if kind == QUIET:
                if qs == qe:
                    continue  # nothing queued: finish() leaves the state as it was
                ready = qe
            elif he == hs:
                continue  # no heart rate yet: nothing to pair, nothing to drop
            else:  # the queued readings before the newest heart rate (the queue is in order)
                ready = qs
                while ready < qe and queue_ts[ready] < heart_ts[he - 1]:
                    ready += 1
            for q in range(qs, ready):
                latest = he - 1  # the last heart rate at or before the cuff reading
                while latest >= hs and heart_ts[latest] > queue_ts[q]:
                    latest -= 1
                if latest >= hs and queue_ts[q] - heart_ts[latest] <= freshness:
                    pair_slot[pairs], pair_ts[pairs] = s, queue_ts[q]
                    pair_bpm[pairs], pair_systolic[pairs] = heart_bpm[latest], queue_systolic[q]
                    pairs += 1
            qs = ready
            # ``_Heart.state``: keep from the last heart rate at or before the horizon. What
            # stays queued is at or after the newest heart rate, so the horizon is never the
            # oldest queued reading here.
            if he > hs:
                horizon = heart_ts[he - 1] - history
                while hs + 1 < he and heart_ts[hs + 1] <= horizon:
                    hs += 1
        for h in range(hs, he):
            out_slot[end], out_ts[end] = s, heart_ts[h]
            out_value[end], out_cuff[end] = heart_bpm[h], False
            end += 1
        for q in range(qs, qe):
            out_slot[end], out_ts[end] = s, queue_ts[q]
            out_value[end], out_cuff[end] = queue_systolic[q], True
            end += 1
    rest = m - e
    out_slot[end : end + rest] = entry_slot[e:]
    out_ts[end : end + rest] = entry_ts[e:]
    out_value[end : end + rest] = entry_value[e:]
    out_cuff[end : end + rest] = entry_cuff[e:]
    end += rest
    return (
        out_slot[:end].copy(),
        out_ts[:end].copy(),
        out_value[:end].copy(),
        out_cuff[:end].copy(),
        pair_slot[:pairs].copy(),
        pair_ts[:pairs].copy(),
        pair_bpm[:pairs].copy(),
        pair_systolic[:pairs].copy(),
    )


_HEART_RATE = SIGNAL_INDEX[Signal.HEART_RATE]


class PairingKernel(ThresholdKernel):
    """The pairing measures: each released reading goes through ``_pairing`` (a heart rate with
    nothing queued only joins the patient's heart rates), then the pairs it makes through
    threshold's ``sustained`` and the episode."""

    rule: DerivedRule
    holds_readings = True

    def blank(self, slots: int) -> KernelState:
        state = super().blank(slots)
        state["list.slot"] = np.empty(0, np.int64)
        state["list.ts"] = np.empty(0, np.int64)
        state["list.value"] = np.empty(0, np.float64)
        state["list.cuff"] = np.empty(0, np.bool_)
        return state

    def run(self, state: KernelState, patients: Patients, released: Released) -> list[Alert]:
        heart = released.signal == _HEART_RATE
        event = np.where(heart, HEART, CUFF).astype(np.int8)
        values = released.values
        value = np.where(heart, values[:, VALUE_INDEX["bpm"]], values[:, VALUE_INDEX["systolic"]])
        return self._pair(state, patients, released.slot, event, released.ts, value)

    def finish(
        self,
        state: KernelState,
        patients: Patients,
        slots: IntArray,
        quiet: dict[Signal, BoolArray],
    ) -> list[Alert]:
        chosen = np.sort(slots[quiet[Signal.HEART_RATE] & self._queued(state, slots)])
        if not len(chosen):
            return []
        event = np.full(len(chosen), QUIET, np.int8)
        return self._pair(
            state, patients, chosen, event, np.zeros_like(chosen), np.zeros(len(chosen))
        )

    def held_until_quiet(self, state: KernelState, slots: IntArray, signal: Signal) -> BoolArray:
        if signal is not Signal.HEART_RATE:
            return np.zeros(len(slots), bool)
        return self._queued(state, slots)

    def _queued(self, state: KernelState, slots: IntArray) -> BoolArray:
        """Which of ``slots`` have cuff readings queued."""
        return np.isin(slots, state["list.slot"][state["list.cuff"]])

    def _pair(
        self,
        state: KernelState,
        patients: Patients,
        slot: IntArray,
        event: npt.NDArray[np.int8],
        ts: IntArray,
        value: FloatArray,
    ) -> list[Alert]:
        spec = self.rule.derived
        paired = _pairing(
            state["list.slot"],
            state["list.ts"],
            state["list.value"],
            state["list.cuff"],
            slot,
            event,
            ts,
            value,
            spec.freshness,
            _HISTORY_MS,
        )
        state["list.slot"], state["list.ts"], state["list.value"], state["list.cuff"] = paired[:4]
        pair_slot, pair_ts, bpm, systolic = paired[4:]
        if not len(pair_ts):
            return []
        # The reference's own function per pair: a pair is a cuff reading, rare beside heart
        # rates, and the value is then exactly the reference's.
        derived = [_shock_index(h, s) for h, s in zip(bpm.tolist(), systolic.tolist(), strict=True)]
        valid = np.array([v is not None for v in derived], bool)
        measure = np.array([v for v in derived if v is not None], np.float64)
        cells = state["cells"]
        times = pair_ts[valid].astype(np.float64)
        conditions = self.sustained(cells, pair_slot[valid], times, measure, patients)
        return self.lifecycle(cells, patients, conditions)
