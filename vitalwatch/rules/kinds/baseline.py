"""``baseline``: deviation from the patient's own baseline, e.g. heart rate 30/min above what is
usual for this patient, whatever the population limits say.

The baseline is an exponentially weighted mean in event time with half-life ``half_life`` (a
reading ``half_life`` old weighs half as much as a new one), so the state is two numbers however
long the history. A reading breaches when ``value - baseline`` reaches ``change`` (signed: a
rise, or a fall when negative), judged against the baseline *before* the reading joins it; no
reading is judged before the baseline has ``warm_up`` of history. Breaching readings join the
baseline too, so a lasting change becomes the new normal after a few half-lives - the rule
flags deviations, not states (those are what ``threshold`` is for).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vitalwatch.durations import DurationMs
from vitalwatch.rules.episode import ChangeRule, ChangeSpec, Condition
from vitalwatch.rules.kind import PatientContext, RuleState


class BaselineSpec(ChangeSpec):
    kind: Literal["baseline"]
    half_life: DurationMs = Field(gt=0)
    warm_up: DurationMs = Field(default=0, ge=0)


class BaselineRule(ChangeRule[BaselineSpec]):
    spec_model = BaselineSpec

    def condition(
        self, state: RuleState, ts: int, value: float, patient: PatientContext
    ) -> tuple[RuleState, Condition]:
        spec = self.spec
        change = self.change_for(patient)
        mean: float | None = state.get("mean")
        since: int = state.get("since", ts)
        last: int = state.get("last", ts)
        breaching = False
        if mean is not None and ts - since >= spec.warm_up:
            delta = value - mean
            breaching = self.reached(delta, change)
        if mean is None:
            mean = value
        else:
            keep = 0.5 ** ((ts - last) / spec.half_life)
            mean = keep * mean + (1 - keep) * value
        previous: int | None = state.get("onset")
        onset: int = ts if previous is None or not breaching else previous
        new_state = {
            "mean": mean,
            "since": since,
            "last": ts,
            "onset": onset if breaching else None,
        }
        return new_state, Condition(breaching, breaching, onset, value, change)
