"""Label matchers, the one selector language of routes, silences and inhibition rules.

The syntax is Alertmanager's: ``name=value``, ``name!=value``, ``name=~regex``,
``name!~regex``; a regex must match the whole value. A label an alert does not have is the
empty string, so ``ward!=ICU-A`` matches an alert with no ward. The labels an alert offers are
its own labels (bed, ward, team, ...) plus ``rule_id``, ``severity``, ``state`` and
``patient_id`` (so a silence can cover one patient in theatre).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vitalwatch.contracts.alerts import Alert

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


def alert_labels(alert: Alert) -> dict[str, str]:
    return {
        **alert.labels,
        "rule_id": alert.rule_id,
        "severity": alert.severity.value,
        "state": alert.state.value,
        "patient_id": alert.patient_id,
    }


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Matcher:
        match = _MATCHER.match(text)
        if match is None:
            raise ValueError(
                f"{text!r} is not a matcher; write name=value, name!=value, name=~regex "
                "or name!~regex (e.g. severity=high, ward=~ICU-.*)"
            )
        name, op, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{text!r}: not a valid regular expression ({exc})") from None
        return cls(name, op, value)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value}"


def parse_matchers(texts: Iterable[str]) -> tuple[Matcher, ...]:
    return tuple(Matcher.parse(t) for t in texts)


def all_match(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
