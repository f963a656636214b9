"""An independent judge of Kafka reading records, in plain Python (``json.loads``), written from
the input contract (README "Input messages", ``vitalwatch/contracts/readings.py``'s docstring)
and not from the decoder: nothing here imports vitalwatch.

``judge`` says whether a record is a valid reading and, if so, what the reading is, so the fuzz
test can compare it with what the Spark decoder makes of the same bytes. The contract, as judged:

- the value is UTF-8 and one JSON object (RFC 8259: no NaN or Infinity, no single quotes, no
  comments, nothing after the object); of duplicate keys the last one counts;
- the key is the patient id's bytes; ``patient_id`` is 1-64 of ``A-Za-z0-9._:-``;
- ``ts`` is epoch milliseconds (a whole number of up to 15 digits, or those digits as a string),
  or an ISO-8601 text ``YYYY-MM-DD[T ]HH:MM:SS[.f]`` with ``Z``, ``+HH:MM`` or no zone (UTC),
  from 1970 to the end of year 9999 (UTC);
- heart rate needs ``bpm``; blood pressure ``systolic`` and ``diastolic``, with ``mean``
  optional (computed as (systolic + 2 x diastolic) / 3); a number may come as a JSON number or as
  a string holding a JSON number; every one finite and within what a body can show, and
  diastolic not above systolic; a JSON null is a missing field;
- fields are read as text: ``true`` or ``42`` where text is expected is that literal text;
  unknown fields, and fields of the other signal, are ignored.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

HEART_RATE_TOPIC = "vitals.heart_rate"
BLOOD_PRESSURE_TOPIC = "vitals.blood_pressure"
_REQUIRED = {
    HEART_RATE_TOPIC: ("bpm",),
    BLOOD_PRESSURE_TOPIC: ("systolic", "diastolic"),
}
# What a body can show at all, inclusive (the contract's table, typed in again on purpose).
_LIMITS = {
    "bpm": (0.0, 350.0),
    "systolic": (0.0, 350.0),
    "diastolic": (0.0, 300.0),
    "mean": (0.0, 320.0),
}
_ID_CHARS = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_NUMBER_TEXT = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_DIGITS = re.compile(r"[0-9]{1,15}")
_ISO_SHAPE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LAST_MS = (datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=timezone.utc) - _EPOCH) // timedelta(
    milliseconds=1
)


@dataclass(frozen=True)
class Verdict:
    """``problem`` is None for a valid reading, whose fields are then given."""

    problem: str | None
    patient_id: str | None = None
    event_ms: int | None = None
    values: tuple[tuple[str, float], ...] = ()


class _Refused(Exception):
    pass


def _reject_constant(name: str) -> float:
    raise _Refused(f"{name} is not JSON")


def _as_text(value: Any) -> str | None:
    """A field read as text: a string as it is, another scalar as its JSON literal."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)


def _number(value: Any) -> float | None:
    if isinstance(value, (bool, dict, list)):
        return None
    if isinstance(value, str):
        return float(value) if _NUMBER_TEXT.fullmatch(value) else None
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float
        return math.inf


def _event_ms(value: Any) -> int | None:
    event_ms = _time(value)
    return event_ms if event_ms is not None and 0 <= event_ms <= _LAST_MS else None


def _time(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return None
    if _DIGITS.fullmatch(value):
        return int(value)
    if not _ISO_SHAPE.fullmatch(value):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _document(value: bytes | None) -> dict[str, Any]:
    if value is None:
        raise _Refused("no value")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        raise _Refused("not UTF-8") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise _Refused("not JSON") from None
    if not isinstance(document, dict):
        raise _Refused("not an object")
    return document


def judge(key: bytes | None, value: bytes | None, topic: str) -> Verdict:
    try:
        return _judge(key, _document(value), topic)
    except _Refused as refused:
        return Verdict(str(refused))


def _judge(key: bytes | None, document: dict[str, Any], topic: str) -> Verdict:
    patient_id = _as_text(document.get("patient_id"))
    if patient_id is None or not _ID_CHARS.fullmatch(patient_id):
        return Verdict("bad patient id")
    if key != patient_id.encode():
        return Verdict("key is not the patient id")
    event_ms = _event_ms(document.get("ts"))
    if event_ms is None:
        return Verdict("bad ts")
    values: dict[str, float] = {}
    for name in (*_REQUIRED[topic], *(("mean",) if topic == BLOOD_PRESSURE_TOPIC else ())):
        raw = document.get(name)
        if raw is None:
            if name in _REQUIRED[topic]:
                return Verdict(f"no {name}")
            continue
        number = _number(raw)
        low, high = _LIMITS[name]
        if number is None or not math.isfinite(number) or not low <= number <= high:
            return Verdict(f"bad {name}")
        values[name] = number
    if topic == BLOOD_PRESSURE_TOPIC:
        if values["diastolic"] > values["systolic"]:
            return Verdict("diastolic above systolic")
        values.setdefault("mean", (values["systolic"] + 2 * values["diastolic"]) / 3)
    return Verdict(None, patient_id, event_ms, tuple(sorted(values.items())))
