"""The inhibition stage: a firing alert can mute others that it already covers.

For example a NEWS2 emergency alert for a patient inhibits the single-parameter alerts of the
same patient. Rules come from the routing config (``inhibit_rules``): while an alert matching
``source_matchers`` fires, an alert matching ``target_matchers`` whose ``equal`` labels have the
same values is not notified. An alert never inhibits itself (the caller passes the very
objects it checks). When the source resolves, the target is notified at its group's next
flush if it still fires.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vitalwatch.contracts.alerts import Alert, AlertState
from vitalwatch.notify.config.matchers import Matcher, alert_labels, all_match, parse_matchers
from vitalwatch.notify.config.routing import InhibitRule


@dataclass(frozen=True)
class _Rule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]


class Inhibitor:
    def __init__(self, rules: Iterable[InhibitRule]) -> None:
        self._rules = [
            _Rule(parse_matchers(r.source_matchers), parse_matchers(r.target_matchers),
                  tuple(r.equal))
            for r in rules
        ]  # fmt: skip
        self._sources: list[dict[tuple[str, ...], list[Alert]]] = [{} for _ in self._rules]

    def refresh(self, active: Iterable[Alert]) -> None:
        """Index the firing alerts that can inhibit, per rule and ``equal`` values (per tick)."""
        self._sources = [{} for _ in self._rules]
        if not self._rules:
            return
        for source in active:
            if source.state is AlertState.RESOLVED:
                continue
            labels = alert_labels(source)
            for rule, index in zip(self._rules, self._sources, strict=True):
                if all_match(rule.source, labels):
                    key = tuple(labels.get(k, "") for k in rule.equal)
                    index.setdefault(key, []).append(source)

    def inhibiting(self, alert: Alert) -> Alert | None:
        """The firing alert that inhibits ``alert`` (never itself), or None."""
        if not self._rules:
            return None
        labels = alert_labels(alert)
        for rule, index in zip(self._rules, self._sources, strict=True):
            if not index or not all_match(rule.target, labels):
                continue
            for source in index.get(tuple(labels.get(k, "") for k in rule.equal), []):
                if source is not alert:
                    return source
        return None
