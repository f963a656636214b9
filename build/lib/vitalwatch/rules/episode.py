"""The alert lifecycle every condition-based rule kind shares.

A kind says, per reading, whether the reading is abnormal (``breaching``) and whether the alarm
condition is met (``holds``, e.g. a breach sustained long enough); this base turns that into
episodes: fire when the condition holds (not within ``cooldown`` of the last firing), re-notify
every ``renotify`` while readings still breach, and resolve once readings have been normal for
``clear_after``. Onset is when the condition began (``since_ms``), so the alert id is the same
however the readings were batched. All of it runs in event time: the same readings give the
same alerts in a backtest and live. ``latch`` is carried on the alerts for the notification side
(a latching alert stays active there until acknowledged).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Literal, TypeVar

from pydantic import Field, field_validator, model_validator

from vitalwatch.contracts.alerts import Alert, AlertState
from vitalwatch.contracts.readings import Reading, Signal
from vitalwatch.durations import DurationMs
from vitalwatch.rules.kind import PatientContext, RuleKind, RuleState
from vitalwatch.rules.spec import RuleSpec

# What a rule's ``signal`` names, as (stream, field in the reading).
MEASURES: dict[str, tuple[Signal, str]] = {
    "heart_rate": (Signal.HEART_RATE, "bpm"),
    "systolic": (Signal.BLOOD_PRESSURE, "systolic"),
    "diastolic": (Signal.BLOOD_PRESSURE, "diastolic"),
    "mean_arterial_pressure": (Signal.BLOOD_PRESSURE, "mean"),
}


class EpisodeSpec(RuleSpec):
    clear_after: DurationMs = Field(default=0, ge=0)
    cooldown: DurationMs = Field(default=600_000, ge=0)
    renotify: DurationMs | None = Field(default=None, gt=0, description="none: notify once")


@dataclass(frozen=True)
class Condition:
    breaching: bool  # this reading is abnormal
    holds: bool  # the alarm condition is met
    since_ms: int  # when the condition began (the episode's onset if it fires)
    value: float
    limit: float


SpecT = TypeVar("SpecT", bound=EpisodeSpec)


class EpisodeRule(RuleKind[SpecT]):
    """Base of kinds that watch one measure; subclasses implement ``condition``."""

    measure: str  # a key of MEASURES, set by the subclass from its spec

    @property
    def signals(self) -> frozenset[Signal]:
        return frozenset({MEASURES[self.measure][0]})

    @abstractmethod
    def condition(
        self, state: RuleState, ts: int, value: float, patient: PatientContext
    ) -> tuple[RuleState, Condition]:
        """Update the kind's own state with one value; say whether the condition holds."""

    def step(
        self, state: RuleState, reading: Reading, patient: PatientContext
    ) -> tuple[RuleState, list[Alert]]:
        value = reading.values.get(MEASURES[self.measure][1])
        if value is None:
            return state, []
        return self.advance(state, reading.ts_ms, value, patient)

    def advance(
        self, state: RuleState, ts: int, value: float, patient: PatientContext
    ) -> tuple[RuleState, list[Alert]]:
        """The lifecycle, given the measure's next value in event-time order."""
        spec = self.spec
        kind_state, cond = self.condition(state.get("kind", {}), ts, value, patient)
        onset: int | None = state.get("onset")
        clear_start: int | None = state.get("clear_start")
        last_fired: int | None = state.get("last_fired")
        last_notified: int | None = state.get("last_notified")
        repeat: int = state.get("repeat", 0)
        alerts: list[Alert] = []
        if cond.breaching:
            clear_start = None
        if onset is None and cond.holds:
            if last_fired is None or ts - last_fired >= spec.cooldown:
                onset, last_fired, last_notified, repeat = cond.since_ms, ts, ts, 0
                alerts.append(self._alert(AlertState.FIRING, patient, onset, ts, cond))
        elif onset is not None and cond.breaching:
            assert last_notified is not None
            if spec.renotify is not None and ts - last_notified >= spec.renotify:
                last_notified, repeat = ts, repeat + 1
                alerts.append(self._alert(AlertState.RENOTIFIED, patient, onset, ts, cond, repeat))
        elif onset is not None:
            clear_start = ts if clear_start is None else clear_start
            if ts - clear_start >= spec.clear_after:
                alerts.append(self._alert(AlertState.RESOLVED, patient, onset, ts, cond))
                onset, clear_start = None, None
        new_state = {
            "kind": kind_state,
            "onset": onset,
            "clear_start": clear_start,
            "last_fired": last_fired,
            "last_notified": last_notified,
            "repeat": repeat,
        }
        return new_state, alerts

    def measure_field(self) -> str:
        return MEASURES[self.measure][1]

    def _alert(
        self,
        state: AlertState,
        patient: PatientContext,
        onset: int,
        ts: int,
        cond: Condition,
        repeat: int = 0,
    ) -> Alert:
        values = {self.measure_field(): cond.value}
        return self.alert(state, patient, onset, ts, values, cond.limit, repeat)


Measure = Literal["heart_rate", "systolic", "diastolic", "mean_arterial_pressure"]


class LimitSpec(EpisodeSpec):
    """A measure compared with one limit: ``above`` or ``below`` (strictly)."""

    signal: Measure
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _one_limit(self) -> LimitSpec:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of 'above' or 'below'")
        return self


LimitSpecT = TypeVar("LimitSpecT", bound=LimitSpec)


class LimitRule(EpisodeRule[LimitSpecT]):
    """Base of kinds that compare a measure with a limit the roster may override per patient."""

    overridable = frozenset({"above", "below"})

    def __init__(self, spec: LimitSpecT) -> None:
        super().__init__(spec)
        self.measure = spec.signal
        self._direction = "above" if spec.above is not None else "below"
        limit = spec.above if spec.above is not None else spec.below
        assert limit is not None
        self._limit = limit

    def limit_for(self, patient: PatientContext) -> float:
        return patient.setting(self.spec.id, self._direction, self._limit)

    def breaches(self, value: float, limit: float) -> bool:
        return value > limit if self._direction == "above" else value < limit


class ChangeSpec(EpisodeSpec):
    """A measure compared with a reference of the patient's own: ``change`` is signed, a rise
    when positive, a fall when negative; the roster may override it per patient."""

    signal: Measure
    change: float

    @field_validator("change")
    @classmethod
    def _not_zero(cls, change: float) -> float:
        if change == 0:
            raise ValueError("a change of 0 always holds; give a negative fall or positive rise")
        return change


ChangeSpecT = TypeVar("ChangeSpecT", bound=ChangeSpec)


class ChangeRule(EpisodeRule[ChangeSpecT]):
    overridable = frozenset({"change"})

    def __init__(self, spec: ChangeSpecT) -> None:
        super().__init__(spec)
        self.measure = spec.signal

    def change_for(self, patient: PatientContext) -> float:
        return patient.setting(self.spec.id, "change", self.spec.change)

    def reached(self, delta: float, change: float) -> bool:
        return delta <= change if change < 0 else delta >= change
