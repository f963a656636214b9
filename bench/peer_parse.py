"""The query's parsing and validation (``vitalwatch.stream.parse``, Spark SQL expressions) in
plain Python, for the Quix Streams peer: the same checks in the same order, so the first failing
one gives the same dead-letter reason - as the query parsed before the fuzz tests hardened it
(strict JSON, ``ts`` forms and range, JSON number syntax) and without its ``future`` check
(rules.max_clock_skew). The bench's input is well-formed and stamped at publication, where both
agree; malformed or future-stamped input would be judged differently here."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from vitalwatch.contracts.readings import (
    PATIENT_ID_PATTERN,
    POSSIBLE_RANGE,
    SIGNAL_FIELDS,
    DeadLetterReason,
    Reading,
    Signal,
    mean_arterial_pressure,
)

_REQUIRED = {
    Signal.HEART_RATE: ("patient_id", "ts", "bpm"),
    Signal.BLOOD_PRESSURE: ("patient_id", "ts", "systolic", "diastolic"),
}
_PATIENT_ID = re.compile(PATIENT_ID_PATTERN)
_EPOCH_MS = re.compile(r"^[0-9]{1,15}$")


class Invalid(ValueError):
    """A record the query would dead-letter; ``reason`` as the query writes it."""

    def __init__(self, reason: DeadLetterReason, detail: str | None = None) -> None:
        self.reason = reason.value if detail is None else f"{reason.value}:{detail}"
        super().__init__(self.reason)


def parse_reading(signal: Signal, key: bytes | None, value: bytes) -> tuple[str, Reading]:
    """The patient id and reading of one Kafka record, or ``Invalid``."""
    try:
        text = value.decode()
    except UnicodeDecodeError:
        raise Invalid(DeadLetterReason.NOT_UTF8) from None
    try:
        fields = json.loads(text)
    except ValueError:
        raise Invalid(DeadLetterReason.NOT_JSON) from None
    if not isinstance(fields, dict):
        raise Invalid(DeadLetterReason.NOT_JSON)
    fields = {name: _text(v) for name, v in fields.items() if v is not None}
    for name in _REQUIRED[signal]:
        if name not in fields:
            raise Invalid(DeadLetterReason.MISSING_FIELD, name)
    patient_id = fields["patient_id"]
    if not _PATIENT_ID.match(patient_id):
        raise Invalid(DeadLetterReason.BAD_PATIENT_ID)
    if key is None or key.decode(errors="replace") != patient_id:
        raise Invalid(DeadLetterReason.KEY_MISMATCH)
    event_ms = _event_ms(fields["ts"].strip())
    if event_ms is None:
        raise Invalid(DeadLetterReason.WRONG_TYPE, "ts")
    values: dict[str, float] = {}
    for name in SIGNAL_FIELDS[signal]:  # each field's type, then its range, in the query's order
        if name in fields:
            values[name] = _number(fields, name)
        else:  # only the mean may be absent: computed from the (already checked) pressures
            values[name] = mean_arterial_pressure(values["systolic"], values["diastolic"])
        low, high = POSSIBLE_RANGE[name]
        if not low <= values[name] <= high:  # NaN fails too
            raise Invalid(DeadLetterReason.OUT_OF_RANGE, name)
    if signal is Signal.BLOOD_PRESSURE and values["diastolic"] > values["systolic"]:
        raise Invalid(DeadLetterReason.OUT_OF_RANGE, "diastolic above systolic")
    return patient_id, Reading(signal, event_ms, values)


def _text(value: Any) -> str:
    """A JSON field as Spark's ``from_json`` reads it into a string column."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _event_ms(text: str) -> int | None:
    if _EPOCH_MS.match(text):
        return int(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return round(parsed.timestamp() * 1000)


def _number(fields: dict[str, str], name: str) -> float:
    try:
        return float(fields[name])
    except ValueError:
        raise Invalid(DeadLetterReason.WRONG_TYPE, name) from None
