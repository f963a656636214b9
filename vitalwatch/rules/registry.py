"""The registry of rule kinds by name: the built-in kinds plus plugins.

Third parties add kinds through the ``vitalwatch.rule_kinds`` entry-point group (a subclass of
``vitalwatch.rules.kind.RuleKind``); a name that is registered twice is an error, never a silent
override.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from vitalwatch.rules.kind import RuleKind
from vitalwatch.rules.kinds.baseline import BaselineRule
from vitalwatch.rules.kinds.count_in_window import CountInWindowRule
from vitalwatch.rules.kinds.derived import DerivedRule
from vitalwatch.rules.kinds.news2 import News2Rule
from vitalwatch.rules.kinds.news2_aggregate import News2AggregateRule
from vitalwatch.rules.kinds.no_data import NoDataRule
from vitalwatch.rules.kinds.threshold import ThresholdRule
from vitalwatch.rules.kinds.trend import TrendRule

ENTRY_POINT_GROUP = "vitalwatch.rule_kinds"


def builtin_kinds() -> dict[str, type[RuleKind[Any]]]:
    return {
        "threshold": ThresholdRule,
        "baseline": BaselineRule,
        "count_in_window": CountInWindowRule,
        "derived": DerivedRule,
        "trend": TrendRule,
        "news2": News2Rule,
        "news2_aggregate": News2AggregateRule,
        "no_data": NoDataRule,
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
