"""The inhibition stage: a firing alert can mute others that it already covers.

For example a NEWS2 emergency alert for a patient inhibits the single-parameter alerts of the
same patient. Rules come from the routing config (``inhibit_rules``): while an alert matching
``source_matchers`` fires, an alert matching ``target_matchers`` whose ``equal`` labels have the
same values is not notified. An alert never inhibits itself. When the source resolves, the
target is notified at its group's next flush if it still fires.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vitalwatch.contracts.alerts import Alert, AlertState
from vitalwatch.notify.matchers import Matcher, alert_labels, all_match, parse_matchers
from vitalwatch.notify.routing import InhibitRule


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

    def inhibiting(self, alert: Alert, active: Iterable[Alert]) -> Alert | None:
        """The firing alert that inhibits ``alert``, or None."""
        if not self._rules:
            return None
        labels = alert_labels(alert)
        rules = [r for r in self._rules if all_match(r.target, labels)]
        if not rules:
            return None
        for source in active:
            if source.alert_id == alert.alert_id or source.state is AlertState.RESOLVED:
                continue
            source_labels = alert_labels(source)
            for rule in rules:
                if all_match(rule.source, source_labels) and all(
                    source_labels.get(k, "") == labels.get(k, "") for k in rule.equal
                ):
                    return source
        return None
