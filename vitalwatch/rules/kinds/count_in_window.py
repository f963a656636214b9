"""``count_in_window``: at least ``count`` breaching readings within ``window``, or ``count``
consecutive breaching readings (``consecutive: true``), for intermittent abnormalities that a
sustained-threshold rule would miss (e.g. runs of extreme tachycardia between normal beats)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vitalwatch.durations import DurationMs
from vitalwatch.rules.episode import Condition, LimitRule, LimitSpec
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
