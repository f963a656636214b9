"""The LOINC codes the FHIR endpoint reads, as the FHIR R4 vital-signs profile codes them, and
how each maps to a reading of the contract (the same ``codes.Observation`` as the HL7 table).

A blood pressure is a panel (85354-9) whose components are the systolic (8480-6), diastolic
(8462-4) and, optionally, mean (8478-0) pressures; a mean arterial pressure may also come as an
Observation of its own at the panel's time, and then joins it. SpO2 is coded 2708-6 (oxygen
saturation in arterial blood, the profile's code) or 59408-5 (the same by pulse oximetry, which
the profile adds as a second coding): the first LOINC coding of the table wins.

Not mapped yet (skipped, counted as ``unknown_code``): inhaled oxygen (3150-0, 3151-8), so
``on_oxygen`` is never set, and the level of responsiveness (67775-7, ACVPU), whose answers
are LOINC answer codes to be agreed with the sending systems first.
"""

from __future__ import annotations

from vitalwatch.contracts.readings import Signal
from vitalwatch.gateway.codes import Observation, Quantity

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
BLOOD_PRESSURE_PANEL = "85354-9"

_BP = Signal.BLOOD_PRESSURE

# Observation.code (or a panel component's code), system LOINC -> what it is.
OBSERVATIONS: dict[str, Observation] = {
    "8867-4": Observation("heart rate", Signal.HEART_RATE, "bpm", Quantity.PULSE),
    "8480-6": Observation("systolic blood pressure", _BP, "systolic", Quantity.PRESSURE),
    "8462-4": Observation("diastolic blood pressure", _BP, "diastolic", Quantity.PRESSURE),
    "8478-0": Observation("mean blood pressure", _BP, "mean", Quantity.PRESSURE),
    "59408-5": Observation("oxygen saturation", Signal.SPO2, "spo2", Quantity.PERCENT),
    "2708-6": Observation("oxygen saturation", Signal.SPO2, "spo2", Quantity.PERCENT),
    "9279-1": Observation("respiratory rate", Signal.RESPIRATION, "rate", Quantity.BREATHING),
    "8310-5": Observation("body temperature", Signal.TEMPERATURE, "celsius", Quantity.TEMPERATURE),
}
