"""The one interface every rule kind implements, and the registry of kinds by name.

Third parties add kinds through the ``vitalwatch.rule_kinds`` entry-point group; a name that is
registered twice is an error, never a silent override.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar, Generic, TypeVar

from vitalwatch.contracts.alerts import Alert
from vitalwatch.contracts.readings import Reading, Signal
from vitalwatch.rules.spec import RuleSpec

ENTRY_POINT_GROUP = "vitalwatch.rule_kinds"

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
    """A rule kind: configured once from its validated spec, then one pure step per reading."""

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


def builtin_kinds() -> dict[str, type[RuleKind[Any]]]:
    from vitalwatch.rules.count_in_window import CountInWindowRule
    from vitalwatch.rules.news2 import News2Rule
    from vitalwatch.rules.threshold import ThresholdRule
    from vitalwatch.rules.trend import TrendRule

    return {
        "threshold": ThresholdRule,
        "count_in_window": CountInWindowRule,
        "trend": TrendRule,
        "news2": News2Rule,
    }


def registered_kinds(
    plugins: Mapping[str, type[RuleKind[Any]]] | None = None,
) -> dict[str, type[RuleKind[Any]]]:
    """Built-in kinds plus plugins (by default, those of the entry-point group)."""
    kinds = builtin_kinds()
    if plugins is None:
        plugins = {ep.name: ep.load() for ep in entry_points(group=ENTRY_POINT_GROUP)}
    for name, kind in plugins.items():
        if name in kinds:
            raise ValueError(f"rule kind {name!r} is registered twice ({kinds[name]} and {kind})")
        kinds[name] = kind
    return kinds
