"""The LOINC codes the FHIR endpoint reads, as the FHIR R4 vital-signs profile codes them, and
how each maps to a reading of the contract (the same ``codes.Observation`` as the HL7 table).

A blood pressure is a panel (85354-9) whose components are the systolic (8480-6), diastolic
(8462-4) and, optionally, mean (8478-0) pressures; a mean arterial pressure may also come as an
Observation of its own at the panel's time, and then joins it. SpO2 is coded 2708-6 (oxygen
saturation in arterial blood, the profile's code) or 59408-5 (the same by pulse oximetry, which
the profile adds as a second coding): the first LOINC coding of the table wins.

NEWS2's "air or oxygen" is ``on_oxygen`` of the SpO2 reading of the same patient and time, read
from inhaled oxygen: 3150-0 "Inhaled oxygen concentration" (FiO2, % or a fraction: above 21 % is
oxygen) or 3151-8 "Inhaled oxygen flow rate" (L/min: above 0 is oxygen), as Observations of
their own or as components of the SpO2 Observation. The FHIR R4 oxygen saturation profile
(http://hl7.org/fhir/StructureDefinition/oxygensat) requires only its code (2708-6) and a value
in %, no components; the US Core Pulse Oximetry Profile on R4 (US Core 3.1.0 and later,
http://hl7.org/fhir/us/core/StructureDefinition/us-core-pulse-oximetry) slices them: component
FlowRate, code 3151-8, UCUM L/min, and Concentration, code 3150-0, UCUM %; its example
Observation satO2-fiO2 is an SpO2 of 95 % on 6 L/min. Oxygen without an SpO2 at its time has
nothing to set and is skipped (``oxygen_alone``).

NEWS2's level of consciousness is a reading of its own, from 67775-7 "Level of responsiveness"
with a coded answer (``valueCodeableConcept``; ``acvpu`` below). Its LOINC answers are the AVPU
ones that the HL7 CDA EMS Patient Care Report's Level of Responsiveness entry allows (as the
MDHT model of that guide validates them): LA9340-6 Alert, LA17108-4 Verbal, LA17107-6 Painful,
LA9343-0 Unresponsive. The list has no new confusion; HL7 Belgium's patient-monitoring guide
(ACVPU on 67775-7) answers it LA6560-2 "Confused" (an answer of the Glasgow coma score's verbal
list), and so is it read here. The gateway cannot tell new confusion from old: whoever charts C
on an ACVPU scale means new.
"""

from __future__ import annotations

from collections.abc import Iterable

from vitalwatch.contracts.readings import ACVPU_FIELD, ACVPU_LEVELS, ON_OXYGEN_FIELD, Signal
from vitalwatch.gateway.codes import Observation, Quantity

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
BLOOD_PRESSURE_PANEL = "85354-9"

_BP, _SPO2 = Signal.BLOOD_PRESSURE, Signal.SPO2
_INSPIRED = "inhaled oxygen concentration"

# Observation.code (or a panel component's code), system LOINC -> what it is.
OBSERVATIONS: dict[str, Observation] = {
    "8867-4": Observation("heart rate", Signal.HEART_RATE, "bpm", Quantity.PULSE),
    "8480-6": Observation("systolic blood pressure", _BP, "systolic", Quantity.PRESSURE),
    "8462-4": Observation("diastolic blood pressure", _BP, "diastolic", Quantity.PRESSURE),
    "8478-0": Observation("mean blood pressure", _BP, "mean", Quantity.PRESSURE),
    "59408-5": Observation("oxygen saturation", _SPO2, "spo2", Quantity.PERCENT),
    "2708-6": Observation("oxygen saturation", _SPO2, "spo2", Quantity.PERCENT),
    "9279-1": Observation("respiratory rate", Signal.RESPIRATION, "rate", Quantity.BREATHING),
    "8310-5": Observation("body temperature", Signal.TEMPERATURE, "celsius", Quantity.TEMPERATURE),
    "3150-0": Observation(_INSPIRED, _SPO2, ON_OXYGEN_FIELD, Quantity.INSPIRED_O2),
    "3151-8": Observation("inhaled oxygen flow rate", _SPO2, ON_OXYGEN_FIELD, Quantity.O2_FLOW),
    "67775-7": Observation(
        "level of responsiveness", Signal.CONSCIOUSNESS, ACVPU_FIELD, Quantity.ANSWER
    ),
}

# The LOINC codes the HL7 gateway reads too (OBX-3 coding system LN): what a nurse charts rather
# than a monitor measures, which PCD-01's MDC terms do not (or, for a flow, cannot) carry.
HL7_CODES = ("3150-0", "3151-8", "67775-7")

# Level of responsiveness: LOINC answer code -> the contract's letter (sources above).
ACVPU_ANSWERS: dict[str, str] = {
    "LA9340-6": "A",
    "LA6560-2": "C",
    "LA17108-4": "V",
    "LA17107-6": "P",
    "LA9343-0": "U",
}
# An answer's text (display, or what a system that does not code it writes), in any case ->
# letter: NEWS2's words, the LOINC answers' displays, and "responds to" as AVPU is often spelt.
ACVPU_TEXTS: dict[str, str] = {
    **dict.fromkeys(("alert",), "A"),
    **dict.fromkeys(("confusion", "new confusion", "confused"), "C"),
    **dict.fromkeys(("voice", "verbal", "responds to voice"), "V"),
    **dict.fromkeys(("pain", "painful", "responds to pain"), "P"),
    **dict.fromkeys(("unresponsive",), "U"),
}


def acvpu(codes: Iterable[str], texts: Iterable[str]) -> str | None:
    """The ACVPU letter of a coded answer, or None if it is none of them: the first of ``codes``
    that is a LOINC answer code or a letter itself (A, C, V, P, U, as local ACVPU code systems
    code them), else the first of ``texts`` that names one."""
    for code in codes:
        if code in ACVPU_ANSWERS:
            return ACVPU_ANSWERS[code]
        if code in ACVPU_LEVELS:
            return code
    for text in texts:
        letter = ACVPU_TEXTS.get(" ".join(text.casefold().split()))
        if letter is not None:
            return letter
    return None
