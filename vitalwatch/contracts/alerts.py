"""Alerts on ``vitalwatch.alerts`` (contract version 3), one JSON message per state change.

``alert_id`` is derived from rule, patient and episode onset, so a replay or a re-run batch
produces the same id. An episode's messages are: one ``firing``; a ``renotified`` every
re-notify interval (event time) while the condition still holds, numbered by ``repeat``; one
``resolved`` when it clears; ``escalated`` is the notifier's, when nobody acknowledged in time:
one per receiver and tier reached (labels ``escalated_to`` and ``tier``; see ``escalation``).
Every consumer can be idempotent on (``alert_id``, ``delivery_key``).

``latching`` copies the rule's declaration (IEC 60601-1-8 latching alarm signal): its
``resolved`` message records that the condition ended, but the notification side keeps the
alert active until someone acknowledges it.

``released_ms`` (version 3) is the wall-clock time, epoch milliseconds, at which the stream
processor released the deciding reading to the rules (after the lateness hold, or when a timer
fired): with ``detected_ms`` and the record's Kafka timestamp it lets the notifier tell how long
each stage took (``vitalwatch.notify.stages.latency``). It is not part of the alert's identity
(a replay may carry another), and null in messages the processor did not write.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

import orjson

ALERT_CONTRACT_VERSION = 3
_ALERT_NAMESPACE = uuid.UUID("6f1c1f8e-6a3c-4a58-9b1e-5d0e2f7c4a11")


class Severity(str, Enum):
    """IEC 60601-1-8 priorities: immediate, prompt, awareness."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class AlertState(str, Enum):
    FIRING = "firing"
    RENOTIFIED = "renotified"
    RESOLVED = "resolved"
    ESCALATED = "escalated"


# Labels of an ``escalated`` message: the receiver and the tier (1-based) it escalated to.
ESCALATED_TO = "escalated_to"
ESCALATION_TIER = "tier"


def alert_id(rule_id: str, patient_id: str, onset_ms: int) -> str:
    """``uuid.uuid5(_ALERT_NAMESPACE, rule, patient and onset)`` as a string, written out (RFC
    9562, 5.5: SHA-1 of namespace and name, version and variant bits set): less than half the
    time of ``uuid.uuid5``, whose object a backtest made half a million times only to format
    it (bench/CAPACITY.md)."""
    name = f"{rule_id}\x1f{patient_id}\x1f{onset_ms}".encode()
    digest = bytearray(hashlib.sha1(_ALERT_NAMESPACE.bytes + name).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def iso_ms(epoch_ms: int) -> str:
    """UTC, to the millisecond (in integers: a float division can round the last digit)."""
    seconds, millis = divmod(epoch_ms, 1000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{millis:03d}Z"


@dataclass(frozen=True)
class Alert:
    rule_id: str
    patient_id: str
    severity: Severity
    state: AlertState
    onset_ms: int
    detected_ms: int  # event time of the reading that decided the state change
    values: dict[str, float]
    summary: str
    labels: dict[str, str] = field(default_factory=dict)
    repeat: int = 0  # the n-th re-notification of the episode (state ``renotified``)
    latching: bool = False
    released_ms: int | None = field(default=None, compare=False)  # see the module docstring

    @property
    def alert_id(self) -> str:
        return alert_id(self.rule_id, self.patient_id, self.onset_ms)

    @property
    def delivery_key(self) -> str:
        """What a receiver gets at most once per alert: the state, and which repeat."""
        if self.state is AlertState.RENOTIFIED:
            return f"{self.state.value}#{self.repeat}"
        if self.state is AlertState.ESCALATED and ESCALATED_TO in self.labels:
            return f"{self.state.value}:{self.labels[ESCALATED_TO]}#{self.labels[ESCALATION_TIER]}"
        return str(self.state.value)

    def to_message(self, emitted_ms: int, released_ms: int | None = None) -> dict[str, Any]:
        """The message as a new dict; ``released_ms`` given: in place of the alert's own (the
        stream processor's, without a copy of the alert). Written out field by field:
        ``dataclasses.asdict`` (deep copies, recursion) made encoding most of a backtest's
        Python time (bench/CAPACITY.md)."""
        return {
            "rule_id": self.rule_id,
            "patient_id": self.patient_id,
            "severity": self.severity.value,
            "state": self.state.value,
            "onset_ms": self.onset_ms,
            "detected_ms": self.detected_ms,
            "values": dict(self.values),
            "summary": self.summary,
            "labels": dict(self.labels),
            "repeat": self.repeat,
            "latching": self.latching,
            "released_ms": self.released_ms if released_ms is None else released_ms,
            "version": ALERT_CONTRACT_VERSION,
            "alert_id": self.alert_id,
            "onset": iso_ms(self.onset_ms),
            "detected": iso_ms(self.detected_ms),
            "emitted": iso_ms(emitted_ms),
        }

    def to_json(self, emitted_ms: int, released_ms: int | None = None) -> bytes:
        # numpy scalars, as a rule kind may leave in ``values``, encode as the numbers they are
        # (``json.dumps`` took a numpy float as a float; orjson needs the option).
        message = self.to_message(emitted_ms, released_ms)
        return orjson.dumps(message, option=orjson.OPT_SERIALIZE_NUMPY)

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Alert:
        return cls(
            rule_id=message["rule_id"],
            patient_id=message["patient_id"],
            severity=Severity(message["severity"]),
            state=AlertState(message["state"]),
            onset_ms=int(message["onset_ms"]),
            detected_ms=int(message["detected_ms"]),
            values={k: float(v) for k, v in message["values"].items()},
            summary=message["summary"],
            labels=dict(message.get("labels", {})),
            repeat=int(message.get("repeat", 0)),
            latching=bool(message.get("latching", False)),
            released_ms=_optional_int(message.get("released_ms")),
        )


def _optional_int(value: Any) -> int | None:
    """A timing field, or None when it is absent or unusable: it only feeds latency metrics, so
    it never turns an alert into a bad message."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def escalation(alert: Alert, receiver: str, tier: int) -> Alert:
    """The notifier's ``escalated`` message for ``alert``: nobody acknowledged it in time (or
    the previous tier was unreachable), so ``receiver``'s tier ``tier`` was notified."""
    labels = {**alert.labels, ESCALATED_TO: receiver, ESCALATION_TIER: str(tier)}
    return replace(alert, state=AlertState.ESCALATED, labels=labels)
