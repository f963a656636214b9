"""``count_in_window``: at least ``count`` breaching readings within ``window``, or ``count``
consecutive breaching readings (``consecutive: true``), for intermittent abnormalities that a
sustained-threshold rule would miss (e.g. runs of extreme tachycardia between normal beats)."""

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
from vitalwatch.rules.threshold import Measure


class CountInWindowSpec(EpisodeSpec):
    kind: Literal["count_in_window"]
    signal: Measure
    above: float | None = None
    below: float | None = None
    count: int = Field(ge=1)
    window: DurationMs = Field(gt=0)
    consecutive: bool = False

    @model_validator(mode="after")
    def _one_limit(self) -> CountInWindowSpec:
        check_one_limit(self.above, self.below)
        return self


class CountInWindowRule(EpisodeRule[CountInWindowSpec]):
    spec_model = CountInWindowSpec
    overridable = frozenset({"above", "below"})

    def __init__(self, spec: CountInWindowSpec) -> None:
        super().__init__(spec)
        self.measure = spec.signal
        self._direction, self._limit = direction_and_limit(spec.above, spec.below)

    def condition(
        self, state: RuleState, ts: int, value: float, patient: PatientContext
    ) -> tuple[RuleState, Condition]:
        spec = self.spec
        limit = patient.setting(spec.id, self._direction, self._limit)
        breaching = limit_breached(value, limit, self._direction)
        hits: list[int] = [t for t in state.get("hits", []) if ts - t <= spec.window]
        if breaching:
            hits.append(ts)
        elif spec.consecutive:
            hits = []
        hits = hits[-spec.count :]
        holds = len(hits) >= spec.count
        since = hits[0] if hits else ts
        return {"hits": hits}, Condition(breaching, holds, since, value, limit)
