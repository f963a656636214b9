"""The FHIR mapping (``gateway.fhir``): Observations and Bundles -> readings, or a refusal
with its reason and where."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.gateway.fhir_resources import (
    LOINC,
    TIME_MS,
    blood_pressure,
    bundle,
    coding,
    consciousness,
    observation,
    raw,
    spo2,
)
from vitalwatch.contracts.readings import Signal
from vitalwatch.gateway.fhir import Kind, Refused, readings
from vitalwatch.gateway.oru import GatewayReading, Mapped

NOW_MS = TIME_MS + 1_000
SKEW_MS = 30_000


def mapped(resource: dict[str, Any], kind: Kind = "Observation") -> Mapped:
    return readings(raw(resource), kind, NOW_MS, SKEW_MS)


def one(resource: dict[str, Any]) -> GatewayReading:
    result = mapped(resource).readings
    assert len(result) == 1
    return result[0]


def refused(resource: dict[str, Any] | bytes, kind: Kind = "Observation") -> Refused:
    body = resource if isinstance(resource, bytes) else raw(resource)
    with pytest.raises(Refused) as caught:
        readings(body, kind, NOW_MS, SKEW_MS)
    return caught.value


@pytest.mark.parametrize(
    ("code", "value", "unit", "signal", "values"),
    [
        ("8867-4", 88, "/min", Signal.HEART_RATE, {"bpm": 88.0}),
        ("59408-5", 97, "%", Signal.SPO2, {"spo2": 97.0}),
        ("2708-6", 93.5, "%", Signal.SPO2, {"spo2": 93.5}),
        ("9279-1", 18, "/min", Signal.RESPIRATION, {"rate": 18.0}),
        ("8310-5", 37.2, "Cel", Signal.TEMPERATURE, {"celsius": 37.2}),
        ("8310-5", 98.6, "[degF]", Signal.TEMPERATURE, {"celsius": 37.0}),
    ],
)
def test_every_loinc_code_maps_to_its_signal_in_the_contracts_unit(
    code: str, value: float, unit: str, signal: Any, values: dict[str, float]
) -> None:
    reading = one(observation(code, value, unit, device={"reference": "Device/mon-7"}))
    assert reading == GatewayReading(signal, "P-0042", TIME_MS, values, "mon-7")


def test_blood_pressure_panel_with_and_without_mean() -> None:
    assert one(blood_pressure(118, 76, 90)).values == {
        "systolic": 118.0, "diastolic": 76.0, "mean": 90.0
    }  # fmt: skip
    reading = one(blood_pressure(118, 76))
    assert reading.signal is Signal.BLOOD_PRESSURE
    assert reading.values == {"systolic": 118.0, "diastolic": 76.0}
    kpa = one(blood_pressure(16, 10, unit="kPa"))
    assert kpa.values == {"systolic": 120.01, "diastolic": 75.01}


def test_a_panel_without_components_or_a_diastolic_is_refused() -> None:
    assert refused(observation("85354-9", value=None)).reason.startswith("missing_field")
    no_diastolic = refused(blood_pressure(118, None))
    assert no_diastolic.reason == "missing_field:diastolic"
    upside_down = refused(blood_pressure(70, 90))
    assert upside_down.reason == "out_of_range:diastolic above systolic"


def test_a_mean_arterial_pressure_joins_the_panel_of_its_time_or_is_skipped_alone() -> None:
    both = mapped(bundle(blood_pressure(118, 76), observation("8478-0", 90, "mm[Hg]")), "Bundle")
    assert [r.values for r in both.readings] == [{"systolic": 118.0, "diastolic": 76.0,
                                                  "mean": 90.0}]  # fmt: skip
    alone = bundle(observation(), observation("8478-0", 90, "mm[Hg]"))
    result = mapped(alone, "Bundle")
    assert [r.signal for r in result.readings] == [Signal.HEART_RATE]
    assert result.skipped == {"mean_alone": 1}


@pytest.mark.parametrize(
    ("resource", "reason", "where"),
    [
        (observation(patient=None), "missing_field:subject", "Observation.subject.reference"),
        (observation(patient="P 42"), "bad_patient_id", "Observation.subject.reference"),
        (observation(time=None), "missing_field:time", "Observation.effective"),
        (observation(value=None), "missing_field:heart rate value", "Observation.valueQuantity"),
        (observation(unit="beats"), "unknown_unit:heart rate beats",
         "Observation.valueQuantity.code"),
        (observation(unit=None), "unknown_unit:heart rate (none)",
         "Observation.valueQuantity.code"),
        (observation(value=400), "out_of_range:bpm", "Observation.valueQuantity.value"),
        (observation(time="2026-11-25"), "wrong_type:time: a date and time with a zone",
         "Observation.effectiveDateTime"),
        (observation(time="2026-11-26T14:00:00Z"), "future", "Observation.effectiveDateTime"),
        (observation(status="done"), "wrong_type:status", "Observation.status"),
        (observation("3150-0", 5, "%"), "out_of_range:fio2", "Observation.valueQuantity.value"),
        (observation("3150-0", 0.5, "%"), "out_of_range:fio2", "Observation.valueQuantity.value"),
        (observation("3150-0", 101, "%"), "out_of_range:fio2", "Observation.valueQuantity.value"),
        (spo2(95, ("3151-8", -1, "L/min")), "out_of_range:o2_flow",
         "Observation.component[0].valueQuantity.value"),
        (spo2(95, ("3151-8", 2, "%")), "unknown_unit:inhaled oxygen flow rate %",
         "Observation.component[0].valueQuantity.code"),
        (spo2(95, ("3150-0", 40, "mm[Hg]")), "unknown_unit:inhaled oxygen concentration mm[Hg]",
         "Observation.component[0].valueQuantity.code"),
        (observation("3151-8", None), "missing_field:inhaled oxygen flow rate value",
         "Observation.valueQuantity"),
    ],
)  # fmt: skip
def test_an_unusable_observation_is_refused_with_reason_and_place(
    resource: dict[str, Any], reason: str, where: str
) -> None:
    refusal = refused(resource)
    assert (refusal.reason, refusal.where, refusal.status) == (reason, where, 400)


def test_a_time_without_zone_is_refused_by_the_fhir_model() -> None:
    refusal = refused(observation(time="2026-11-25T14:00:00"))
    assert refusal.reason.startswith("not_fhir:")
    assert refusal.where == "Observation.effectiveDateTime"


def test_an_effective_period_start_is_the_event_time() -> None:
    resource = observation(time=None, effectivePeriod={"start": "2026-11-25T15:00:00.250+01:00"})
    assert one(resource).ts_ms == TIME_MS


@pytest.mark.parametrize("status", ["final", "amended", "corrected", "preliminary"])
def test_statuses_with_a_result_are_read(status: str) -> None:
    assert one(observation(status=status)).values == {"bpm": 88.0}


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled", "registered", "unknown"])
def test_statuses_without_a_result_are_skipped_and_alone_refused_422(status: str) -> None:
    refusal = refused(observation(status=status))
    assert (refusal.reason, refusal.status) == ("no_vital_sign:no Observation of a code and "
                                                "status read here", 422)  # fmt: skip
    result = mapped(bundle(observation(), observation(status=status)), "Bundle")
    assert len(result.readings) == 1
    assert result.skipped == {"no_result": 1}


def test_unknown_codes_are_skipped_and_counted() -> None:
    other = observation("8302-2", 172, "cm")  # body height
    result = mapped(bundle(observation(), other, observation(code=None)), "Bundle")
    assert [r.signal for r in result.readings] == [Signal.HEART_RATE]
    assert result.skipped == {"unknown_code": 2}
    assert refused(other).status == 422


def test_a_bundle_of_several_patients_and_signals() -> None:
    body = bundle(
        observation(), blood_pressure(), observation("59408-5", 97, "%"),
        observation("9279-1", 18, "/min"), observation("8310-5", 37.2, "Cel"),
        observation(patient="P-0043", value=120), observation(value=90),  # same time twice
    )  # fmt: skip
    result = mapped(body, "Bundle")
    got = {(r.patient_id, r.signal): r.values for r in result.readings}
    assert got == {
        ("P-0042", Signal.HEART_RATE): {"bpm": 88.0},
        ("P-0042", Signal.BLOOD_PRESSURE): {"systolic": 118.0, "diastolic": 76.0},
        ("P-0042", Signal.SPO2): {"spo2": 97.0},
        ("P-0042", Signal.RESPIRATION): {"rate": 18.0},
        ("P-0042", Signal.TEMPERATURE): {"celsius": 37.2},
        ("P-0043", Signal.HEART_RATE): {"bpm": 120.0},
    }
    assert result.skipped == {"superseded": 1}


def test_a_bundle_is_refused_whole_naming_the_entry() -> None:
    body = bundle(observation(), observation("8310-5", 37, "K"))
    refusal = refused(body, "Bundle")
    assert refusal.reason == "unknown_unit:body temperature K"
    assert refusal.where == "Bundle.entry[1].resource.valueQuantity.code"
    model = refused(bundle(observation(), observation(value="eighty")), "Bundle")
    assert model.where.startswith("Bundle.entry[1].resource.valueQuantity.value")
    patient = {"resourceType": "Patient", "id": "x"}
    assert refused(bundle(observation(), patient), "Bundle").where == "Bundle.entry[1].resource"


@pytest.mark.parametrize(
    ("body", "kind", "reason"),
    [
        (b"{", "Observation", "not_json"),
        (b"[]", "Observation", "not_json"),
        (b'{"resourceType": "Observation", "resourceType": "Bundle"}', "Observation", "not_json"),
        (raw(bundle(observation())), "Observation", "not_fhir"),
        (raw(observation()), "Bundle", "not_fhir"),
        (raw({**observation(), "valueQuantity": {"value": 1, "bogus": 2}}), "Observation",
         "not_fhir"),
    ],
)  # fmt: skip
def test_bodies_that_are_not_the_resource_are_refused(body: bytes, kind: Kind, reason: str) -> None:
    assert refused(body, kind).kind == reason


def test_a_non_loinc_coding_of_a_known_code_is_not_read() -> None:
    resource = observation()
    resource["code"]["coding"][0]["system"] = "http://snomed.info/sct"
    assert refused(resource).status == 422
    resource["code"]["coding"].append({"system": LOINC, "code": "8867-4"})
    assert one(resource).values == {"bpm": 88.0}


def test_fuzz_findings_an_early_time_and_a_null_entry_type_are_refused_by_kind() -> None:
    early = refused(observation(time="1969-12-31T23:59:59Z"))
    assert (early.kind, early.reason) == ("out_of_range", "out_of_range:time")
    null_type = bundle({**observation(), "resourceType": None})
    assert refused(null_type, "Bundle").kind == "not_fhir"


# NEWS2's air or oxygen: on_oxygen of the SpO2 reading of the same patient and time.
@pytest.mark.parametrize(
    ("components", "oxygen"),
    [
        ((("3151-8", 6, "L/min"),), True),  # US Core's example satO2-fiO2
        ((("3151-8", 0, "L/min"),), False),
        ((("3150-0", 21, "%"),), False),
        ((("3150-0", 35, "%"),), True),
        ((("3150-0", 21, "%"), ("3151-8", 2, "L/min")), False),  # the first is kept
    ],
)
def test_the_spo2_components_inhaled_oxygen_set_on_oxygen(
    components: tuple[tuple[str, Any, str], ...], oxygen: bool
) -> None:
    result = mapped(spo2(95, *components))
    (reading,) = result.readings
    assert reading == GatewayReading(Signal.SPO2, "P-0042", TIME_MS,
                                     {"spo2": 95.0, "on_oxygen": oxygen})  # fmt: skip
    assert reading.values["on_oxygen"] is oxygen
    assert result.skipped == ({"superseded": 1} if len(components) > 1 else {})


@pytest.mark.parametrize(
    ("code", "value", "unit", "oxygen"),
    [
        ("3150-0", 40, "%", True),
        ("3150-0", 20.9, "%", False),
        ("3150-0", 0.21, "1", False),  # a fraction
        ("3150-0", 0.28, "1", True),
        ("3151-8", 2, "L/min", True),
        ("3151-8", 0.5, "l/min", True),
        ("3151-8", 0, "L/min", False),
        ("3151-8", 250, "mL/min", True),
    ],
)
def test_inhaled_oxygen_of_its_own_joins_the_spo2_of_its_patient_and_time(
    code: str, value: float, unit: str, oxygen: bool
) -> None:
    result = mapped(bundle(observation(code, value, unit), spo2(92)), "Bundle")
    assert [r.values for r in result.readings] == [{"spo2": 92.0, "on_oxygen": oxygen}]


def test_oxygen_without_an_spo2_of_its_patient_and_time_is_skipped() -> None:
    body = bundle(
        spo2(95), observation("3151-8", 2, "L/min", patient="P-0043"),
        observation("3150-0", 40, "%", time="2026-11-25T14:00:05Z"),
    )  # fmt: skip
    result = mapped(body, "Bundle")
    assert [(r.patient_id, r.values) for r in result.readings] == [("P-0042", {"spo2": 95.0})]
    assert result.skipped == {"oxygen_alone": 2}
    alone = refused(observation("3150-0", 40, "%"))
    assert (alone.kind, alone.status) == ("no_vital_sign", 422)


def test_other_components_of_an_spo2_are_skipped_and_counted() -> None:
    result = mapped(spo2(95, ("8867-4", 80, "/min"), ("3151-8", 3, "L/min"), ("9999-9", 1, "1")))
    assert [r.values for r in result.readings] == [{"spo2": 95.0, "on_oxygen": True}]
    assert result.skipped == {"unknown_code": 2}


# NEWS2's level of consciousness: LOINC 67775-7 with a coded answer (answers written out).
@pytest.mark.parametrize(
    ("answer", "letter"),
    [
        ({"coding": [coding("LA9340-6", "Alert")]}, "A"),
        ({"coding": [coding("LA6560-2", "Confused")]}, "C"),
        ({"coding": [coding("LA17108-4")]}, "V"),  # the code alone (HL7 Belgium's example)
        ({"coding": [coding("LA17107-6", "Painful")]}, "P"),
        ({"coding": [coding("LA9343-0", "Unresponsive")]}, "U"),
        ({"coding": [coding("LA9340-6", "Unresponsive")]}, "A"),  # the code over the display
        ({"coding": [coding("U", "Unresponsive", "https://example.org/acvpu")]}, "U"),
        ({"coding": [coding("248234008", "Mentally alert", "http://snomed.info/sct"),
                     coding("x", "Alert", "urn:local")]}, "A"),
        ({"coding": [coding("450847001", "Responds to pain", "http://snomed.info/sct")]}, "P"),
        ({"text": "New confusion"}, "C"),
        ({"coding": [coding("9", None, "urn:local")], "text": "voice"}, "V"),
    ],
)  # fmt: skip
def test_a_level_of_responsiveness_is_an_acvpu_reading(answer: dict[str, Any], letter: str) -> None:
    reading = one(consciousness(answer, device={"reference": "Device/tab-3"}))
    assert reading == GatewayReading(Signal.CONSCIOUSNESS, "P-0042", TIME_MS, {"acvpu": letter},
                                     "tab-3")  # fmt: skip


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        (consciousness({"coding": [coding("LA6561-0", "Oriented")]}),
         "unknown_answer:level of responsiveness LA6561-0"),
        (consciousness({"text": "drowsy"}), "unknown_answer:level of responsiveness drowsy"),
        (consciousness({"coding": [coding("a")]}), "unknown_answer:level of responsiveness a"),
    ],
)  # fmt: skip
def test_another_answer_is_refused_naming_it(resource: dict[str, Any], reason: str) -> None:
    refusal = refused(bundle(observation(), resource), "Bundle")
    assert (refusal.kind, refusal.reason, refusal.status) == ("unknown_answer", reason, 400)
    assert refusal.where == "Bundle.entry[1].resource.valueCodeableConcept"


def test_a_level_of_responsiveness_without_a_coded_answer_is_refused() -> None:
    quantity = refused(observation("67775-7", 1, "1"))
    assert (quantity.reason, quantity.where) == (
        "missing_field:level of responsiveness value", "Observation.valueCodeableConcept",
    )  # fmt: skip
    no_value = refused(consciousness(None))
    assert no_value.reason == "missing_field:level of responsiveness value"


def test_a_bundle_of_the_news2_observations() -> None:
    body = bundle(
        observation(), spo2(93, ("3151-8", 2, "L/min")),
        consciousness({"coding": [coding("LA9340-6", "Alert")]}),
        consciousness({"text": "Alert"}, patient="P-0043", time="2026-11-25T13:59:00Z"),
    )  # fmt: skip
    result = mapped(body, "Bundle")
    got = {(r.patient_id, r.signal, r.ts_ms): r.values for r in result.readings}
    assert got == {
        ("P-0042", Signal.HEART_RATE, TIME_MS): {"bpm": 88.0},
        ("P-0042", Signal.SPO2, TIME_MS): {"spo2": 93.0, "on_oxygen": True},
        ("P-0042", Signal.CONSCIOUSNESS, TIME_MS): {"acvpu": "A"},
        ("P-0043", Signal.CONSCIOUSNESS, TIME_MS - 60_250): {"acvpu": "A"},
    }
    assert result.skipped == {}
