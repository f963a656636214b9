"""``trend``: a change of a measure within a window, e.g. systolic falling 30 mmHg in 15 min.

``change`` is signed: negative for a fall (from the highest value in the window), positive for
a rise (from the lowest). The onset is the time of that reference reading.
"""

from __future__ import annotations

from bisect import bisect_left
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
        times, values = _window(state)
        keep = bisect_left(times, ts - spec.window)  # readings come in event-time order
        times, values = times[keep:], values[keep:]
        breaching = False
        since = ts
        if times:
            pick = max if change < 0 else min
            ref_value, negated_ts = pick(zip(values, (-t for t in times), strict=True))
            delta = value - ref_value
            breaching = self.reached(delta, change)
            since = -negated_ts
        times.append(ts)
        values.append(value)
        return {"times": times, "values": values}, Condition(
            breaching, breaching, since, value, change
        )


def _window(state: RuleState) -> tuple[list[int], list[float]]:
    """The readings in the window, as two flat lists (times, values): the state is stored and
    decoded every micro-batch, and a list per reading (an hour of a cuff: 60) made most of a
    patient's state objects. State written before this layout (pairs under ``recent``) is read
    too, so an upgrade keeps the window."""
    if "times" in state:
        return state["times"], state["values"]
    pairs = state.get("recent", [])
    return [t for t, _ in pairs], [v for _, v in pairs]
