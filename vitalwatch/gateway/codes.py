"""The IEEE 11073-10101 (MDC) observation and unit codes the HL7 gateway reads, as IHE PCD-01
devices send them in OBX-3 and OBX-6, and how each maps to a reading.

A code is the 32-bit MDC code: partition x 65536 + term code (partition 2, SCADA, for
observations: MDC_ECG_HEART_RATE is 2 x 65536 + 16770 = 147842; partition 4, DIM, for units:
MDC_DIM_MMHG is 4 x 65536 + 3872 = 266016). Sources: IEEE 11073-10101 term codes as the
Rosetta terminology mapping (NIST RTMMS) and vendors' PCD-01 guides publish them (GE B40 HL7
reference, Mindray HL7 2.6 programmer's guide tables 15-20, Philips data export guide);
examples in IHE PCD Technical Framework vol. 2, PCD-01 "Communicate PCD Data".

Several codes of one signal at one time (ECG heart rate and oximeter pulse rate, an arterial
line and a cuff) give one reading: the code listed first wins, the others are counted as
superseded. Listed first: the more direct measurement (ECG before pulse; arterial line before
cuff; core before peripheral temperature sites).

Inspired oxygen (NEWS2's "air or oxygen") is no reading of its own: it sets ``on_oxygen`` of the
SpO2 reading of its time (``OXYGEN``: above 21 % O2, or any flow, is supplemental oxygen). Its
MDC terms, as ISO/IEEE 11073-10101 (code system ``urn:iso:std:iso:11073:10101``, version
2024-12-05) defines them to a terminology server's ``$lookup``: 152196 MDC_CONC_AWAY_O2_INSP
("oxygen in airway gas measured during inspiration", FiO2 at the airway), 153144
MDC_CONC_GASDLV_O2_INSP (the same in the circuit conducting gas to the patient, a ventilator's
FiO2) and 151920 MDC_VENT_CONC_AWAY_O2_INSP (the term 153144 replaced, still sent by older
ventilators); devices' drivers publish 152196 as FiO2 in % (MDC_DIM_PERCENT). The 10101
nomenclature has no term for the flow of supplemental oxygen a ward gives (MDC_FLOW_O2_FG is an
anaesthesia machine's fresh-gas flow), so a flow comes by LOINC only (``loinc``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from vitalwatch.contracts.readings import ON_OXYGEN_FIELD, Signal


class Quantity(str, Enum):
    PULSE = "pulse"  # beats per minute
    BREATHING = "breathing"  # breaths per minute
    PRESSURE = "pressure"  # mmHg
    PERCENT = "percent"
    TEMPERATURE = "temperature"  # degC
    INSPIRED_O2 = "inspired O2"  # % O2 of the inhaled gas (FiO2)
    O2_FLOW = "O2 flow"  # L/min of supplemental oxygen
    ANSWER = "answer"  # a coded answer (ACVPU), no unit


@dataclass(frozen=True)
class Observation:
    """What one OBX-3 code means: which reading, which of its fields, in which quantity."""

    name: str  # the MDC reference id
    signal: Signal
    field: str
    quantity: Quantity
    # Blood pressure: systolic, diastolic and mean pair only within one source (a cuff
    # reading's systolic with an arterial line's diastolic is no reading).
    source: str = ""


def _code(partition: int, term: int) -> str:
    return str(partition * 65536 + term)


def _scada(term: int) -> str:
    return _code(2, term)


_HR, _BP = Signal.HEART_RATE, Signal.BLOOD_PRESSURE
_PULSE, _PRESSURE = Quantity.PULSE, Quantity.PRESSURE


def _bp(prefix: str, first_term: int, source: str) -> dict[str, Observation]:
    parts = (("SYS", "systolic"), ("DIA", "diastolic"), ("MEAN", "mean"))
    return {
        _scada(first_term + i): Observation(f"{prefix}_{suffix}", _BP, field, _PRESSURE, source)
        for i, (suffix, field) in enumerate(parts)
    }


def _temperature(name: str, code: str) -> tuple[str, Observation]:
    return code, Observation(name, Signal.TEMPERATURE, "celsius", Quantity.TEMPERATURE)


def _respiration(name: str, term: int) -> tuple[str, Observation]:
    return _scada(term), Observation(name, Signal.RESPIRATION, "rate", Quantity.BREATHING)


def _inspired_o2(name: str, term: int) -> tuple[str, Observation]:
    return _scada(term), Observation(name, Signal.SPO2, ON_OXYGEN_FIELD, Quantity.INSPIRED_O2)


# OBX-3 code (coding system MDC) -> observation, in order of preference per signal.
OBSERVATIONS: dict[str, Observation] = {
    _scada(16770): Observation("MDC_ECG_HEART_RATE", _HR, "bpm", _PULSE),  # 147842
    _scada(18458): Observation("MDC_PULS_OXIM_PULS_RATE", _HR, "bpm", _PULSE),  # 149530
    _scada(18450): Observation("MDC_BLD_PULS_RATE_INV", _HR, "bpm", _PULSE),  # 149522
    _scada(18474): Observation("MDC_PULS_RATE_NON_INV", _HR, "bpm", _PULSE),  # 149546
    _scada(18442): Observation("MDC_PULS_RATE", _HR, "bpm", _PULSE),  # 149514
    **_bp("MDC_PRESS_BLD_ART_ABP", 18965, "abp"),  # 150037-150039
    **_bp("MDC_PRESS_BLD_ART", 18961, "art"),  # 150033-150035
    **_bp("MDC_PRESS_BLD_NONINV", 18949, "nibp"),  # 150021-150023
    **_bp("MDC_PRESS_CUFF", 19229, "cuff"),  # 150301-150303
    _scada(19384): Observation(
        "MDC_PULS_OXIM_SAT_O2", Signal.SPO2, "spo2", Quantity.PERCENT
    ),  # 150456
    # Inspired oxygen: on_oxygen of the SpO2 reading at its time (after SpO2: the reading's
    # device is the oximeter's). At the airway first, then in the circuit.
    **dict(
        (
            _inspired_o2("MDC_CONC_AWAY_O2_INSP", 21124),  # 152196
            _inspired_o2("MDC_CONC_GASDLV_O2_INSP", 22072),  # 153144
            _inspired_o2("MDC_VENT_CONC_AWAY_O2_INSP", 20848),  # 151920, replaced by 153144
        )
    ),
    **dict(
        (
            _respiration("MDC_RESP_RATE", 20490),  # 151562
            _respiration("MDC_TTHOR_RESP_RATE", 20506),  # 151578, ECG impedance
            _respiration("MDC_CO2_RESP_RATE", 20522),  # 151594, capnography
            _respiration("MDC_AWAY_RESP_RATE", 20498),  # 151570, airway flow
        )
    ),
    # Body temperature, core sites first. Skin, airway and room temperatures are no body
    # temperature (NEWS2 scores a core or near-core one) and are not mapped.
    **dict(
        (
            _temperature("MDC_TEMP_BLD", _scada(57364)),  # 188436, pulmonary artery
            _temperature("MDC_TEMP_CORE", _scada(19296)),  # 150368
            _temperature("MDC_TEMP_ESOPH", _scada(19300)),  # 150372
            _temperature("MDC_TEMP_NASOPH", _scada(19308)),  # 150380
            _temperature("MDC_TEMP_FOLEY", _scada(19276)),  # 150348, bladder
            _temperature("MDC_TEMP_RECT", _scada(57348)),  # 188420
            _temperature("MDC_TEMP_BODY", _scada(19292)),  # 150364
            _temperature("MDC_TEMP_TYMP", _scada(19320)),  # 150392
            _temperature("MDC_TEMP_EAR", _scada(57356)),  # 188428
            _temperature("MDC_TEMP_ORAL", _scada(57352)),  # 188424
            _temperature("MDC_TEMP_AXILLA", _scada(57380)),  # 188452
            _temperature("MDC_TEMP", _scada(19272)),  # 150344, site not given
        )
    ),
}


Conversion = Callable[[float], float]


def _identity(value: float) -> float:
    return value


def _kpa_to_mmhg(value: float) -> float:
    return value * 7.500_615_75  # 1 kPa = 1000 / 133.322 387 415 mmHg


def _fahrenheit_to_celsius(value: float) -> float:
    return (value - 32.0) * 5.0 / 9.0


def _fraction_to_percent(value: float) -> float:
    return value * 100.0


def _per_thousand(value: float) -> float:
    return value / 1000.0


def _unit(
    term: int, name: str, ucum: tuple[str, ...], convert: Conversion = _identity
) -> dict[str, Conversion]:
    """A unit by its MDC code (partition 4), its MDC reference id and its UCUM codes."""
    return {_code(4, term): convert, name: convert, **dict.fromkeys(ucum, convert)}


# OBX-6 unit (component 1, else 2), as its MDC code, its MDC reference id or its UCUM code ->
# conversion to the contract's unit, per quantity. Any other unit is refused (``unknown_unit``).
UNITS: dict[Quantity, dict[str, Conversion]] = {
    Quantity.PULSE: _unit(2720, "MDC_DIM_BEAT_PER_MIN", ("/min", "{beats}/min")),  # 264864
    Quantity.BREATHING: _unit(2784, "MDC_DIM_RESP_PER_MIN", ("/min", "{breaths}/min")),  # 264928
    Quantity.PRESSURE: {
        **_unit(3872, "MDC_DIM_MMHG", ("mm[Hg]",)),  # 266016
        **_unit(3843, "MDC_DIM_KILO_PASCAL", ("kPa",), _kpa_to_mmhg),  # 265987
    },
    Quantity.PERCENT: _unit(544, "MDC_DIM_PERCENT", ("%",)),  # 262688
    Quantity.TEMPERATURE: {
        **_unit(6048, "MDC_DIM_DEGC", ("Cel",)),  # 268192
        **_unit(4416, "MDC_DIM_FAHR", ("[degF]",), _fahrenheit_to_celsius),  # 266560
    },
    # FiO2 in %, or as a fraction (UCUM "1": 0.21 is 21 %).
    Quantity.INSPIRED_O2: {**_unit(544, "MDC_DIM_PERCENT", ("%",)), "1": _fraction_to_percent},
    # UCUM only (no MDC term carries an oxygen flow, above); "l" and "L" are both the litre.
    Quantity.O2_FLOW: {
        **dict.fromkeys(("L/min", "l/min"), _identity),
        **dict.fromkeys(("mL/min", "ml/min"), _per_thousand),
    },
}


@dataclass(frozen=True)
class Oxygen:
    """How an inhaled-oxygen value, in its unit above, is read as NEWS2's air or oxygen."""

    name: str  # in a refusal's reason
    low: float  # what it can be at all (not limits of care): outside, the value is refused
    high: float
    air: float  # at or below: air (on_oxygen false); above: supplemental oxygen


# Below 10 % O2 nobody breathes for long, so a lower FiO2 is a fault, such as a fraction sent as
# a percentage (0.4 %), and is refused rather than read as air. Room air is 20.9 % O2 and reads
# 21 %. High-flow nasal oxygen reaches 60-80 L/min.
OXYGEN: dict[Quantity, Oxygen] = {
    Quantity.INSPIRED_O2: Oxygen("fio2", 10.0, 100.0, 21.0),
    Quantity.O2_FLOW: Oxygen("o2_flow", 0.0, 100.0, 0.0),
}
