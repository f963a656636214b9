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
    observation,
    raw,
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
    other = observation("3150-0", 40, "%")
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
