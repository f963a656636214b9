"""``no_data``: a monitored patient with no reading of a stream for ``for`` - sensor off, device
disconnected, gateway down. A technical alert (label ``category: technical``).

Live, it is driven by processing-time timers, not by the next reading: ``for`` after the last
arrival of the stream the alert fires, even if nothing else ever arrives. Its onset is the event
time of the last reading (when the silence began), so its id is the same in a replay. When
readings resume it resolves. Over history (a backtest, or a backlog after a restart) the gap is
seen when the next reading comes: the alert fires ``for`` after the last reading and resolves at
the next, in event time. A patient is monitored from its first reading on.

The kernel (``NoDataKernel``) keeps the same two times per patient as int64 arrays (``last``,
``onset``; NO_TIME for None), vectorised with numpy: only the first of a patient's readings in
a call can see an onset (set by ``on_quiet``; every reading clears it), and the others' previous
reading is the one before them in the call.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from vitalwatch.contracts.alerts import Alert, AlertState
from vitalwatch.contracts.readings import Reading, Signal
from vitalwatch.durations import DurationMs
from vitalwatch.rules.kernel import NO_TIME, IntArray, Kernel, KernelState, Patients, Released
from vitalwatch.rules.kind import PatientContext, RuleKind, RuleState
from vitalwatch.rules.spec import RuleSpec

TECHNICAL_LABELS = {"category": "technical"}


class NoDataSpec(RuleSpec):
    kind: Literal["no_data"]
    signal: Literal[
        "heart_rate", "blood_pressure", "spo2", "respiration", "temperature", "consciousness"
    ]
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

    def kernel(self) -> Kernel | None:
        return NoDataKernel(self)

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
        limit_s = self.spec.for_ / 1000
        values = {"silent_s": silent_s}
        return self.alert(state, patient, onset, at, values, limit_s, labels=TECHNICAL_LABELS)


class NoDataKernel(Kernel):
    rule: NoDataRule
    has_quiet_deadline = True

    def blank(self, slots: int) -> KernelState:
        return {
            "last": np.full(slots, NO_TIME, np.int64),
            "onset": np.full(slots, NO_TIME, np.int64),
        }

    def run(self, state: KernelState, patients: Patients, released: Released) -> list[Alert]:
        last, onset = state["last"], state["onset"]
        slot, ts = released.slot, released.ts
        if not len(ts):
            return []
        first = np.ones(len(ts), bool)  # a patient's first reading in the call
        first[1:] = slot[1:] != slot[:-1]
        previous = np.empty_like(ts)
        previous[1:] = ts[:-1]
        previous[first] = last[slot[first]]
        opened = np.where(first, onset[slot], NO_TIME)
        seen = previous != NO_TIME
        gap = ts - np.where(seen, previous, ts)
        fires = (opened == NO_TIME) & seen & (gap >= self.rule.spec.for_)
        newest = np.append(first[1:], True)  # a patient's last reading in the call
        last[slot[newest]] = ts[newest]
        onset[slot] = NO_TIME
        alerts: list[Alert] = []
        for i in np.flatnonzero(fires | (opened != NO_TIME)).tolist():
            patient = patients.contexts[slot[i]]
            began = int(previous[i] if fires[i] else opened[i])
            if fires[i]:
                at = began + self.rule.spec.for_
                alerts.append(self.rule._alert(AlertState.FIRING, patient, began, at))
            alerts.append(self.rule._alert(AlertState.RESOLVED, patient, began, int(ts[i])))
        return alerts

    def quiet_deadline(self, state: KernelState, slots: IntArray, arrived: IntArray) -> IntArray:
        watched = (state["last"][slots] != NO_TIME) & (state["onset"][slots] == NO_TIME)
        deadline: IntArray = np.where(watched, arrived + self.rule.spec.for_, NO_TIME)
        return deadline

    def on_quiet(
        self, state: KernelState, patients: Patients, slots: IntArray, now_ms: int
    ) -> list[Alert]:
        began = state["last"][slots]
        state["onset"][slots] = began
        return [
            self.rule._alert(AlertState.FIRING, patients.contexts[slot], onset, max(now_ms, onset))
            for slot, onset in zip(slots.tolist(), began.tolist(), strict=True)
        ]
