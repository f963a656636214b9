"""FHIR R4 vital-sign Observations (and Bundles of them) -> readings of the contract, as a pure
function. ``readings(raw, kind, now_ms, max_skew_ms)`` reads the bytes of one request body and
gives its readings, or refuses the whole body (``Refused``: a reason and where, as a FHIRPath).

- validation: JSON as the API reads it (``bodies.parse_object``: no duplicate keys, finite
  numbers), then the FHIR model (``fhir.resources``, its R4B models: R4B changed nothing an
  Observation or a Bundle of them uses; the package has no R4 models of its own);
- a Bundle (any ``type``) is all or nothing: every entry is an Observation and every mapped
  entry is valid, else the whole Bundle is refused, naming the entry;
- code: the first coding of ``Observation.code`` with system LOINC in ``loinc.OBSERVATIONS``;
  a blood pressure panel (85354-9) is read from its components, and an SpO2's inhaled-oxygen
  components (3150-0, 3151-8) are read with it. Other codes are skipped and counted
  (``unknown_code``), as are panel and SpO2 components of other codes;
- status: final, amended, corrected and preliminary are readings (a monitor's values are
  often sent preliminary, unverified, and are what an alert is for); registered, cancelled,
  entered-in-error and unknown carry no reading and are skipped (``no_result``);
- value: ``valueQuantity.value`` in a UCUM unit (``code``, else ``unit``; ``system``, when
  given, UCUM) converted to the contract's (``codes.UNITS``); another unit is refused. A level of
  responsiveness (67775-7) is ``valueCodeableConcept`` instead: its codings' codes, else their
  displays or its text, read as ``loinc.acvpu`` reads them; another answer is refused
  (``unknown_answer``);
- inhaled oxygen (3150-0, 3151-8) sets ``on_oxygen`` of the SpO2 reading of its patient and
  time (``codes.OXYGEN``: above 21 % O2 or 0 L/min is oxygen), as a field of that reading;
  without an SpO2 there it is skipped (``oxygen_alone``);
- patient: ``subject.reference`` ``Patient/<id>``, the id as the contract's patient id;
- event time: ``effectiveDateTime``, ``effectiveInstant`` or ``effectivePeriod.start``, a date
  and time with a zone (FHIR requires one with a time; a date alone is no reading's time);
- device: ``device.reference`` ``Device/<id>``, when the id fits the id pattern;
- one reading per patient, signal and time: of the same field twice, the first is kept and the
  others counted (``superseded``); a blood pressure needs a systolic and a diastolic (a mean
  arterial pressure alone, without a panel at its time, is skipped: ``mean_alone``);
- values and times checked as the HL7 gateway checks them (``oru.checked_value``,
  ``oru.check_time``, ``oru.check_blood_pressure``).
A body whose Observations are all skipped is refused (``no_vital_sign``, 422): nothing would be
written and the sender should know.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.observation import Observation, ObservationComponent
from fhir.resources.R4B.quantity import Quantity
from pydantic import ValidationError

from vitalwatch.contracts.readings import ON_OXYGEN_FIELD, PATIENT_ID_PATTERN, Signal
from vitalwatch.gateway import codes, loinc
from vitalwatch.gateway.oru import (
    GatewayReading,
    Malformed,
    Mapped,
    Value,
    check_blood_pressure,
    check_time,
    converted,
)
from vitalwatch.notify.api.bodies import BadRequest, parse_object

Kind = Literal["Observation", "Bundle"]
ACCEPTED_STATUS = frozenset({"final", "amended", "corrected", "preliminary"})
NO_RESULT_STATUS = frozenset({"registered", "cancelled", "entered-in-error", "unknown"})
_ID = re.compile(PATIENT_ID_PATTERN)
_PATIENT = re.compile(r"Patient/(.*)", re.DOTALL)
_DEVICE = re.compile(r"Device/(.*)", re.DOTALL)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Refused(Exception):
    """The body is refused whole. ``reason`` is ``kind[:detail]`` (the dead letter's reason
    header), ``where`` a FHIRPath to the element at fault, ``status`` the HTTP answer."""

    def __init__(self, kind: str, detail: str = "", where: str = "", status: int = 400) -> None:
        self.kind = kind
        self.reason = f"{kind}:{detail}" if detail else kind
        self.where = where
        self.status = status
        super().__init__(f"{self.reason} at {where}" if where else self.reason)


def _refused(exc: Malformed, where: str) -> Refused:
    """The HL7 mapping's refusal of a value, as this one's: the same reason, with the place."""
    _, _, detail = exc.reason.partition(":")
    return Refused(exc.refusal.value, detail, where)


@dataclass(frozen=True)
class _Value:
    signal: Signal
    field: str
    value: Value
    patient_id: str
    ts_ms: int
    device_id: str | None
    where: str


def readings(raw: bytes, kind: Kind, now_ms: int, max_skew_ms: int) -> Mapped:
    """The readings of one body (an Observation or a Bundle); ``Refused`` if any is unusable."""
    try:
        document = parse_object(raw)
    except BadRequest as exc:
        raise Refused("not_json", _detail(str(exc))) from None
    if document.get("resourceType") != kind:
        raise Refused("not_fhir", f"resourceType must be {kind}", kind)
    skipped: Counter[str] = Counter()
    values: list[_Value] = []
    for where, observation in _observations(document, kind):
        values += _values(observation, where, now_ms, max_skew_ms, skipped)
    found = _combine(values, skipped)
    if not found:
        raise Refused("no_vital_sign", "no Observation of a code and status read here", kind, 422)
    return Mapped(found, skipped)


def _observations(document: dict[str, Any], kind: Kind) -> list[tuple[str, Observation]]:
    try:
        if kind == "Observation":
            return [("Observation", Observation.model_validate(document))]
        bundle = Bundle.model_validate(document)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise Refused("not_fhir", _detail(error["msg"]), _path(kind, error["loc"])) from None
    except Exception as exc:  # the models raise other kinds on some bad input (a null type)
        raise Refused("not_fhir", type(exc).__name__, kind) from None
    found = []
    for index, entry in enumerate(bundle.entry or []):
        where = f"Bundle.entry[{index}].resource"
        if not isinstance(entry.resource, Observation):
            raise Refused("not_fhir", "every entry must be an Observation", where)
        found.append((where, entry.resource))
    return found


def _path(kind: str, loc: tuple[int | str, ...]) -> str:
    path = kind
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _detail(text: str) -> str:
    """Text of the request or of the validator quoted in a reason: one short header line."""
    return re.sub(r"[^\x20-\x7e]", "?", text)[:120]


def _values(
    observation: Observation, where: str, now_ms: int, max_skew_ms: int, skipped: Counter[str]
) -> list[_Value]:
    status = str(observation.status)
    if status in NO_RESULT_STATUS:
        skipped["no_result"] += 1
        return []
    if status not in ACCEPTED_STATUS:
        raise Refused("wrong_type", "status", f"{where}.status")
    parts = _parts(observation, where, skipped)
    if not parts:
        return []
    patient_id = _patient_id(observation, where)
    ts_ms = _event_ms(observation, where, now_ms, max_skew_ms)
    device_id = _device_id(observation)
    found = []
    for part_where, meaning, element in parts:
        value = _value(meaning, element, part_where)
        found.append(
            _Value(meaning.signal, meaning.field, value, patient_id, ts_ms, device_id, where)
        )
    return found


# Where it is, what it means, and the element holding its value[x].
_Part = tuple[str, codes.Observation, Observation | ObservationComponent]


def _parts(observation: Observation, where: str, skipped: Counter[str]) -> list[_Part]:
    """The observed values to read: the Observation's own (with an SpO2's inhaled-oxygen
    components), or a panel's components."""
    if _has_code(observation.code, loinc.BLOOD_PRESSURE_PANEL):
        parts = _components(observation, where, _blood_pressure, skipped)
        if not parts:
            raise Refused("missing_field", "blood pressure components", f"{where}.component")
        return parts
    meaning = _meaning(observation)
    if meaning is None:
        skipped["unknown_code"] += 1
        return []
    parts = [(where, meaning, observation)]
    if meaning.field == "spo2":
        parts += _components(observation, where, _inhaled_oxygen, skipped)
    return parts


def _components(
    observation: Observation,
    where: str,
    wanted: Callable[[codes.Observation], bool],
    skipped: Counter[str],
) -> list[_Part]:
    """The components of the codes ``wanted``; the others are skipped (``unknown_code``)."""
    parts: list[_Part] = []
    for index, component in enumerate(observation.component or []):
        meaning = _meaning(component)
        if meaning is None or not wanted(meaning):
            skipped["unknown_code"] += 1
            continue
        parts.append((f"{where}.component[{index}]", meaning, component))
    return parts


def _blood_pressure(meaning: codes.Observation) -> bool:
    return meaning.signal is Signal.BLOOD_PRESSURE


def _inhaled_oxygen(meaning: codes.Observation) -> bool:
    return meaning.field == ON_OXYGEN_FIELD


def _has_code(concept: Any, code: str) -> bool:
    return any(c.system == loinc.LOINC and c.code == code for c in concept.coding or [])


def _meaning(element: Observation | ObservationComponent) -> codes.Observation | None:
    for coding in element.code.coding or []:
        if coding.system == loinc.LOINC and coding.code in loinc.OBSERVATIONS:
            return loinc.OBSERVATIONS[str(coding.code)]
    return None


def _value(
    meaning: codes.Observation, element: Observation | ObservationComponent, where: str
) -> Value:
    if meaning.quantity is codes.Quantity.ANSWER:
        return _answer(meaning, element.valueCodeableConcept, f"{where}.valueCodeableConcept")
    return _quantity(meaning, element.valueQuantity, f"{where}.valueQuantity")


def _answer(meaning: codes.Observation, concept: CodeableConcept | None, where: str) -> str:
    codings = (concept.coding or []) if concept is not None else []
    found = [str(coding.code) for coding in codings if coding.code is not None]
    texts = [str(coding.display) for coding in codings if coding.display is not None]
    if concept is not None and concept.text is not None:
        texts.append(str(concept.text))
    if not found and not texts:
        raise Refused("missing_field", f"{meaning.name} value", where)
    letter = loinc.acvpu(found, texts)
    if letter is None:
        shown = _detail(next(iter(found + texts)))
        raise Refused("unknown_answer", f"{meaning.name} {shown}", where)
    return letter


def _quantity(meaning: codes.Observation, quantity: Quantity | None, where: str) -> float | bool:
    if quantity is None or quantity.value is None:
        raise Refused("missing_field", f"{meaning.name} value", where)
    raw = float(quantity.value) if isinstance(quantity.value, Decimal | int | float) else math.nan
    if not math.isfinite(raw):
        raise Refused("wrong_type", meaning.name, f"{where}.value")
    unit = quantity.code if quantity.code is not None else quantity.unit
    conversions = codes.UNITS[meaning.quantity]
    convert = conversions.get(str(unit)) if unit is not None else None
    if convert is None or (quantity.system is not None and quantity.system != loinc.UCUM):
        shown = _detail(str(unit)) if unit is not None else "(none)"
        raise Refused("unknown_unit", f"{meaning.name} {shown}", f"{where}.code")
    try:
        return converted(meaning, convert(raw))
    except Malformed as exc:
        raise _refused(exc, f"{where}.value") from None


def _patient_id(observation: Observation, where: str) -> str:
    reference = observation.subject.reference if observation.subject is not None else None
    if reference is None:
        raise Refused("missing_field", "subject", f"{where}.subject.reference")
    found = _PATIENT.fullmatch(str(reference))
    if found is None or _ID.match(found.group(1)) is None:
        raise Refused("bad_patient_id", where=f"{where}.subject.reference")
    return found.group(1)


def _event_ms(observation: Observation, where: str, now_ms: int, max_skew_ms: int) -> int:
    moment: object = observation.effectiveDateTime or observation.effectiveInstant
    path = f"{where}.effectiveDateTime"
    if moment is None and observation.effectivePeriod is not None:
        moment, path = observation.effectivePeriod.start, f"{where}.effectivePeriod.start"
    if moment is None:
        raise Refused("missing_field", "time", f"{where}.effective")
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise Refused("wrong_type", "time: a date and time with a zone", path)
    ts_ms = (moment - _EPOCH) // timedelta(milliseconds=1)
    try:
        check_time(ts_ms, now_ms, max_skew_ms)
    except Malformed as exc:
        raise _refused(exc, path) from None
    return ts_ms


def _device_id(observation: Observation) -> str | None:
    reference = observation.device.reference if observation.device is not None else None
    found = _DEVICE.fullmatch(str(reference)) if reference is not None else None
    return found.group(1) if found is not None and _ID.match(found.group(1)) else None


def _combine(values: list[_Value], skipped: Counter[str]) -> list[GatewayReading]:
    """One reading per patient, signal and time; a field given twice: the first is kept.
    Inhaled oxygen without an SpO2 is no reading."""
    groups: dict[tuple[str, Signal, int], dict[str, _Value]] = {}
    for value in values:
        fields = groups.setdefault((value.patient_id, value.signal, value.ts_ms), {})
        if value.field in fields:
            skipped["superseded"] += 1
        else:
            fields[value.field] = value
    result = []
    for (patient_id, signal, ts_ms), fields in groups.items():
        numbers = {name: value.value for name, value in fields.items()}
        if signal is Signal.BLOOD_PRESSURE and numbers.keys() == {"mean"}:
            skipped["mean_alone"] += 1  # a mean arterial pressure without its panel
            continue
        if signal is Signal.SPO2 and "spo2" not in numbers:
            skipped["oxygen_alone"] += len(numbers)  # on_oxygen is a field of an SpO2 reading
            continue
        if signal is Signal.BLOOD_PRESSURE:
            try:
                check_blood_pressure(numbers)
            except Malformed as exc:
                where = next(iter(fields.values())).where
                raise _refused(exc, where) from None
        first = next(iter(fields.values()))
        result.append(GatewayReading(signal, patient_id, ts_ms, numbers, first.device_id))
    return result
