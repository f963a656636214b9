"""HL7 v2 ORU^R01 (IHE PCD-01) -> readings of the contract, as a pure function.

``parse`` reads the bytes of one MLLP block into an ``hl7.Message``; ``readings`` maps an
ORU^R01 message to readings, or refuses the whole message with a reason:

- patient: PID-3, the first identifier's ID (component 1), as the contract's patient id;
- observations: every OBX whose OBX-3 code is in ``codes.OBSERVATIONS`` (coding system MDC) or
  is one of ``loinc.HL7_CODES`` (coding system LN: inhaled oxygen, level of responsiveness);
  others are skipped and counted (``unknown_code``), as are observations whose result status
  (OBX-11) says there is no result: X (cannot be obtained), D (deleted), W (wrong);
- value: OBX-5, a number; unit: OBX-6, converted to the contract's (``codes.UNITS``). A level of
  responsiveness is a coded answer instead (CWE: code, text; alternate code, alternate text;
  original text), read as ``loinc.acvpu`` reads it; another answer is refused
  (``unknown_answer``);
- inhaled oxygen (FiO2, O2 flow) sets ``on_oxygen`` of the SpO2 reading of its time
  (``codes.OXYGEN``), as one more field of that reading; without an SpO2 at its time it has no
  reading to set and is skipped and counted (``oxygen_alone``);
- event time: OBX-14, else OBR-7 of the OBR it follows; HL7 DTM to the minute at least, a zone
  offset optional (no offset: UTC, as the contract reads a time without zone);
- one reading per signal, time and (blood pressure) source; the preferred code wins (the
  table's order, MDC before LOINC); a blood pressure needs a systolic and a diastolic of the
  same time and source, its mean is optional (the stream computes it when absent);
- every value within what a body can show (``contracts.readings``), as the stream checks it, and
  the event time from 1970 to 9999 and not further ahead of the gateway's clock than
  ``rules.max_clock_skew`` (the stream would dead-letter it as ``future``).

The text is decoded as Latin-1, which never fails and keeps every delimiter and ASCII value
intact; the fields read here are ASCII (a patient id with other characters is refused by its
pattern), so a sender's character set (MSH-18) does not matter to them.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import TypeAlias

import hl7

from vitalwatch.contracts.readings import (
    EVENT_TIME_RANGE_MS,
    PATIENT_ID_PATTERN,
    POSSIBLE_RANGE,
    Signal,
)
from vitalwatch.gateway import loinc
from vitalwatch.gateway.codes import OBSERVATIONS, OXYGEN, UNITS, Observation, Quantity

MESSAGE_TYPE = ("ORU", "R01")
_NO_RESULT = frozenset({"X", "D", "W"})
# HL7 DTM: YYYYMMDDHHMM[SS[.S[S[S[S]]]]][+/-ZZZZ]. Coarser times (a day, an hour) are no time
# of a reading. hl7.parse_datetime is not used: it gives "-0030" the sign of its hours (+).
_DTM = re.compile(
    r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?(?:([+-])(\d{2})(\d{2}))?",
    re.ASCII,  # \d is any Unicode digit otherwise, and int() reads them
)
# A number as HL7 NM writes it: optional sign, digits, optional decimal point.
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)", re.ASCII)
_PATIENT_ID = re.compile(PATIENT_ID_PATTERN)
_RANGES = POSSIBLE_RANGE
# OBX-3 coding system (HL7 table 0396) -> the codes read in it.
_TABLES: dict[str, dict[str, Observation]] = {
    "MDC": OBSERVATIONS,
    "LN": {code: loinc.OBSERVATIONS[code] for code in loinc.HL7_CODES},
}
# Per signal, the code listed first wins over the others at the same time (MDC before LOINC).
_PREFERENCE = {code: rank for rank, code in enumerate(code for t in _TABLES.values() for code in t)}
# CWE components of a coded answer: its codes (identifier, alternate identifier) and its texts
# (text, alternate text, original text).
_ANSWER_CODES, _ANSWER_TEXTS = (1, 4), (2, 5, 9)


class Refusal(str, Enum):
    """Why a message is refused: the first part of its dead letter's ``reason`` header."""

    NOT_HL7 = "not_hl7"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    UNKNOWN_UNIT = "unknown_unit"
    UNKNOWN_ANSWER = "unknown_answer"
    OUT_OF_RANGE = "out_of_range"
    BAD_PATIENT_ID = "bad_patient_id"
    FUTURE = "future"


class Malformed(Exception):
    """The message cannot be read as readings; it is dead-lettered and answered AR."""

    def __init__(self, refusal: Refusal, detail: str = "") -> None:
        self.refusal = refusal
        self.reason = f"{refusal.value}:{detail}" if detail else refusal.value
        super().__init__(self.reason)


class NotOruR01(Exception):
    """Another message type or event than ORU^R01: answered AR, not dead-lettered."""


# A field's value as the contract writes it: a number, on_oxygen's JSON boolean, or acvpu's letter.
Value: TypeAlias = float | bool | str


@dataclass(frozen=True)
class GatewayReading:
    """One reading as the contract writes it; ``values`` in the contract's fields and units."""

    signal: Signal
    patient_id: str
    ts_ms: int
    values: dict[str, Value]
    device_id: str | None = None


@dataclass
class Mapped:
    readings: list[GatewayReading]
    # Observations not written, by why: unknown_code, no_result, superseded, oxygen_alone (and
    # FHIR's mean_alone).
    skipped: Counter[str] = field(default_factory=Counter)


def parse(block: bytes) -> hl7.Message:
    """The message in one MLLP block; ``Malformed(not_hl7)`` if it is none."""
    text = block.decode("latin-1").replace("\r\n", "\r").replace("\n", "\r")
    try:
        message = hl7.parse(text)
        message.segment("MSH")
    except Exception:  # the parser raises many kinds on bad input; all mean the same here
        raise Malformed(Refusal.NOT_HL7) from None
    if not isinstance(message, hl7.Message):
        raise Malformed(Refusal.NOT_HL7)
    return message


def part(message: hl7.Message, segment: hl7.Segment, index: int, component: int = 1) -> str:
    """Field ``index`` of ``segment``: its first repetition's component ``component``, as text
    ("" when absent). The message's own separators are used."""
    if index >= len(segment):
        return ""
    separators = message.separators  # segment, field, repetition, component, subcomponent
    text = str(segment[index]).split(separators[2])[0]
    components = text.split(separators[3])
    return components[component - 1] if component <= len(components) else ""


def check_type(message: hl7.Message) -> None:
    msh = message.segment("MSH")
    kind = (part(message, msh, 9, 1), part(message, msh, 9, 2))
    if kind != MESSAGE_TYPE:
        raise NotOruR01(f"{kind[0] or '?'}^{kind[1] or '?'}")


def event_ms(text: str) -> int:
    """An HL7 DTM as epoch milliseconds; no zone offset: UTC."""
    found = _DTM.fullmatch(text)
    if found is None:
        raise Malformed(Refusal.WRONG_TYPE, "time")
    year, month, day, hour, minute, second, fraction, sign, zh, zm = found.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
            tzinfo=timezone.utc,
        )  # fmt: skip
    except ValueError:
        raise Malformed(Refusal.WRONG_TYPE, "time") from None
    if int(zh or 0) > 23 or int(zm or 0) > 59:
        raise Malformed(Refusal.WRONG_TYPE, "time")
    offset = timedelta(hours=int(zh or 0), minutes=int(zm or 0))
    try:
        ms = int((moment - (-offset if sign == "-" else offset)).timestamp()) * 1000
    except OverflowError:  # the offset takes it past year 1 or 9999
        raise Malformed(Refusal.OUT_OF_RANGE, "time") from None
    return ms + int(((fraction or "") + "000")[:3])


def _number(text: str, name: str) -> float:
    if _NUMBER.fullmatch(text) is None:
        raise Malformed(Refusal.WRONG_TYPE, name)
    value = float(text)
    if not math.isfinite(value):
        raise Malformed(Refusal.WRONG_TYPE, name)
    return value


@dataclass(frozen=True)
class _Value:
    observation: Observation
    code: str
    value: Value
    ts_ms: int
    device_id: str | None


def readings(message: hl7.Message, now_ms: int, max_skew_ms: int) -> Mapped:
    """The readings of an ORU^R01 message; ``Malformed`` if any part of it is unusable."""
    check_type(message)
    patient_id = _patient_id(message)
    skipped: Counter[str] = Counter()
    values: list[_Value] = []
    obr_time = ""
    for segment in message:
        name = str(segment[0])
        if name == "OBR":
            obr_time = part(message, segment, 7)
        elif name == "OBX":
            value = _observation(message, segment, obr_time, now_ms, max_skew_ms, skipped)
            if value is not None:
                values.append(value)
    return Mapped(_combine(patient_id, values, skipped), skipped)


def _patient_id(message: hl7.Message) -> str:
    try:
        pid = message.segment("PID")
    except KeyError:
        raise Malformed(Refusal.MISSING_FIELD, "PID-3") from None
    patient_id = part(message, pid, 3)
    if not patient_id:
        raise Malformed(Refusal.MISSING_FIELD, "PID-3")
    if _PATIENT_ID.match(patient_id) is None:
        raise Malformed(Refusal.BAD_PATIENT_ID)
    return patient_id


def _observation(
    message: hl7.Message,
    obx: hl7.Segment,
    obr_time: str,
    now_ms: int,
    max_skew_ms: int,
    skipped: Counter[str],
) -> _Value | None:
    code = part(message, obx, 3, 1)
    observation = _TABLES.get(part(message, obx, 3, 3), {}).get(code)
    if observation is None:
        skipped["unknown_code"] += 1
        return None
    if part(message, obx, 11) in _NO_RESULT:
        skipped["no_result"] += 1
        return None
    if observation.quantity is Quantity.ANSWER:
        value: Value = _answer(message, obx, observation)
    else:
        value = _measured(message, obx, observation)
    time_text = part(message, obx, 14) or obr_time
    if not time_text:
        raise Malformed(Refusal.MISSING_FIELD, "time")
    ts_ms = event_ms(time_text)
    check_time(ts_ms, now_ms, max_skew_ms)
    device_id = part(message, obx, 18) or None
    return _Value(observation, code, value, ts_ms, device_id)


def _measured(message: hl7.Message, obx: hl7.Segment, observation: Observation) -> float | bool:
    if not part(message, obx, 5):
        raise Malformed(Refusal.MISSING_FIELD, f"{observation.name} value")
    # One number: not the first of several repetitions or components.
    raw = _number(str(obx[5]), observation.name)
    unit = part(message, obx, 6, 1)
    conversions = UNITS[observation.quantity]
    convert = conversions.get(unit) or conversions.get(part(message, obx, 6, 2))
    if convert is None:
        raise Malformed(Refusal.UNKNOWN_UNIT, f"{observation.name} {_printable(unit)}")
    return converted(observation, convert(raw))


def _answer(message: hl7.Message, obx: hl7.Segment, observation: Observation) -> str:
    """A coded answer's letter: one answer, not the first of several repetitions."""
    if len(obx) > 5 and message.separators[2] in str(obx[5]):
        raise Malformed(Refusal.WRONG_TYPE, observation.name)
    codes = [part(message, obx, 5, i) for i in _ANSWER_CODES]
    texts = [part(message, obx, 5, i) for i in _ANSWER_TEXTS]
    if not any(codes) and not any(texts):
        raise Malformed(Refusal.MISSING_FIELD, f"{observation.name} value")
    letter = loinc.acvpu(codes, texts)
    if letter is None:
        shown = _printable(next(text for text in (*codes, *texts) if text))
        raise Malformed(Refusal.UNKNOWN_ANSWER, f"{observation.name} {shown}")
    return letter


def converted(observation: Observation, value: float) -> float | bool:
    """A measured value in the contract's unit, checked: a number of its field, or (inhaled
    oxygen) NEWS2's air or oxygen."""
    if observation.quantity in OXYGEN:
        return on_oxygen(observation.quantity, value)
    return checked_value(observation.field, value)


def on_oxygen(quantity: Quantity, value: float) -> bool:
    """Supplemental oxygen (True) or air (False), from an inhaled-oxygen value in its unit, to 2
    decimals, within what it can be (``codes.OXYGEN``)."""
    scale = OXYGEN[quantity]
    value = round(value, 2)
    if not scale.low <= value <= scale.high:
        raise Malformed(Refusal.OUT_OF_RANGE, scale.name)
    return value > scale.air


def checked_value(field: str, value: float) -> float:
    """A value in the contract's unit, to 2 decimals, within what a body can show."""
    value = round(value, 2)
    low, high = _RANGES[field]
    if not low <= value <= high:
        raise Malformed(Refusal.OUT_OF_RANGE, field)
    return value


def check_time(ts_ms: int, now_ms: int, max_skew_ms: int) -> None:
    """An event time the stream takes: 1970 to 9999, not ahead of the clock by more than the
    skew allowed."""
    if not EVENT_TIME_RANGE_MS[0] <= ts_ms <= EVENT_TIME_RANGE_MS[1]:
        raise Malformed(Refusal.OUT_OF_RANGE, "time")
    if ts_ms > now_ms + max_skew_ms:
        raise Malformed(Refusal.FUTURE)


def check_blood_pressure(values: dict[str, Value]) -> None:
    """A blood pressure has a systolic and a diastolic, the diastolic not above the systolic."""
    pressures = {name: value for name, value in values.items() if isinstance(value, float)}
    for needed in ("systolic", "diastolic"):
        if needed not in pressures:
            raise Malformed(Refusal.MISSING_FIELD, needed)
    if pressures["diastolic"] > pressures["systolic"]:
        raise Malformed(Refusal.OUT_OF_RANGE, "diastolic above systolic")


def _printable(text: str) -> str:
    """A value of the message quoted in a reason, cut to what cannot upset a header or an ACK."""
    return re.sub(r"[^A-Za-z0-9_\[\]{}/%.-]", "?", text[:32]) or "(none)"


def _combine(patient_id: str, values: list[_Value], skipped: Counter[str]) -> list[GatewayReading]:
    """One reading per signal and time: per field the preferred code, and of several blood
    pressure sources the preferred complete one. Inhaled oxygen without an SpO2 is no reading."""
    groups: dict[tuple[Signal, int], dict[str, dict[str, _Value]]] = {}
    for value in values:
        key = (value.observation.signal, value.ts_ms)
        fields = groups.setdefault(key, {}).setdefault(value.observation.source, {})
        held = fields.get(value.observation.field)
        if held is not None:
            skipped["superseded"] += 1
        if held is None or _PREFERENCE[value.code] < _PREFERENCE[held.code]:
            fields[value.observation.field] = value
    result = []
    for (signal, ts_ms), sources in groups.items():
        ranked = sorted(sources.values(), key=lambda f: (not _complete(signal, f), _rank(f)))
        if len(ranked) > 1:
            skipped["superseded"] += sum(len(fields) for fields in ranked[1:])
        if signal is Signal.SPO2 and "spo2" not in ranked[0]:
            skipped["oxygen_alone"] += len(ranked[0])  # on_oxygen is a field of an SpO2 reading
            continue
        result.append(_reading(signal, patient_id, ts_ms, ranked[0]))
    return result


def _complete(signal: Signal, fields: dict[str, _Value]) -> bool:
    return signal is not Signal.BLOOD_PRESSURE or {"systolic", "diastolic"} <= fields.keys()


def _rank(fields: dict[str, _Value]) -> int:
    return min(_PREFERENCE[value.code] for value in fields.values())


def _reading(
    signal: Signal, patient_id: str, ts_ms: int, fields: dict[str, _Value]
) -> GatewayReading:
    values = {name: value.value for name, value in fields.items()}
    if signal is Signal.BLOOD_PRESSURE:
        check_blood_pressure(values)
    preferred = min(fields.values(), key=lambda value: _PREFERENCE[value.code])
    return GatewayReading(signal, patient_id, ts_ms, values, preferred.device_id)
