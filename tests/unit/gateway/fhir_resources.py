"""FHIR R4 vital-sign Observations and Bundles as senders write them, for the FHIR tests."""

from __future__ import annotations

import json
from typing import Any

from tests.unit.gateway.vital_signs import TYPICAL, VitalSigns

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
TIME = "2026-11-25T14:00:00.250Z"
TIME_MS = 1_795_615_200_250


def quantity(value: Any, unit: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {"value": value, "system": UCUM}
    if unit is not None:
        result.update(unit=unit, code=unit)
    return result


def observation(
    code: str | None = "8867-4",
    value: Any = 88,
    unit: str | None = "/min",
    patient: str | None = "P-0042",
    time: str | None = TIME,
    status: str = "final",
    **extra: Any,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": status,
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                  "observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": code}]} if code else {"text": "x"},
    }  # fmt: skip
    if patient is not None:
        resource["subject"] = {"reference": f"Patient/{patient}"}
    if time is not None:
        resource["effectiveDateTime"] = time
    if value is not None:
        resource["valueQuantity"] = quantity(value, unit)
    resource.update(extra)
    return resource


def blood_pressure(
    systolic: Any = 118, diastolic: Any = 76, mean: Any = None, unit: str = "mm[Hg]", **extra: Any
) -> dict[str, Any]:
    components = [
        {"code": {"coding": [{"system": LOINC, "code": code}]}, "valueQuantity": quantity(v, unit)}
        for code, v in (("8480-6", systolic), ("8462-4", diastolic), ("8478-0", mean))
        if v is not None
    ]
    return observation("85354-9", value=None, component=components, **extra)


def coding(code: str, display: str | None = None, system: str = LOINC) -> dict[str, Any]:
    result = {"system": system, "code": code}
    if display is not None:
        result["display"] = display
    return result


def consciousness(answer: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    """A level of responsiveness (LOINC 67775-7) answered ``answer``, a CodeableConcept."""
    if answer is not None:
        extra["valueCodeableConcept"] = answer
    return observation("67775-7", value=None, **extra)


def spo2(value: Any = 95, *components: tuple[str, Any, str], **extra: Any) -> dict[str, Any]:
    """An SpO2 (59408-5) with components (code, value, unit), as the US Core Pulse Oximetry
    Profile puts inhaled oxygen: 3151-8 in L/min, 3150-0 in %."""
    if components:
        extra["component"] = [
            {"code": {"coding": [coding(code)]}, "valueQuantity": quantity(v, unit)}
            for code, v, unit in components
        ]
    return observation("59408-5", value, "%", **extra)


def bundle(*resources: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    entries = [
        {"resource": r, "request": {"method": "POST", "url": "Observation"}} for r in resources
    ]
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


def raw(resource: dict[str, Any]) -> bytes:
    return json.dumps(resource).encode()


def vital_signs(
    patient: str = "P-0042", time: str = TIME, values: VitalSigns = TYPICAL
) -> dict[str, Any]:
    """A monitor's observation set (``VitalSigns``) as a Bundle, as ``messages.vitals`` sends
    it over HL7: pulse, blood pressure panel, SpO2 (pulse oximetry), respiratory rate, body
    temperature; a value None: no Observation (no panel without a systolic)."""
    subject = {"patient": patient, "time": time}
    quantities = (
        ("8867-4", values.pulse, "/min"), ("59408-5", values.spo2, "%"),
        ("9279-1", values.respiration, "/min"), ("8310-5", values.celsius, "Cel"),
    )  # fmt: skip
    measured = [
        observation(code, v, unit, **subject) for code, v, unit in quantities if v is not None
    ]
    if values.systolic is not None:
        measured.append(blood_pressure(values.systolic, values.diastolic, values.mean, **subject))
    return bundle(*measured)
