"""Titles and bodies of notifications, per receiver kind.

``rich`` (email, chat, webhooks): every alert of the group with patient, bed, ward, the rule and
its description, the values, onset and detection time, the alert id and the acknowledge link.
``short`` (SMS, pagers): one line per message, most severe alert first, with bed, ward, rule,
values and the link; the patient id is left out of what a lock screen shows (bed and ward are
how a ward finds the patient). Both end with the advisory notice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from vitalwatch.contracts.alerts import Alert, Severity, iso_ms

ADVISORY = "Advisory notice from vitalwatch: check the patient and the bedside monitor."
_ORDER = {Severity.HIGH: 0, Severity.MEDIUM: 1, Severity.LOW: 2}


@dataclass(frozen=True)
class Context:
    """What a message says beyond the alerts themselves."""

    state: str  # firing, resolved, escalated, renotified, repeat
    descriptions: Mapping[str, str] = field(default_factory=dict)  # rule id -> description
    ack_link: Callable[[str], str | None] = lambda alert_id: None
    note: str = ""  # e.g. "tier 2: not acknowledged within 5m"


def _values(alert: Alert) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in sorted(alert.values.items()))


def _sorted(alerts: Sequence[Alert]) -> list[Alert]:
    return sorted(alerts, key=lambda a: (_ORDER[a.severity], a.onset_ms))


def _title(alerts: Sequence[Alert], context: Context) -> str:
    first = alerts[0]
    rules = ", ".join(dict.fromkeys(a.rule_id for a in alerts))
    state = context.state.upper() if context.state == "escalated" else context.state
    return f"[{first.severity.value.upper()}] {state}: {rules}"


def _rich_block(alert: Alert, context: Context) -> str:
    lines = [
        alert.summary,
        f"Patient {alert.patient_id}, bed {alert.labels.get('bed', '?')}, "
        f"ward {alert.labels.get('ward', '?')}",
    ]
    description = context.descriptions.get(alert.rule_id)
    lines.append(f"Rule {alert.rule_id}" + (f": {description}" if description else ""))
    lines.append(
        f"Onset {iso_ms(alert.onset_ms)}; detected {iso_ms(alert.detected_ms)}; "
        f"values: {_values(alert)}"
    )
    lines.append(f"Alert id {alert.alert_id}")
    link = context.ack_link(alert.alert_id)
    if link:
        lines.append(f"Acknowledge: {link}")
    return "\n".join(lines)


def render_rich(alerts: Sequence[Alert], context: Context) -> tuple[str, str]:
    ordered = _sorted(alerts)
    head = [context.note] if context.note else []
    if len(ordered) > 1:
        head.append(f"{len(ordered)} alerts:")
    blocks = [_rich_block(a, context) for a in ordered]
    return _title(ordered, context), "\n\n".join(
        ["\n".join(head)] * bool(head) + blocks + [ADVISORY]
    )


def render_short(alerts: Sequence[Alert], context: Context) -> tuple[str, str]:
    ordered = _sorted(alerts)
    first = ordered[0]
    more = f" (+{len(ordered) - 1} more)" if len(ordered) > 1 else ""
    link = context.ack_link(first.alert_id)
    prefix = context.note.split(":")[0] + ": " if context.note else ""
    where = f"bed {first.labels.get('bed', '?')} {first.labels.get('ward', '?')}"
    body = (
        f"{prefix}{context.state}: {where} {first.rule_id} {_values(first)}{more}"
        + (f" ack {link}" if link else "")
        + " Advisory only."
    )
    return _title(ordered, context), body


RENDERERS = {"rich": render_rich, "short": render_short}


def render(style: str, alerts: Sequence[Alert], context: Context) -> tuple[str, str]:
    return RENDERERS[style](alerts, context)


def render_technical(what: str, detail: str) -> tuple[str, str]:
    """A technical alert: vitalwatch itself failed in a way that could hide a clinical alert."""
    return f"[TECHNICAL] vitalwatch: {what}", f"{detail}\n\n{ADVISORY}"
