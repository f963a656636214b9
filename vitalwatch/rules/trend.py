"""``trend``: a change of a measure within a window, e.g. systolic falling 30 mmHg in 15 min.

``change`` is signed: negative for a fall (from the highest value in the window), positive for
a rise (from the lowest). The onset is the time of that reference reading.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from vitalwatch.durations import DurationMs
from vitalwatch.rules.episode import Condition, EpisodeRule, EpisodeSpec, Measure
from vitalwatch.rules.kind import PatientContext, RuleState


class TrendSpec(EpisodeSpec):
    kind: Literal["trend"]
    signal: Measure
    change: float
    window: DurationMs = Field(gt=0)

    @field_validator("change")
    @classmethod
    def _not_zero(cls, change: float) -> float:
        if change == 0:
            raise ValueError("a change of 0 always holds; give a negative fall or positive rise")
        return change


class TrendRule(EpisodeRule[TrendSpec]):
    spec_model = TrendSpec
    overridable = frozenset({"change"})

    def __init__(self, spec: TrendSpec) -> None:
        super().__init__(spec)
        self.measure = spec.signal

    def condition(
        self, state: RuleState, ts: int, value: float, patient: PatientContext
    ) -> tuple[RuleState, Condition]:
        spec = self.spec
        change = patient.setting(spec.id, "change", spec.change)
        recent = [(t, v) for t, v in state.get("recent", []) if ts - t <= spec.window]
        breaching = False
        since = ts
        if recent:
            pick = max if change < 0 else min
            ref_ts, ref_value = pick(recent, key=lambda item: (item[1], -item[0]))
            delta = value - ref_value
            breaching = delta <= change if change < 0 else delta >= change
            since = ref_ts
        recent.append((ts, value))
        return {"recent": recent}, Condition(breaching, breaching, since, value, change)
