"""``no_data``: a monitored patient with no reading of a stream for ``for`` - sensor off, device
disconnected, gateway down. A technical alert (label ``category: technical``).

Live, it is driven by processing-time timers, not by the next reading: ``for`` after the last
arrival of the stream the alert fires, even if nothing else ever arrives. Its onset is the event
time of the last reading (when the silence began), so its id is the same in a replay. When
readings resume it resolves. Over history (a backtest, or a backlog after a restart) the gap is
seen when the next reading comes: the alert fires ``for`` after the last reading and resolves at
the next, in event time. A patient is monitored from its first reading on.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from pydantic import Field

from vitalwatch.contracts.alerts import Alert, AlertState
from vitalwatch.contracts.readings import Reading, Signal
from vitalwatch.durations import DurationMs
from vitalwatch.rules.kind import PatientContext, RuleKind, RuleState
from vitalwatch.rules.spec import RuleSpec

TECHNICAL_LABELS = {"category": "technical"}


class NoDataSpec(RuleSpec):
    kind: Literal["no_data"]
    signal: Literal["heart_rate", "blood_pressure"]
    for_: DurationMs = Field(alias="for", gt=0)


class NoDataRule(RuleKind[NoDataSpec]):
    spec_model = NoDataSpec

    @property
    def signals(self) -> frozenset[Signal]:
        return frozenset({Signal(self.spec.signal)})

    def step(
        self, state: RuleState, reading: Reading, patient: PatientContext
    ) -> tuple[RuleState, list[Alert]]:
        last: int | None = state.get("last_ts")
        onset: int | None = state.get("onset")
        alerts: list[Alert] = []
        if onset is None and last is not None and reading.ts_ms - last >= self.spec.for_:
            onset = last
            alerts.append(self._alert(AlertState.FIRING, patient, last, last + self.spec.for_))
        if onset is not None:
            alerts.append(self._alert(AlertState.RESOLVED, patient, onset, reading.ts_ms))
        return {"last_ts": reading.ts_ms, "onset": None}, alerts

    def quiet_deadline(self, state: RuleState, arrived_ms: int) -> int | None:
        if state.get("last_ts") is None or state.get("onset") is not None:
            return None
        return arrived_ms + self.spec.for_

    def on_quiet(
        self, state: RuleState, patient: PatientContext, now_ms: int
    ) -> tuple[RuleState, list[Alert]]:
        onset: int = state["last_ts"]
        return {**state, "onset": onset}, [
            self._alert(AlertState.FIRING, patient, onset, max(now_ms, onset))
        ]

    def _alert(self, state: AlertState, patient: PatientContext, onset: int, at: int) -> Alert:
        silent_s = (at - onset) / 1000
        alert = self.alert(state, patient, onset, at, {"silent_s": silent_s}, self.spec.for_ / 1000)
        return replace(alert, labels={**alert.labels, **TECHNICAL_LABELS})
