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

from vitalwatch.durations import DurationMs
from vitalwatch.rules.episode import (
    Condition,
    EpisodeRule,
    EpisodeSpec,
    check_one_limit,
    direction_and_limit,
    limit_breached,
)
from vitalwatch.rules.kind import PatientContext, RuleState

Measure = Literal["heart_rate", "systolic", "diastolic", "mean_arterial_pressure"]


class ThresholdSpec(EpisodeSpec):
    kind: Literal["threshold"]
    signal: Measure
    above: float | None = None
    below: float | None = None
    for_: DurationMs = Field(alias="for", ge=0)
    max_gap: DurationMs = Field(default=30_000, gt=0)

    @model_validator(mode="after")
    def _one_limit(self) -> ThresholdSpec:
        check_one_limit(self.above, self.below)
        return self


class ThresholdRule(EpisodeRule[ThresholdSpec]):
    spec_model = ThresholdSpec
    overridable = frozenset({"above", "below"})

    def __init__(self, spec: ThresholdSpec) -> None:
        super().__init__(spec)
        self.measure = spec.signal
        self._direction, self._limit = direction_and_limit(spec.above, spec.below)

    def condition(
        self, state: RuleState, ts: int, value: float, patient: PatientContext
    ) -> tuple[RuleState, Condition]:
        limit = patient.setting(self.spec.id, self._direction, self._limit)
        run_start: int | None = state.get("run_start")
        last_ts: int | None = state.get("last_ts")
        if last_ts is not None and ts - last_ts > self.spec.max_gap:
            run_start = None
        breaching = limit_breached(value, limit, self._direction)
        if not breaching:
            run_start = None
        elif run_start is None:
            run_start = ts
        holds = run_start is not None and ts - run_start >= self.spec.for_
        since = run_start if run_start is not None else ts
        return {"run_start": run_start, "last_ts": ts}, Condition(
            breaching, holds, since, value, limit
        )
