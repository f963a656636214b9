"""ORU^R01 -> readings: codes, units, times, and every way a message is refused."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.unit.gateway.messages import (
    FIO2,
    HR,
    LN_FIO2,
    LN_O2_FLOW,
    NIBP_DIA,
    NIBP_MEAN,
    NIBP_SYS,
    RESP,
    SPO2,
    TEMP,
    Obx,
    acvpu,
    obx,
    oru,
    vitals,
)
from vitalwatch.contracts.readings import Signal
from vitalwatch.gateway.oru import Malformed, Mapped, NotOruR01, event_ms, parse, readings

NOW_MS = int(datetime(2026, 11, 25, 14, 0, 30, tzinfo=timezone.utc).timestamp() * 1000)
AT_MS = int(datetime(2026, 11, 25, 14, 0, 0, tzinfo=timezone.utc).timestamp() * 1000)
SKEW_MS = 30_000
MMHG, KPA = "266016^MDC_DIM_MMHG^MDC", "265987^MDC_DIM_KILO_PASCAL^MDC"
PER_MIN = "264864^MDC_DIM_BEAT_PER_MIN^MDC"


def mapped(message: bytes) -> Mapped:
    return readings(parse(message), NOW_MS, SKEW_MS)


def refusal(message: bytes) -> str:
    with pytest.raises(Malformed) as raised:
        mapped(message)
    return raised.value.reason


def one(kind: tuple[str, str, str], value: object, **extra: str) -> dict[str, float]:
    (reading,) = mapped(oru([obx(kind, value, **extra)])).readings
    return reading.values


def test_a_pcd01_message_gives_one_reading_per_signal() -> None:
    result = mapped(vitals())
    got = {r.signal: (r.patient_id, r.ts_ms, r.values) for r in result.readings}
    assert got == {
        Signal.HEART_RATE: ("P-0042", AT_MS, {"bpm": 88.0}),
        Signal.BLOOD_PRESSURE: ("P-0042", AT_MS,
                                {"systolic": 118.0, "diastolic": 76.0, "mean": 90.0}),
        Signal.SPO2: ("P-0042", AT_MS, {"spo2": 97.0}),
        Signal.RESPIRATION: ("P-0042", AT_MS, {"rate": 16.0}),
        Signal.TEMPERATURE: ("P-0042", AT_MS, {"celsius": 37.2}),
    }  # fmt: skip
    assert result.skipped == {}


# The PCD-01 codes (IEEE 11073-10101), written out here rather than taken from the table.
CODES = [
    ("147842", "MDC_ECG_HEART_RATE", Signal.HEART_RATE, "bpm", PER_MIN),
    ("149530", "MDC_PULS_OXIM_PULS_RATE", Signal.HEART_RATE, "bpm", PER_MIN),
    ("149514", "MDC_PULS_RATE", Signal.HEART_RATE, "bpm", PER_MIN),
    ("149546", "MDC_PULS_RATE_NON_INV", Signal.HEART_RATE, "bpm", PER_MIN),
    ("149522", "MDC_BLD_PULS_RATE_INV", Signal.HEART_RATE, "bpm", PER_MIN),
    ("150456", "MDC_PULS_OXIM_SAT_O2", Signal.SPO2, "spo2", "262688^MDC_DIM_PERCENT^MDC"),
    *[(code, name, Signal.RESPIRATION, "rate", "264928^MDC_DIM_RESP_PER_MIN^MDC")
      for code, name in [("151562", "MDC_RESP_RATE"), ("151578", "MDC_TTHOR_RESP_RATE"),
                         ("151594", "MDC_CO2_RESP_RATE"), ("151570", "MDC_AWAY_RESP_RATE")]],
    *[(code, name, Signal.TEMPERATURE, "celsius", "268192^MDC_DIM_DEGC^MDC")
      for code, name in [
          ("150344", "MDC_TEMP"), ("150364", "MDC_TEMP_BODY"), ("150368", "MDC_TEMP_CORE"),
          ("150372", "MDC_TEMP_ESOPH"), ("150380", "MDC_TEMP_NASOPH"),
          ("150348", "MDC_TEMP_FOLEY"), ("150392", "MDC_TEMP_TYMP"), ("188420", "MDC_TEMP_RECT"),
          ("188424", "MDC_TEMP_ORAL"), ("188428", "MDC_TEMP_EAR"), ("188452", "MDC_TEMP_AXILLA"),
          ("188436", "MDC_TEMP_BLD")]],
]  # fmt: skip
BP_CODES = [
    ("150021", "150022", "150023"),  # MDC_PRESS_BLD_NONINV_SYS/DIA/MEAN
    ("150301", "150302", "150303"),  # MDC_PRESS_CUFF_SYS/DIA/MEAN
    ("150037", "150038", "150039"),  # MDC_PRESS_BLD_ART_ABP_SYS/DIA/MEAN
    ("150033", "150034", "150035"),  # MDC_PRESS_BLD_ART_SYS/DIA/MEAN
]


@pytest.mark.parametrize(("code", "name", "signal", "field", "unit"), CODES)
def test_every_single_value_code(code: str, name: str, signal: object, field: str,
                                 unit: str) -> None:  # fmt: skip
    (reading,) = mapped(oru([Obx(code, name, unit, "37")])).readings
    assert (reading.signal, reading.values) == (signal, {field: 37.0})


@pytest.mark.parametrize("codes", BP_CODES)
def test_every_blood_pressure_code(codes: tuple[str, str, str]) -> None:
    observations = [Obx(c, "BP", MMHG, v) for c, v in zip(codes, ("121", "79", "93"), strict=True)]
    (reading,) = mapped(oru(observations)).readings
    assert reading.signal is Signal.BLOOD_PRESSURE
    assert reading.values == {"systolic": 121.0, "diastolic": 79.0, "mean": 93.0}


@pytest.mark.parametrize(
    ("unit", "value", "celsius"),
    [
        ("266560^MDC_DIM_FAHR^MDC", "98.6", 37.0),
        ("[degF]^[degF]^UCUM", "104", 40.0),
        ("Cel^Cel^UCUM", "36.4", 36.4),
        ("268192^MDC_DIM_DEGC^MDC", "35", 35.0),
    ],
)
def test_temperature_in_fahrenheit_is_converted(unit: str, value: str, celsius: float) -> None:
    assert one(TEMP[:2] + (unit,), value) == {"celsius": celsius}


@pytest.mark.parametrize(
    ("unit", "value", "mmhg"),
    [(KPA, "16", 120.01), ("kPa^kPa^UCUM", "10.5", 78.76), ("mm[Hg]^mm[Hg]^UCUM", "118", 118.0)],
)
def test_pressure_in_kilopascal_is_converted(unit: str, value: str, mmhg: float) -> None:
    message = oru([obx(NIBP_SYS[:2] + (unit,), value), obx(NIBP_DIA, 60)])
    (reading,) = mapped(message).readings
    assert reading.values["systolic"] == mmhg


@pytest.mark.parametrize(
    ("kind", "unit"),
    [
        (HR, MMHG),
        (NIBP_SYS, PER_MIN),
        (SPO2, "1^x^MDC"),
        (TEMP, "266528^MDC_DIM_KELVIN^MDC"),
        (HR, ""),
        (TEMP, "degF^degF^L"),
        (HR, "264928^MDC_DIM_RESP_PER_MIN^MDC"),
        (RESP, PER_MIN),
    ],
)
def test_a_unit_not_known_for_the_code_is_refused(kind: tuple[str, str, str], unit: str) -> None:
    message = oru([obx(kind[:2] + (unit,), 50), obx(NIBP_DIA, 40)])
    assert refusal(message).startswith(f"unknown_unit:{kind[1]}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20261125140000", "2026-11-25T14:00:00+00:00"),  # no zone: UTC
        ("20261125150000+0100", "2026-11-25T14:00:00+00:00"),
        ("20261125133000-0030", "2026-11-25T14:00:00+00:00"),
        ("202611251400", "2026-11-25T14:00:00+00:00"),  # to the minute
        ("20261125140000.25", "2026-11-25T14:00:00.250000+00:00"),
        ("20261125140000.1234-0500", "2026-11-25T19:00:00.123000+00:00"),
    ],
)
def test_event_time_with_and_without_zone(text: str, expected: str) -> None:
    moment = datetime.fromtimestamp(event_ms(text) / 1000, tz=timezone.utc)
    assert moment.isoformat() == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026112514",
        "20261125",
        "20261325140000",
        "20261125146000",
        "2026-11-25T14:00:00Z",
        "20261125140000+2500",
        "20261125140000+01",
        "20261125140000.12345",
        " 20261125140000",
        "2026112514000\u0660",
    ],
)
def test_a_bad_time_refuses_the_message(text: str) -> None:
    assert refusal(oru([obx(HR, 80)], when=text)) == "wrong_type:time"


def test_observation_time_comes_before_the_obr_time() -> None:
    message = oru([obx(HR, 80, time="20261125140010"), obx(SPO2, 95)])
    times = {r.signal: r.ts_ms for r in mapped(message).readings}
    assert times == {Signal.HEART_RATE: AT_MS + 10_000, Signal.SPO2: AT_MS}


def test_no_time_at_all_is_refused() -> None:
    assert refusal(oru([obx(HR, 80)], when="")) == "missing_field:time"


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        ("20261125140101", "future"),
        ("19691231235959", "out_of_range:time"),
        ("99991231235959-2359", "out_of_range:time"),
        ("00010101000000+2359", "out_of_range:time"),
    ],
)
def test_event_time_out_of_range_or_ahead_of_the_clock(when: str, reason: str) -> None:
    assert refusal(oru([obx(HR, 80)], when=when)) == reason


def test_a_time_within_the_clock_skew_is_taken() -> None:
    (reading,) = mapped(oru([obx(HR, 80)], when="20261125140100")).readings
    assert reading.ts_ms == NOW_MS + SKEW_MS


@pytest.mark.parametrize(
    ("patient", "reason"),
    [
        ("", "missing_field:PID-3"),
        ("P 42", "bad_patient_id"),
        ("x" * 65, "bad_patient_id"),
        ("Pé", "bad_patient_id"),
    ],
)
def test_patient_id_is_pid3_and_checked_like_the_stream(patient: str, reason: str) -> None:
    assert refusal(oru([obx(HR, 80)], patient=patient)) == reason


def test_a_message_without_pid_is_refused() -> None:
    message = b"\r".join(line for line in vitals().split(b"\r") if not line.startswith(b"PID"))
    assert refusal(message) == "missing_field:PID-3"


def test_patient_id_is_the_first_identifier() -> None:
    (reading,) = mapped(oru([obx(HR, 80)], patient="P-7^^^A^MR~P-8^^^B^PI")).readings
    assert reading.patient_id == "P-7"


@pytest.mark.parametrize(
    "value",
    [
        "eighty",
        "80bpm",
        "0x50",
        "1e2",
        "NaN",
        "8,0",
        "--8",
        "\uff18\uff10",
        "\u0668",
        "80~90",
        "80^x",
    ],
)
def test_a_value_that_is_not_a_number_is_refused(value: str) -> None:
    assert refusal(oru([obx(HR, value)])) == "wrong_type:MDC_ECG_HEART_RATE"


def test_an_empty_value_is_refused() -> None:
    assert refusal(oru([obx(HR, "")])) == "missing_field:MDC_ECG_HEART_RATE value"


@pytest.mark.parametrize(
    ("observations", "reason"),
    [
        ([obx(HR, 351)], "out_of_range:bpm"),
        ([obx(HR, -1)], "out_of_range:bpm"),
        ([obx(SPO2, 100.5)], "out_of_range:spo2"),
        ([obx(RESP, 151)], "out_of_range:rate"),
        ([obx(TEMP, 47.5)], "out_of_range:celsius"),
        ([obx(TEMP[:2] + ("[degF]",), 212)], "out_of_range:celsius"),
        ([obx(NIBP_SYS, 360), obx(NIBP_DIA, 80)], "out_of_range:systolic"),
        ([obx(NIBP_SYS, 70), obx(NIBP_DIA, 80)], "out_of_range:diastolic above systolic"),
    ],
)
def test_values_outside_what_a_body_can_show_are_refused(
    observations: list[Obx], reason: str
) -> None:
    assert refusal(oru(observations)) == reason


@pytest.mark.parametrize(
    ("observations", "missing"),
    [
        ([obx(NIBP_SYS, 120)], "diastolic"),
        ([obx(NIBP_SYS, 120), obx(NIBP_MEAN, 90)], "diastolic"),
        ([obx(NIBP_DIA, 80)], "systolic"),
    ],
)
def test_blood_pressure_needs_systolic_and_diastolic(observations: list[Obx], missing: str) -> None:
    assert refusal(oru([obx(HR, 80), *observations])) == f"missing_field:{missing}"


def test_systolic_and_diastolic_of_different_times_are_no_reading() -> None:
    message = oru([obx(NIBP_SYS, 120, time="20261125140000"),
                   obx(NIBP_DIA, 80, time="20261125140005")])  # fmt: skip
    assert refusal(message) == "missing_field:diastolic"


def test_unknown_codes_are_skipped_and_counted() -> None:
    message = oru([
        Obx("69965", "MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS", "", "", status="X"),
        Obx("148066", "MDC_ECG_V_P_C_RATE", PER_MIN, "0"),
        Obx("150388", "MDC_TEMP_SKIN", "268192^MDC_DIM_DEGC^MDC", "33"),
        obx(HR, 72),
    ])  # fmt: skip
    result = mapped(message)
    assert [r.values for r in result.readings] == [{"bpm": 72.0}]
    assert result.skipped == {"unknown_code": 3}


def test_a_known_number_of_another_coding_system_is_unknown() -> None:
    message = oru([obx(HR, 72)]).replace(b"^MDC_ECG_HEART_RATE^MDC", b"^Heart rate^LN")
    result = mapped(message)
    assert (result.readings, result.skipped) == ([], {"unknown_code": 1})


@pytest.mark.parametrize("status", ["X", "D", "W"])
def test_an_observation_without_result_is_skipped(status: str) -> None:
    result = mapped(oru([obx(HR, "", status=status), obx(SPO2, 96)]))
    assert [r.signal for r in result.readings] == [Signal.SPO2]
    assert result.skipped == {"no_result": 1}


def test_the_preferred_code_of_a_signal_wins_at_the_same_time() -> None:
    pulse = Obx("149530", "MDC_PULS_OXIM_PULS_RATE", PER_MIN, "91")
    result = mapped(oru([pulse, obx(HR, 88)]))
    assert [r.values for r in result.readings] == [{"bpm": 88.0}]
    assert result.skipped == {"superseded": 1}


def test_codes_of_a_signal_at_different_times_are_readings_each() -> None:
    pulse = Obx("149530", "MDC_PULS_OXIM_PULS_RATE", PER_MIN, "91", time="20261125140001")
    result = mapped(oru([obx(HR, 88), pulse]))
    assert sorted(r.values["bpm"] for r in result.readings) == [88.0, 91.0]


def test_a_complete_blood_pressure_source_wins_over_an_incomplete_one() -> None:
    arterial_systolic = Obx("150037", "MDC_PRESS_BLD_ART_ABP_SYS", MMHG, "130")
    message = oru([arterial_systolic, obx(NIBP_SYS, 118), obx(NIBP_DIA, 76)])
    result = mapped(message)
    assert [r.values for r in result.readings] == [{"systolic": 118.0, "diastolic": 76.0}]
    assert result.skipped == {"superseded": 1}


def test_device_id_is_the_equipment_instance_of_obx18() -> None:
    (reading,) = mapped(oru([obx(HR, 80, device="0800FFFE0B4020^EUI-64")])).readings
    assert reading.device_id == "0800FFFE0B4020"


@pytest.mark.parametrize("message_type", ["ADT^A01^ADT_A01", "ORU^R30", "ACK", ""])
def test_other_message_types_are_not_taken(message_type: str) -> None:
    with pytest.raises(NotOruR01):
        mapped(oru([obx(HR, 80)], message_type=message_type))


@pytest.mark.parametrize("block", [b"", b"hello", b"PID|||P-1", b"MSH", b"\x00\xff" * 10])
def test_what_is_no_hl7_message_is_refused(block: bytes) -> None:
    with pytest.raises(Malformed) as raised:
        parse(block)
    assert raised.value.reason == "not_hl7"


def test_line_feeds_between_segments_are_read_as_segment_ends() -> None:
    assert len(mapped(vitals().replace(b"\r", b"\r\n")).readings) == 5
    assert len(mapped(vitals().replace(b"\r", b"\n")).readings) == 5


# Inspired oxygen: on_oxygen of the SpO2 reading at its time (IEEE 11073-10101 terms, written out).
PERCENT = "262688^MDC_DIM_PERCENT^MDC"
FIO2_CODES = [
    ("152196", "MDC_CONC_AWAY_O2_INSP"),
    ("153144", "MDC_CONC_GASDLV_O2_INSP"),
    ("151920", "MDC_VENT_CONC_AWAY_O2_INSP"),
]


def spo2_with(*oxygen: Obx) -> dict[str, object]:
    """The SpO2 reading's values of a message with an SpO2 of 95 and ``oxygen`` at its time."""
    (reading,) = mapped(oru([obx(SPO2, 95), *oxygen])).readings
    assert reading.signal is Signal.SPO2
    return reading.values


@pytest.mark.parametrize(("code", "name"), FIO2_CODES)
def test_every_inspired_oxygen_code_sets_on_oxygen(code: str, name: str) -> None:
    assert spo2_with(Obx(code, name, PERCENT, "40")) == {"spo2": 95.0, "on_oxygen": True}
    assert spo2_with(Obx(code, name, PERCENT, "21")) == {"spo2": 95.0, "on_oxygen": False}


@pytest.mark.parametrize(
    ("kind", "unit", "value", "oxygen"),
    [
        (FIO2, "%^%^UCUM", "21.01", True),
        (FIO2, PERCENT, "20.9", False),  # room air as a sensor reads it
        (FIO2, PERCENT, "10", False),
        (FIO2, PERCENT, "100", True),
        (LN_FIO2, "%^%^UCUM", "28", True),
        (LN_FIO2, "1^1^UCUM", "0.21", False),  # a fraction
        (LN_FIO2, "1^1^UCUM", "0.5", True),
        (LN_O2_FLOW, "L/min^L/min^UCUM", "2", True),
        (LN_O2_FLOW, "l/min^l/min^UCUM", "0", False),
        (LN_O2_FLOW, "mL/min^mL/min^UCUM", "500", True),
        (LN_O2_FLOW, "ml/min^ml/min^UCUM", "30", True),
    ],
)
def test_inhaled_oxygen_above_air_is_on_oxygen(
    kind: tuple[str, str, str], unit: str, value: str, oxygen: bool
) -> None:
    values = spo2_with(obx(kind[:2] + (unit,), value))
    assert values == {"spo2": 95.0, "on_oxygen": oxygen}
    assert values["on_oxygen"] is oxygen  # a bool, written as a JSON boolean


def test_oxygen_without_an_spo2_at_its_time_is_skipped_and_counted() -> None:
    alone = mapped(oru([obx(HR, 80), obx(FIO2, 40)]))
    assert [r.signal for r in alone.readings] == [Signal.HEART_RATE]
    assert alone.skipped == {"oxygen_alone": 1}
    later = mapped(oru([obx(SPO2, 95), obx(LN_O2_FLOW, 2, time="20261125140005")]))
    assert [r.values for r in later.readings] == [{"spo2": 95.0}]
    assert later.skipped == {"oxygen_alone": 1}
    only = mapped(oru([obx(FIO2, 40)]))
    assert (only.readings, only.skipped) == ([], {"oxygen_alone": 1})


def test_the_preferred_oxygen_code_wins_mdc_before_loinc() -> None:
    circuit = Obx("153144", "MDC_CONC_GASDLV_O2_INSP", PERCENT, "40")
    result = mapped(oru([obx(SPO2, 95), circuit, obx(FIO2, 21), obx(LN_O2_FLOW, 2)]))
    assert [r.values for r in result.readings] == [{"spo2": 95.0, "on_oxygen": False}]
    assert result.skipped == {"superseded": 2}


def test_the_spo2_reading_keeps_the_oximeters_device() -> None:
    message = oru([obx(FIO2, 40, device="vent-1"), obx(SPO2, 95, device="oxi-2")])
    (reading,) = mapped(message).readings
    assert (reading.values, reading.device_id) == ({"spo2": 95.0, "on_oxygen": True}, "oxi-2")


def test_oxygen_without_result_is_skipped_and_the_spo2_written_without_it() -> None:
    result = mapped(oru([obx(SPO2, 95), obx(FIO2, "", status="X")]))
    assert [r.values for r in result.readings] == [{"spo2": 95.0}]
    assert result.skipped == {"no_result": 1}


@pytest.mark.parametrize(
    ("observation", "reason"),
    [
        (obx(FIO2, 9.99), "out_of_range:fio2"),
        (obx(FIO2, 0.4), "out_of_range:fio2"),  # a fraction sent as a percentage: not air
        (obx(FIO2, 100.5), "out_of_range:fio2"),
        (obx(LN_FIO2[:2] + ("1^1^UCUM",), 1.2), "out_of_range:fio2"),
        (obx(LN_O2_FLOW, -1), "out_of_range:o2_flow"),
        (obx(LN_O2_FLOW, 101), "out_of_range:o2_flow"),
        (obx(FIO2[:2] + ("266016^MDC_DIM_MMHG^MDC",), 150), "unknown_unit:MDC_CONC_AWAY_O2_INSP"),
        (obx(LN_O2_FLOW[:2] + ("%^%^UCUM",), 2), "unknown_unit:inhaled oxygen flow rate %"),
        (obx(FIO2, "high"), "wrong_type:MDC_CONC_AWAY_O2_INSP"),
        (obx(FIO2, ""), "missing_field:MDC_CONC_AWAY_O2_INSP value"),
    ],
)
def test_an_unusable_oxygen_value_refuses_the_message(observation: Obx, reason: str) -> None:
    assert refusal(oru([obx(SPO2, 95), observation])).startswith(reason)


def test_loinc_codes_are_read_only_for_what_is_charted() -> None:
    result = mapped(oru([obx(("8867-4", "Heart rate", PER_MIN), 80), obx(SPO2, 95)]))
    assert (len(result.readings), result.skipped) == (1, {"unknown_code": 1})
    as_mdc = mapped(oru([Obx("3150-0", "FiO2", "%", "40"), obx(SPO2, 95)]))
    assert as_mdc.skipped == {"unknown_code": 1}


# Level of responsiveness (LOINC 67775-7), its answers written out.
@pytest.mark.parametrize(
    ("answer", "letter"),
    [
        ("LA9340-6^Alert^LN", "A"),
        ("LA6560-2^Confused^LN", "C"),
        ("LA17108-4^Verbal^LN", "V"),
        ("LA17107-6^Painful^LN", "P"),
        ("LA9343-0^Unresponsive^LN", "U"),
        ("LA9340-6^Unresponsive^LN", "A"),  # the code over the text
        ("V", "V"),
        ("C^New confusion^L", "C"),
        ("^New confusion", "C"),
        ("^confusion", "C"),
        ("^ Responds to  PAIN ", "P"),
        ("X7^Voice^L", "V"),  # a local code, its text
        ("X7^Awake^L^LA9343-0^Unresponsive^LN", "U"),  # the alternate code
        ("^^^^^^^^Alert", "A"),  # the original text
    ],
)
def test_a_level_of_responsiveness_is_an_acvpu_reading(answer: str, letter: str) -> None:
    result = mapped(oru([acvpu(answer, time="20261125140010")]))
    (reading,) = result.readings
    assert (reading.signal, reading.patient_id, reading.ts_ms) == (
        Signal.CONSCIOUSNESS, "P-0042", AT_MS + 10_000,
    )  # fmt: skip
    assert (reading.values, result.skipped) == ({"acvpu": letter}, {})


def test_a_level_of_responsiveness_joins_the_vitals_as_its_own_reading() -> None:
    message = oru([obx(HR, 88), obx(SPO2, 97), acvpu("LA17108-4^Verbal^LN"), obx(RESP, 16)])
    got = {r.signal: (r.ts_ms, r.values) for r in mapped(message).readings}
    assert got == {
        Signal.HEART_RATE: (AT_MS, {"bpm": 88.0}), Signal.SPO2: (AT_MS, {"spo2": 97.0}),
        Signal.CONSCIOUSNESS: (AT_MS, {"acvpu": "V"}), Signal.RESPIRATION: (AT_MS, {"rate": 16.0}),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("LA6561-0^Oriented^LN", "unknown_answer:level of responsiveness LA6561-0"),
        ("^Drowsy", "unknown_answer:level of responsiveness Drowsy"),
        ("a", "unknown_answer:level of responsiveness a"),
        ("2^^L", "unknown_answer:level of responsiveness 2"),
        ("", "missing_field:level of responsiveness value"),
        ("^^^", "missing_field:level of responsiveness value"),
        ("LA9340-6^Alert^LN~LA9343-0^Unresponsive^LN", "wrong_type:level of responsiveness"),
    ],
)
def test_another_answer_refuses_the_message(answer: str, reason: str) -> None:
    assert refusal(oru([obx(HR, 80), acvpu(answer)])) == reason


def test_a_level_of_responsiveness_without_result_or_in_mdc_is_skipped() -> None:
    result = mapped(oru([obx(HR, 80), acvpu("", status="X"), acvpu("A", system="MDC")]))
    assert [r.signal for r in result.readings] == [Signal.HEART_RATE]
    assert result.skipped == {"no_result": 1, "unknown_code": 1}
