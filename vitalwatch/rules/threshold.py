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

from pydantic import Field, model_validator

from vitalwatch.contracts.alerts import Alert, AlertState
from vitalwatch.contracts.readings import Reading, Signal
from vitalwatch.durations import DurationMs, format_duration_ms
from vitalwatch.rules.kind import PatientContext, RuleKind, RuleState
from vitalwatch.rules.spec import RuleSpec

# What a rule's ``signal`` names, as (stream, field in the reading).
MEASURES: dict[str, tuple[Signal, str]] = {
    "heart_rate": (Signal.HEART_RATE, "bpm"),
    "systolic": (Signal.BLOOD_PRESSURE, "systolic"),
    "diastolic": (Signal.BLOOD_PRESSURE, "diastolic"),
    "mean_arterial_pressure": (Signal.BLOOD_PRESSURE, "mean"),
}


class ThresholdSpec(RuleSpec):
    kind: Literal["threshold"]
    signal: Literal["heart_rate", "systolic", "diastolic", "mean_arterial_pressure"]
    above: float | None = None
    below: float | None = None
    for_: DurationMs = Field(alias="for", ge=0)
    max_gap: DurationMs = Field(default=30_000, gt=0)
    clear_after: DurationMs = Field(default=0, ge=0)
    cooldown: DurationMs = Field(default=600_000, ge=0)

    @model_validator(mode="after")
    def _one_limit(self) -> ThresholdSpec:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of 'above' or 'below'")
        return self


class ThresholdRule(RuleKind[ThresholdSpec]):
    spec_model = ThresholdSpec
    overridable = frozenset({"above", "below"})

    def __init__(self, spec: ThresholdSpec) -> None:
        super().__init__(spec)
        self._signal, self._field = MEASURES[spec.signal]
        self._direction = "above" if spec.above is not None else "below"
        limit = spec.above if spec.above is not None else spec.below
        assert limit is not None
        self._limit = limit

    @property
    def signals(self) -> frozenset[Signal]:
        return frozenset({self._signal})

    def _breaches(self, value: float, limit: float) -> bool:
        return value > limit if self._direction == "above" else value < limit

    def step(
        self, state: RuleState, reading: Reading, patient: PatientContext
    ) -> tuple[RuleState, list[Alert]]:
        value = reading.values.get(self._field)
        if value is None:
            return state, []
        ts = reading.ts_ms
        spec = self.spec
        limit = patient.setting(spec.id, self._direction, self._limit)
        run_start: int | None = state.get("run_start")
        last_ts: int | None = state.get("last_ts")
        onset: int | None = state.get("onset")  # set while firing
        clear_start: int | None = state.get("clear_start")
        last_fired: int | None = state.get("last_fired")
        alerts: list[Alert] = []

        if last_ts is not None and ts - last_ts > spec.max_gap:
            run_start = None
        if self._breaches(value, limit):
            clear_start = None
            if run_start is None:
                run_start = ts
            cooled = last_fired is None or ts - last_fired >= spec.cooldown
            if onset is None and ts - run_start >= spec.for_ and cooled:
                onset, last_fired = run_start, ts
                alerts.append(self._alert(AlertState.FIRING, patient, onset, ts, value, limit))
        else:
            run_start = None
            if onset is not None:
                clear_start = ts if clear_start is None else clear_start
                if ts - clear_start >= spec.clear_after:
                    alerts.append(
                        self._alert(AlertState.RESOLVED, patient, onset, ts, value, limit)
                    )
                    onset, clear_start = None, None
        new_state = {
            "run_start": run_start,
            "last_ts": ts,
            "onset": onset,
            "clear_start": clear_start,
            "last_fired": last_fired,
        }
        return new_state, alerts

    def _alert(
        self,
        state: AlertState,
        patient: PatientContext,
        onset: int,
        ts: int,
        value: float,
        limit: float,
    ) -> Alert:
        spec = self.spec
        summary = spec.summary.format(
            value=value,
            limit=limit,
            duration=format_duration_ms(ts - onset),
            bed=patient.bed,
            ward=patient.ward,
            rule_id=spec.id,
        )
        return Alert(
            rule_id=spec.id,
            patient_id=patient.patient_id,
            severity=spec.severity,
            state=state,
            onset_ms=onset,
            detected_ms=ts,
            values={self._field: value},
            summary=summary,
            labels={**spec.labels, "bed": patient.bed, "ward": patient.ward},
        )
