"""``news2_aggregate``: the whole NEWS2 chart (``rules.news2_chart``) scored from the latest
reading of each parameter, as the aggregate (``measure: aggregate``) or the highest single
parameter score (``measure: highest``: a "red score" of 3), with ``threshold``'s semantics on
the score (``for``, ``max_gap``, hysteresis, cooldown, re-notify) and ``min_score`` its limit.

The score is worked out at every time ``t`` at which any parameter has a reading, from each
parameter's latest reading at or before ``t`` that is at most its ``freshness`` old (a bedside
monitor's pulse, SpO2 and respiration rate within minutes; a cuff's systolic within the hour; a
nurse's temperature and ACVPU within hours). A parameter without a fresh reading scores 0, so a
partial chart gives a lower bound (in line with the RCP: a missing observation is not scored as
normal on paper, but here it cannot be scored at all). Unknown air or oxygen counts as air.
SpO2 is scored on scale 1, or scale 2 for a patient the roster flags (column
``<rule-id>.spo2_scale`` = 2: hypercapnic respiratory failure, a clinician's decision).

Exact in event time, whatever the batching, like the pairing of ``derived``: the parameters
come on different topics in no order relative to each other, so a time ``t`` is scored once
every signal the patient has sent has had a reading at or after ``t`` released to the rule, or
has gone quiet (live: no arrival for the pairing wait; over history: the end). The engine says
which signals a patient waits for (``settle``, after each call's readings and each tick). Until
then readings wait in a queue, and the score at ``t`` is the one of history while a patient's
signals reach the stream less than the pairing wait apart (README, "Event time and lateness").
A reading released behind the last scored time (one delayed longer) still becomes its
parameter's latest, but is not scored at its own time.

Per patient the rule keeps each parameter's latest reading, each signal's newest released time,
the last scored time and the queue: the reference state is a dict, the kernel's is cells and
list state (``list.ts``, ``list.signal``, ``list.first`` (the signal's scored value),
``list.second`` (the SpO2 reading's on_oxygen, else NaN)).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import numba
import numpy as np
import numpy.typing as npt
from pydantic import Field

from vitalwatch.contracts.alerts import Alert, AlertState
from vitalwatch.contracts.readings import ACVPU_FIELD, ON_OXYGEN_FIELD, Reading, Signal
from vitalwatch.durations import DurationMs
from vitalwatch.rules.episode import EPISODE_CELLS, EpisodeRule, EpisodeSpec
from vitalwatch.rules.kernel import (
    SIGNAL_INDEX,
    SIGNALS,
    VALUE_INDEX,
    BoolArray,
    FloatArray,
    IntArray,
    KernelState,
    Patients,
    Released,
)
from vitalwatch.rules.kind import PatientContext, RuleState
from vitalwatch.rules.kinds.threshold import ThresholdKernel, ThresholdRule
from vitalwatch.rules.news2_chart import (
    OXYGEN_SCORE,
    ROUNDING_SLACK,
    band_score,
    band_table,
    spo2_band,
)

Parameter = Literal["respiration", "spo2", "systolic", "pulse", "consciousness", "temperature"]
# Each scored parameter's signal and field; air or oxygen comes with SpO2 (and its freshness).
SOURCES: dict[str, tuple[Signal, str]] = {
    "respiration": (Signal.RESPIRATION, "rate"),
    "spo2": (Signal.SPO2, "spo2"),
    "oxygen": (Signal.SPO2, ON_OXYGEN_FIELD),
    "systolic": (Signal.BLOOD_PRESSURE, "systolic"),
    "pulse": (Signal.HEART_RATE, "bpm"),
    "consciousness": (Signal.CONSCIOUSNESS, ACVPU_FIELD),
    "temperature": (Signal.TEMPERATURE, "celsius"),
}
MINUTE, HOUR = 60_000, 3_600_000
DEFAULT_FRESHNESS: dict[str, int] = {
    "respiration": 5 * MINUTE,
    "spo2": 5 * MINUTE,
    "systolic": HOUR,
    "pulse": 5 * MINUTE,
    "consciousness": 4 * HOUR,
    "temperature": 4 * HOUR,
}


class News2AggregateSpec(EpisodeSpec):
    kind: Literal["news2_aggregate"]
    measure: Literal["aggregate", "highest"] = "aggregate"
    min_score: int = Field(ge=1, le=20)
    freshness: dict[Parameter, DurationMs] = Field(default_factory=dict)
    spo2_scale: Literal[1, 2] = 1
    for_: DurationMs = Field(default=0, alias="for", ge=0)
    max_gap: DurationMs = Field(default=30_000, gt=0)


class News2AggregateRule(ThresholdRule):
    """Threshold's sustained-score logic (inherited) over the chart's score."""

    spec_model = News2AggregateSpec  # type: ignore[assignment]
    overridable = frozenset({"min_score", "spo2_scale"})

    def __init__(self, spec: News2AggregateSpec) -> None:
        EpisodeRule.__init__(self, spec)  # type: ignore[misc]
        self.news2 = spec
        self.measure = "news2"
        self._direction = "above"
        self._limit = spec.min_score - 0.5  # a whole score reaches min_score
        self.freshness: dict[str, int] = {
            **DEFAULT_FRESHNESS,
            **{str(name): ms for name, ms in spec.freshness.items()},
            "oxygen": spec.freshness.get("spo2", DEFAULT_FRESHNESS["spo2"]),
        }

    @property
    def signals(self) -> frozenset[Signal]:
        return frozenset(SIGNALS)

    def measure_field(self) -> str:
        return f"news2_{self.news2.measure}"

    def limit_for(self, patient: PatientContext) -> float:
        return patient.setting(self.spec.id, "min_score", self.news2.min_score) - 0.5

    def limits(self, patients: Patients) -> FloatArray:
        return patients.settings(self, "min_score", self.news2.min_score) - 0.5

    def scale_for(self, patient: PatientContext) -> int:
        return 2 if patient.setting(self.spec.id, "spo2_scale", self.news2.spo2_scale) > 1.5 else 1

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
        """The limit shown is ``min_score`` (the breach test compares with half a point less)."""
        limit = round(limit + 0.5)
        return super().alert(state, patient, onset_ms, detected_ms, values, limit, repeat, labels)

    def step(
        self, state: RuleState, reading: Reading, patient: PatientContext
    ) -> tuple[RuleState, list[Alert]]:
        """Queue the reading (in place: over history a patient's whole stay queues in one call);
        ``settle`` scores what is complete."""
        signal, ts = reading.signal.value, reading.ts_ms
        values = {
            field: reading.values[field]
            for source, field in SOURCES.values()
            if source is reading.signal and field in reading.values
        }
        newest = state.setdefault("newest", {})
        newest[signal] = max(newest.get(signal, ts), ts)
        state.setdefault("queue", []).append([ts, signal, values])
        return state, []

    def held_until_quiet(self, state: RuleState) -> frozenset[Signal]:
        """Queued readings wait for every signal the patient sends: the silence of any of them
        may let them be scored."""
        return frozenset(Signal) if state.get("queue") else frozenset()

    def settle(
        self, state: RuleState, patient: PatientContext, waiting: frozenset[Signal]
    ) -> tuple[RuleState, list[Alert]]:
        """Score, in order, the queued times that every ``waiting`` signal has caught up with
        (a signal with nothing released yet holds everything back)."""
        queue = sorted(state.get("queue", []), key=lambda entry: entry[0])  # stable
        if not queue:
            return state, []
        newest = state["newest"]
        bound = min((newest.get(s.value, -math.inf) for s in waiting), default=None)
        latest: dict[str, list[float]] = dict(state.get("latest", {}))
        frontier: int | None = state.get("frontier")
        episode: RuleState = state.get("episode", {})
        alerts: list[Alert] = []
        done = 0
        while done < len(queue) and (bound is None or queue[done][0] <= bound):
            t = queue[done][0]
            while done < len(queue) and queue[done][0] == t:  # a time's readings, then its score
                _, signal, values = queue[done]
                for name, (source, field) in SOURCES.items():
                    value = values.get(field)
                    newer = name not in latest or latest[name][0] <= t
                    if source.value == signal and value is not None and newer:
                        latest[name] = [t, value]
                done += 1
            if frontier is None or t > frontier:
                frontier = t
                score = self.score(latest, t, self.scale_for(patient))
                episode, fired = self.advance(episode, t, score, patient)
                alerts += fired
        new_state = {
            **state,
            "queue": queue[done:],
            "latest": latest,
            "frontier": frontier,
            "episode": episode,
        }
        return new_state, alerts

    def score(self, latest: dict[str, list[float]], t: int, scale: int) -> float:
        """The chart's score at ``t`` from each parameter's latest reading (time, value)."""
        fresh = {
            name: value for name, (ts, value) in latest.items() if t - ts <= self.freshness[name]
        }
        on_oxygen = fresh.get("oxygen") == 1.0
        scores = [OXYGEN_SCORE if on_oxygen else 0]
        for name in ("respiration", "systolic", "pulse", "consciousness", "temperature"):
            if name in fresh:
                scores.append(band_score(name, fresh[name]))
        if "spo2" in fresh:
            scores.append(band_score(spo2_band(scale, on_oxygen), fresh["spo2"]))
        return float(sum(scores) if self.news2.measure == "aggregate" else max(scores))

    def kernel(self) -> News2AggregateKernel:
        return News2AggregateKernel(self)


# The kernel's chart: one row per band, and each parameter's index into the cells.
_BANDS = (
    "respiration", "spo2_scale1", "spo2_scale2_air", "spo2_scale2_oxygen", "systolic", "pulse",
    "consciousness", "temperature",
)  # fmt: skip
_UPPERS, _BAND_SCORES, _BAND_SCALES = band_table(_BANDS)
PARAMETERS = ("respiration", "spo2", "oxygen", "systolic", "pulse", "consciousness", "temperature")
_RESPIRATION, _SPO2, _OXYGEN, _SYSTOLIC, _PULSE, _CONSCIOUSNESS, _TEMPERATURE = range(7)
# Band row of each parameter scored by its own band (SpO2's row depends on scale and oxygen).
_OWN_BAND = np.array([0, -1, -1, 4, 5, 6, 7], np.int64)
# Per signal (SIGNALS' order): the parameter its scored value is, and where that value is.
_SCORED = {s: next(name for name, (of, _) in SOURCES.items() if of is s) for s in SIGNALS}
_SIGNAL_PARAMETER = np.array([PARAMETERS.index(_SCORED[signal]) for signal in SIGNALS])
_SIGNAL_FIELD = np.array([VALUE_INDEX[SOURCES[_SCORED[signal]][1]] for signal in SIGNALS])
_SPO2_SIGNAL = SIGNAL_INDEX[Signal.SPO2]
# Cells after threshold's (the episode's, RUN_START, LAST_TS): per parameter its latest time and
# value, per signal the newest released time, and the last scored time.
_LATEST_TS = EPISODE_CELLS + 2
_LATEST_VALUE = _LATEST_TS + len(PARAMETERS)
_NEWEST = _LATEST_VALUE + len(PARAMETERS)
_FRONTIER = _NEWEST + len(SIGNALS)


@numba.njit(cache=True)
def _band_score(row: int, value: float) -> int:
    written = np.floor(value * _BAND_SCALES[row] + 0.5 + ROUNDING_SLACK)
    for k in range(_UPPERS.shape[1]):
        if written <= _UPPERS[row, k]:
            return int(_BAND_SCORES[row, k])
    return int(_BAND_SCORES[row, _UPPERS.shape[1] - 1])


@numba.njit(cache=True)
def _score(row: FloatArray, t: float, freshness: FloatArray, scale2: bool, highest: bool) -> float:
    """``News2AggregateRule.score`` from a slot's cells."""
    fresh = np.empty(len(freshness), np.bool_)
    for p in range(len(freshness)):
        latest = row[_LATEST_TS + p]
        fresh[p] = not np.isnan(latest) and t - latest <= freshness[p]
    on_oxygen = fresh[_OXYGEN] and row[_LATEST_VALUE + _OXYGEN] == 1.0
    total = best = 2 if on_oxygen else 0
    for p in range(len(freshness)):
        if not fresh[p] or p == _OXYGEN:
            continue
        band = _OWN_BAND[p]
        if p == _SPO2:
            band = 1 if not scale2 else (3 if on_oxygen else 2)
        points = _band_score(band, row[_LATEST_VALUE + p])
        total += points
        best = max(best, points)
    return float(best if highest else total)


@numba.njit(cache=True)
def _score_ready(
    cells: FloatArray,
    entry_slot: IntArray,
    entry_ts: IntArray,
    entry_signal: npt.NDArray[np.int8],
    entry_first: FloatArray,
    entry_second: FloatArray,
    chosen: BoolArray,
    waiting: BoolArray,
    freshness: FloatArray,
    scale2: BoolArray,
    highest: bool,
) -> tuple[BoolArray, IntArray, FloatArray, FloatArray]:
    """``settle`` of the reference over the chosen slots' queues (entries sorted by slot,
    then time, queue order among equal times): which entries stay queued, and the scores
    (slot, time, score) in order."""
    n = len(entry_ts)
    keep = np.ones(n, np.bool_)
    out_slot = np.empty(n, np.int64)
    out_ts = np.empty(n, np.float64)
    out_score = np.empty(n, np.float64)
    count = i = 0
    while i < n:
        s = entry_slot[i]
        end = i
        while end < n and entry_slot[end] == s:
            end += 1
        if not chosen[s]:
            i = end
            continue
        row = cells[s]
        bound = np.inf
        for k in range(waiting.shape[1]):
            if waiting[s, k]:
                newest = row[_NEWEST + k]
                bound = -np.inf if np.isnan(newest) else min(bound, newest)
        while i < end and entry_ts[i] <= bound:
            t = entry_ts[i]
            while i < end and entry_ts[i] == t:
                p = _SIGNAL_PARAMETER[entry_signal[i]]
                updates = ((p, entry_first[i]), (_OXYGEN, entry_second[i]))
                for u in range(2 if entry_signal[i] == _SPO2_SIGNAL else 1):
                    q, value = updates[u]
                    latest = row[_LATEST_TS + q]
                    if not np.isnan(value) and (np.isnan(latest) or latest <= t):
                        row[_LATEST_TS + q], row[_LATEST_VALUE + q] = t, value
                keep[i] = False
                i += 1
            if np.isnan(row[_FRONTIER]) or t > row[_FRONTIER]:
                row[_FRONTIER] = t
                out_slot[count], out_ts[count] = s, t
                out_score[count] = _score(row, t, freshness, scale2[s], highest)
                count += 1
        i = end
    return keep, out_slot[:count], out_ts[:count], out_score[:count]


# The queue as list state (``rules.bucket``).
_QUEUE = {
    "list.slot": np.int64,
    "list.ts": np.int64,
    "list.signal": np.int8,
    "list.first": np.float64,
    "list.second": np.float64,
}


class News2AggregateKernel(ThresholdKernel):
    rule: News2AggregateRule
    kind_cells = _FRONTIER + 1 - EPISODE_CELLS
    holds_readings = True
    settles = True

    def blank(self, slots: int) -> KernelState:
        state = super().blank(slots)
        state.update({name: np.empty(0, dtype) for name, dtype in _QUEUE.items()})
        return state

    def run(self, state: KernelState, patients: Patients, released: Released) -> list[Alert]:
        """Queue the released readings (``settle`` scores them)."""
        signal = released.signal
        rows = np.arange(len(signal))
        first = released.values[rows, _SIGNAL_FIELD[signal]]
        spo2 = signal == _SPO2_SIGNAL
        second = np.where(spo2, released.values[:, VALUE_INDEX[ON_OXYGEN_FIELD]], np.nan)
        cells = state["cells"]
        np.fmax.at(cells, (released.slot, _NEWEST + signal.astype(np.int64)), released.ts)
        new = (released.slot, released.ts, signal, first, second)
        columns = {name: np.concatenate([state[name], new[i]]) for i, name in enumerate(_QUEUE)}
        order = np.lexsort((columns["list.ts"], columns["list.slot"]))  # stable: queue order
        for name, column in columns.items():
            state[name] = column[order]
        return []

    def held_until_quiet(self, state: KernelState, slots: IntArray, signal: Signal) -> BoolArray:
        queued = np.zeros(len(state["cells"]), np.bool_)
        queued[state["list.slot"]] = True
        held: BoolArray = queued[slots]
        return held

    def settle(
        self, state: KernelState, patients: Patients, slots: IntArray, waiting: BoolArray
    ) -> list[Alert]:
        if not len(state["list.ts"]):
            return []
        cells = state["cells"]
        chosen = np.zeros(len(cells), np.bool_)
        chosen[slots] = True
        blocking = np.zeros((len(cells), len(SIGNALS)), np.bool_)
        blocking[slots] = waiting
        rule = self.rule
        freshness = np.array([float(rule.freshness[name]) for name in PARAMETERS])
        scale2 = patients.settings(rule, "spo2_scale", float(rule.news2.spo2_scale)) > 1.5
        keep, slot, ts, score = _score_ready(
            cells,
            state["list.slot"],
            state["list.ts"],
            state["list.signal"],
            state["list.first"],
            state["list.second"],
            chosen,
            blocking,
            freshness,
            scale2,
            rule.news2.measure == "highest",
        )
        for name in _QUEUE:
            state[name] = state[name][keep]
        if not len(ts):
            return []
        conditions = self.sustained(cells, slot, ts, score, patients)
        return self.lifecycle(cells, patients, conditions)
