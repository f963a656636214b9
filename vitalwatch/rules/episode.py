"""The alert lifecycle every condition-based rule kind shares.

A kind says, per reading, whether the reading is abnormal (``breaching``) and whether the alarm
condition is met (``holds``, e.g. a breach sustained long enough); this base turns that into
episodes: fire when the condition holds (not within ``cooldown`` of the last firing), re-notify
every ``renotify`` while readings still breach, and resolve once readings have been normal for
``clear_after``. Onset is when the condition began (``since_ms``), so the alert id is the same
however the readings were batched. All of it runs in event time: the same readings give the
same alerts in a backtest and live. ``latch`` is carried on the alerts for the notification side
(a latching alert stays active there until acknowledged).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numba
import numpy as np
from pydantic import Field, field_validator, model_validator

from vitalwatch.contracts.alerts import Alert, AlertState
from vitalwatch.contracts.readings import ACVPU_FIELD, Reading, Signal
from vitalwatch.durations import DurationMs
from vitalwatch.rules.kernel import (
    VALUE_INDEX,
    BoolArray,
    FloatArray,
    IntArray,
    Kernel,
    KernelState,
    Patients,
    Released,
)
from vitalwatch.rules.kind import PatientContext, RuleKind, RuleState
from vitalwatch.rules.spec import RuleSpec

# What a rule's ``signal`` names, as (stream, field in the reading).
MEASURES: dict[str, tuple[Signal, str]] = {
    "heart_rate": (Signal.HEART_RATE, "bpm"),
    "systolic": (Signal.BLOOD_PRESSURE, "systolic"),
    "diastolic": (Signal.BLOOD_PRESSURE, "diastolic"),
    "mean_arterial_pressure": (Signal.BLOOD_PRESSURE, "mean"),
    "spo2": (Signal.SPO2, "spo2"),
    "respiration_rate": (Signal.RESPIRATION, "rate"),
    "temperature": (Signal.TEMPERATURE, "celsius"),
    "consciousness": (Signal.CONSCIOUSNESS, ACVPU_FIELD),  # 0 = Alert, then C, V, P, U
}


class EpisodeSpec(RuleSpec):
    clear_after: DurationMs = Field(default=0, ge=0)
    cooldown: DurationMs = Field(default=600_000, ge=0)
    renotify: DurationMs | None = Field(default=None, gt=0, description="none: notify once")


@dataclass(frozen=True)
class Condition:
    breaching: bool  # this reading is abnormal
    holds: bool  # the alarm condition is met
    since_ms: int  # when the condition began (the episode's onset if it fires)
    value: float
    limit: float


SpecT = TypeVar("SpecT", bound=EpisodeSpec)


class EpisodeRule(RuleKind[SpecT]):
    """Base of kinds that watch one measure; subclasses implement ``condition``."""

    measure: str  # a key of MEASURES, set by the subclass from its spec

    @property
    def signals(self) -> frozenset[Signal]:
        return frozenset({MEASURES[self.measure][0]})

    @abstractmethod
    def condition(
        self, state: RuleState, ts: int, value: float, patient: PatientContext
    ) -> tuple[RuleState, Condition]:
        """Update the kind's own state with one value; say whether the condition holds."""

    def step(
        self, state: RuleState, reading: Reading, patient: PatientContext
    ) -> tuple[RuleState, list[Alert]]:
        value = reading.values.get(MEASURES[self.measure][1])
        if value is None:
            return state, []
        return self.advance(state, reading.ts_ms, value, patient)

    def advance(
        self, state: RuleState, ts: int, value: float, patient: PatientContext
    ) -> tuple[RuleState, list[Alert]]:
        """The lifecycle, given the measure's next value in event-time order."""
        spec = self.spec
        kind_state, cond = self.condition(state.get("kind", {}), ts, value, patient)
        onset: int | None = state.get("onset")
        clear_start: int | None = state.get("clear_start")
        last_fired: int | None = state.get("last_fired")
        last_notified: int | None = state.get("last_notified")
        repeat: int = state.get("repeat", 0)
        alerts: list[Alert] = []
        if cond.breaching:
            clear_start = None
        if onset is None and cond.holds:
            if last_fired is None or ts - last_fired >= spec.cooldown:
                onset, last_fired, last_notified, repeat = cond.since_ms, ts, ts, 0
                alerts.append(self._alert(AlertState.FIRING, patient, onset, ts, cond))
        elif onset is not None and cond.breaching:
            assert last_notified is not None
            if spec.renotify is not None and ts - last_notified >= spec.renotify:
                last_notified, repeat = ts, repeat + 1
                alerts.append(self._alert(AlertState.RENOTIFIED, patient, onset, ts, cond, repeat))
        elif onset is not None:
            clear_start = ts if clear_start is None else clear_start
            if ts - clear_start >= spec.clear_after:
                alerts.append(self._alert(AlertState.RESOLVED, patient, onset, ts, cond))
                onset, clear_start = None, None
        new_state = {
            "kind": kind_state,
            "onset": onset,
            "clear_start": clear_start,
            "last_fired": last_fired,
            "last_notified": last_notified,
            "repeat": repeat,
        }
        return new_state, alerts

    def measure_field(self) -> str:
        return MEASURES[self.measure][1]

    def _alert(
        self,
        state: AlertState,
        patient: PatientContext,
        onset: int,
        ts: int,
        cond: Condition,
        repeat: int = 0,
    ) -> Alert:
        values = {self.measure_field(): cond.value}
        return self.alert(state, patient, onset, ts, values, cond.limit, repeat)


Measure = Literal[
    "heart_rate", "systolic", "diastolic", "mean_arterial_pressure", "spo2", "respiration_rate",
    "temperature", "consciousness",
]  # fmt: skip


class LimitSpec(EpisodeSpec):
    """A measure compared with one limit: ``above`` or ``below`` (strictly)."""

    signal: Measure
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _one_limit(self) -> LimitSpec:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of 'above' or 'below'")
        return self


LimitSpecT = TypeVar("LimitSpecT", bound=LimitSpec)


class LimitRule(EpisodeRule[LimitSpecT]):
    """Base of kinds that compare a measure with a limit the roster may override per patient."""

    overridable = frozenset({"above", "below"})

    def __init__(self, spec: LimitSpecT) -> None:
        super().__init__(spec)
        self.measure = spec.signal
        self._direction = "above" if spec.above is not None else "below"
        limit = spec.above if spec.above is not None else spec.below
        assert limit is not None
        self._limit = limit

    def limit_for(self, patient: PatientContext) -> float:
        return patient.setting(self.spec.id, self._direction, self._limit)

    def breaches(self, value: float, limit: float) -> bool:
        return value > limit if self._direction == "above" else value < limit

    def limits(self, patients: Patients) -> FloatArray:
        """The limit per patient slot, with the roster's overrides (for the kernel)."""
        return patients.settings(self, self._direction, self._limit)

    @property
    def above(self) -> bool:
        return self._direction == "above"


class ChangeSpec(EpisodeSpec):
    """A measure compared with a reference of the patient's own: ``change`` is signed, a rise
    when positive, a fall when negative; the roster may override it per patient."""

    signal: Measure
    change: float

    @field_validator("change")
    @classmethod
    def _not_zero(cls, change: float) -> float:
        if change == 0:
            raise ValueError("a change of 0 always holds; give a negative fall or positive rise")
        return change


ChangeSpecT = TypeVar("ChangeSpecT", bound=ChangeSpec)


class ChangeRule(EpisodeRule[ChangeSpecT]):
    overridable = frozenset({"change"})

    def __init__(self, spec: ChangeSpecT) -> None:
        super().__init__(spec)
        self.measure = spec.signal

    def change_for(self, patient: PatientContext) -> float:
        return patient.setting(self.spec.id, "change", self.spec.change)

    def reached(self, delta: float, change: float) -> bool:
        return delta <= change if change < 0 else delta >= change

    def changes(self, patients: Patients) -> FloatArray:
        """The change per patient slot, with the roster's overrides (for the kernel)."""
        return patients.settings(self, "change", self.spec.change)


# The kernel side: the lifecycle above, compiled, over a bucket's readings. An episode rule's
# state is one float64 row per patient slot (NaN for None; times are exact in float64): these
# cells first, then the kind's own (``EpisodeKernel.kind_cells``).
ONSET, CLEAR_START, LAST_FIRED, LAST_NOTIFIED, REPEAT = range(5)
EPISODE_CELLS = 5
_ALERT_STATES = (AlertState.FIRING, AlertState.RENOTIFIED, AlertState.RESOLVED)
NO_RENOTIFY = -1.0


@numba.njit(cache=True)
def _advance(
    row: FloatArray,
    ts: float,
    breaching: bool,
    holds: bool,
    since: float,
    cooldown: float,
    renotify: float,
    clear_after: float,
) -> tuple[int, float, float]:
    """``EpisodeRule.advance`` for one value: (alert state index or -1, onset, repeat)."""
    if breaching:
        row[CLEAR_START] = np.nan
    onset = row[ONSET]
    if np.isnan(onset):
        if holds and (np.isnan(row[LAST_FIRED]) or ts - row[LAST_FIRED] >= cooldown):
            row[ONSET], row[LAST_FIRED], row[LAST_NOTIFIED], row[REPEAT] = since, ts, ts, 0.0
            return 0, since, 0.0
        return -1, 0.0, 0.0
    if breaching:
        if renotify != NO_RENOTIFY and ts - row[LAST_NOTIFIED] >= renotify:
            row[LAST_NOTIFIED] = ts
            row[REPEAT] += 1.0
            return 1, onset, row[REPEAT]
        return -1, 0.0, 0.0
    if np.isnan(row[CLEAR_START]):
        row[CLEAR_START] = ts
    if ts - row[CLEAR_START] >= clear_after:
        row[ONSET], row[CLEAR_START] = np.nan, np.nan
        return 2, onset, 0.0
    return -1, 0.0, 0.0


@numba.njit(cache=True)
def _lifecycle(
    cells: FloatArray,
    conditions: Conditions,
    cooldown: float,
    renotify: float,
    clear_after: float,
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """The lifecycle over a call's conditions, in order: which raised an alert (their index),
    its state (index into ``_ALERT_STATES``), onset and repeat."""
    slot, ts, breaching, holds, since, _, _ = conditions
    n = len(ts)
    raised = np.empty(n, np.int64)
    state = np.empty(n, np.int64)
    onset = np.empty(n, np.float64)
    repeat = np.empty(n, np.float64)
    count = 0
    for i in range(n):
        code, first, times = _advance(
            cells[slot[i]], ts[i], breaching[i], holds[i], since[i], cooldown, renotify, clear_after
        )
        if code >= 0:
            raised[count], state[count], onset[count], repeat[count] = i, code, first, times
            count += 1
    return raised[:count], state[:count], onset[:count], repeat[:count]


Conditions = tuple[IntArray, FloatArray, BoolArray, BoolArray, FloatArray, FloatArray, FloatArray]
"""Per evaluated value, in order: slot, time, breaching, holds, since, value, limit (the
``Condition``s of a kind's ``condition()``, as columns)."""


class EpisodeKernel(Kernel):
    """Base of the episode kinds' kernels: the state layout, the lifecycle and the alerts. A
    kind's kernel implements ``conditions``: its ``condition()`` over a call's readings."""

    rule: EpisodeRule[Any]
    kind_cells = 0  # the kind's own state cells, after the episode's

    def blank(self, slots: int) -> KernelState:
        cells = np.full((slots, EPISODE_CELLS + self.kind_cells), np.nan)
        cells[:, REPEAT] = 0.0
        return {"cells": cells}

    def measured(self, released: Released) -> tuple[IntArray, FloatArray, FloatArray]:
        """The released readings that carry the rule's measure: slot, time (as float64, like
        the state cells) and value (a reading without it leaves the rule as it was)."""
        values = released.values[:, VALUE_INDEX[MEASURES[self.rule.measure][1]]]
        present = ~np.isnan(values)
        return released.slot[present], released.ts[present].astype(np.float64), values[present]

    def conditions(self, cells: FloatArray, patients: Patients, released: Released) -> Conditions:
        raise NotImplementedError

    def run(self, state: KernelState, patients: Patients, released: Released) -> list[Alert]:
        cells = state["cells"]
        return self.lifecycle(cells, patients, self.conditions(cells, patients, released))

    def lifecycle(
        self, cells: FloatArray, patients: Patients, conditions: Conditions
    ) -> list[Alert]:
        """The episodes over a call's conditions, in order (state in ``cells``); their alerts."""
        spec = self.rule.spec
        renotify = NO_RENOTIFY if spec.renotify is None else float(spec.renotify)
        raised, states, onsets, repeats = _lifecycle(
            cells, conditions, float(spec.cooldown), renotify, float(spec.clear_after)
        )
        slot, ts, _, _, _, value, limit = conditions
        field = self.rule.measure_field()
        return [
            self.rule.alert(
                _ALERT_STATES[state],
                patients.contexts[slot[i]],
                int(onset),
                int(ts[i]),
                {field: float(value[i])},
                float(limit[i]),
                int(repeat),
            )
            for i, state, onset, repeat in zip(
                raised.tolist(), states.tolist(), onsets.tolist(), repeats.tolist(), strict=True
            )
        ]
