"""``trend``: a change of a measure within a window, e.g. systolic falling 30 mmHg in 15 min.

``change`` is signed: negative for a fall (from the highest value in the window), positive for
a rise (from the lowest). The onset is the time of that reference reading.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vitalwatch.durations import DurationMs
from vitalwatch.rules.episode import ChangeRule, ChangeSpec, Condition
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
        recent = [(t, v) for t, v in state.get("recent", []) if ts - t <= spec.window]
        breaching = False
        since = ts
        if recent:
            pick = max if change < 0 else min
            ref_ts, ref_value = pick(recent, key=lambda item: (item[1], -item[0]))
            delta = value - ref_value
            breaching = self.reached(delta, change)
            since = ref_ts
        recent.append((ts, value))
        return {"recent": recent}, Condition(breaching, breaching, since, value, change)
