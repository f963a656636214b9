"""The one interface every rule kind implements, and what a kind is given besides readings.

The built-in kinds live in ``vitalwatch.rules.kinds``, one module each; third-party kinds
subclass ``RuleKind`` and register through the ``vitalwatch.rule_kinds`` entry-point group
(see ``vitalwatch.rules.registry``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from vitalwatch.contracts.alerts import Alert, AlertState
from vitalwatch.contracts.readings import Reading, Signal
from vitalwatch.durations import format_duration_ms
from vitalwatch.rules.spec import RuleSpec

if TYPE_CHECKING:
    from vitalwatch.rules.kernel import Kernel

SpecT = TypeVar("SpecT", bound=RuleSpec)
RuleState = dict[str, Any]
"""A rule's per-patient state: a small JSON-serialisable dict, owned by the rule kind."""


@dataclass(frozen=True)
class PatientContext:
    """What a rule may know about the patient besides readings (from the roster)."""

    patient_id: str
    bed: str = "unknown"
    ward: str = "unknown"
    # Per-patient limit overrides from the roster, keyed "<rule-id>.<field>".
    overrides: Mapping[str, float] = field(default_factory=dict)

    def setting(self, rule_id: str, name: str, default: float) -> float:
        return self.overrides.get(f"{rule_id}.{name}", default)


class RuleKind(ABC, Generic[SpecT]):
    """A rule kind: configured once from its validated spec, then one pure step per reading.

    Kinds that react to silence (no reading for a while) also implement ``quiet_deadline`` and
    ``on_quiet``; the stream calls them from processing-time timers, with the time passed in, so
    the kind itself still reads no clock.
    """

    spec_model: ClassVar[type[RuleSpec]]
    # Spec fields a patient roster may override per patient (numeric limits only).
    overridable: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, spec: SpecT) -> None:
        self.spec = spec

    @property
    @abstractmethod
    def signals(self) -> frozenset[Signal]:
        """The signals whose readings this rule consumes."""

    @abstractmethod
    def step(
        self, state: RuleState, reading: Reading, patient: PatientContext
    ) -> tuple[RuleState, list[Alert]]:
        """Advance the rule by one reading (readings arrive in event-time order)."""

    def kernel(self) -> Kernel | None:
        """This rule as a kernel over a bucket's readings as columns (``rules.kernel``); None:
        the engine runs ``step()`` per reading instead, the same alerts at a higher cost."""
        return None

    def quiet_deadline(self, state: RuleState, arrived_ms: int) -> int | None:
        """When (processing time) silence since the last arrival at ``arrived_ms`` needs
        ``on_quiet``; None: this rule never needs it."""
        return None

    def on_quiet(
        self, state: RuleState, patient: PatientContext, now_ms: int
    ) -> tuple[RuleState, list[Alert]]:
        """The signal has been silent past ``quiet_deadline``."""
        return state, []

    def finish(
        self, state: RuleState, patient: PatientContext, quiet: frozenset[Signal]
    ) -> tuple[RuleState, list[Alert]]:
        """No more readings of the ``quiet`` signals are coming for now (live: none arrived for
        the allowed lateness; over history: the end). Kinds that hold readings back to pair them
        across signals evaluate what they hold."""
        return state, []

    def settle(
        self, state: RuleState, patient: PatientContext, waiting: frozenset[Signal]
    ) -> tuple[RuleState, list[Alert]]:
        """A call (readings, a tick or the end of history) has given the rule all it releases.
        ``waiting``: the signals the patient has sent that may still bring readings at or
        before what has been released (those not quiet; none at the end). Kinds that wait for
        several signals before they evaluate (``news2_aggregate``) evaluate what is complete;
        the evaluator calls it only for kinds that override it."""
        return state, []

    def held_until_quiet(self, state: RuleState) -> frozenset[Signal]:
        """The signals whose silence would make ``finish`` evaluate something this rule holds
        back (none: it holds nothing). Live, the evaluator ticks the patient when one of them
        has been silent for the allowed lateness; the silence of another signal would release
        nothing, and a deadline kept for it would run out every micro-batch."""
        return frozenset()

    def alert(
        self,
        state: AlertState,
        patient: PatientContext,
        onset_ms: int,
        detected_ms: int,
        values: dict[str, float],
        limit: float,
        repeat: int = 0,
        labels: Mapping[str, str] | None = None,
    ) -> Alert:
        """An alert of this rule, its summary rendered from the spec's template; ``labels``:
        the kind's own, besides the spec's and the patient's bed and ward."""
        spec = self.spec
        summary = spec.summary.format(
            value=next(iter(values.values()), 0.0),
            limit=limit,
            duration=format_duration_ms(detected_ms - onset_ms),
            bed=patient.bed,
            ward=patient.ward,
            rule_id=spec.id,
        )
        return Alert(
            rule_id=spec.id,
            patient_id=patient.patient_id,
            severity=spec.severity,
            state=state,
            onset_ms=onset_ms,
            detected_ms=detected_ms,
            values=values,
            summary=summary,
            labels={**spec.labels, "bed": patient.bed, "ward": patient.ward, **(labels or {})},
            repeat=repeat,
            latching=spec.latch,
        )
