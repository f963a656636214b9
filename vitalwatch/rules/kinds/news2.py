"""``news2``: a National Early Warning Score 2 parameter score, from the RCP 2017 chart.

Implemented parameters (those vitalwatch's signals carry), scored on the whole-number value as
charted:

    pulse (/min):    <=40: 3 | 41-50: 1 | 51-90: 0 | 91-110: 1 | 111-130: 2 | >=131: 3
    systolic (mmHg): <=90: 3 | 91-100: 2 | 101-110: 1 | 111-219: 0 | >=220: 3

The rule fires when the parameter's score reaches ``min_score``; 3 is the RCP's "red score"
trigger (a single parameter scoring 3 warrants an urgent ward-based response). Respiration,
SpO2, temperature and consciousness extend this table when their signals exist; the aggregate
bands (5-6 urgent, >=7 emergency) need them.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from vitalwatch.rules.episode import Condition, EpisodeRule, EpisodeSpec
from vitalwatch.rules.kind import PatientContext, RuleState

# (upper bound inclusive, score) in ascending order; above the last bound scores the last entry.
BANDS: dict[str, tuple[tuple[float, int], ...]] = {
    "pulse": ((40, 3), (50, 1), (90, 0), (110, 1), (130, 2), (math.inf, 3)),
    "systolic": ((90, 3), (100, 2), (110, 1), (219, 0), (math.inf, 3)),
}
_MEASURE = {"pulse": "heart_rate", "systolic": "systolic"}


def news2_score(parameter: str, value: float) -> int:
    charted = math.floor(value + 0.5)
    for upper, score in BANDS[parameter]:
        if charted <= upper:
            return score
    raise AssertionError("the last band is unbounded")


class News2Spec(EpisodeSpec):
    kind: Literal["news2"]
    parameter: Literal["pulse", "systolic"]
    min_score: int = Field(default=3, ge=1, le=3)


class News2Rule(EpisodeRule[News2Spec]):
    spec_model = News2Spec

    def __init__(self, spec: News2Spec) -> None:
        super().__init__(spec)
        self.measure = _MEASURE[spec.parameter]

    def condition(
        self, state: RuleState, ts: int, value: float, patient: PatientContext
    ) -> tuple[RuleState, Condition]:
        breaching = news2_score(self.spec.parameter, value) >= self.spec.min_score
        since: int = ts
        if breaching and state.get("since") is not None:
            since = state["since"]
        new_state = {"since": since if breaching else None}
        return new_state, Condition(breaching, breaching, since, value, self.spec.min_score)
