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

from pydantic import Field

from vitalwatch.durations import DurationMs
from vitalwatch.rules.episode import Condition, LimitRule, LimitSpec
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
