"""Parsing and validation of Kafka records, on real Spark in batch mode (the same function the
stream uses)."""

from __future__ import annotations

import json

import pytest

from tests.unit.gateway import messages
from tests.unit.gateway.fhir_resources import TIME_MS, bundle, consciousness, raw, spo2
from vitalwatch.gateway import fhir
from vitalwatch.gateway import oru as hl7
from vitalwatch.gateway.records import reading_record
from vitalwatch.simulate.synthetic import FAULTS, SyntheticWard
from vitalwatch.stream.parse import parse_readings

pytestmark = pytest.mark.spark

HR, BP = "vitals.heart_rate", "vitals.blood_pressure"
SPO2, RR, TEMP, ACVPU = (
    "vitals.spo2",
    "vitals.respiration",
    "vitals.temperature",
    "vitals.consciousness",
)
T = 1_795_625_150_898
SCHEMA = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"


def parse(spark, settings, records):
    frame = spark.createDataFrame(
        [(k, v, topic, 0, i, None) for i, (k, v, topic) in enumerate(records)], SCHEMA
    )
    return parse_readings(frame, settings.topics).orderBy("source_offset").collect()


def hr(body: dict, key: bytes | None = b"P-1") -> tuple:
    return (key, json.dumps(body).encode(), HR)


def on(topic: str, **fields: object) -> tuple:
    return (b"P-1", json.dumps({"patient_id": "P-1", "ts": T, **fields}).encode(), topic)


CASES = [
    (hr({"patient_id": "P-1", "ts": "2026-11-25T14:00:00.250Z", "bpm": 88}), None),
    (hr({"patient_id": "P-1", "ts": T, "bpm": 88, "extra": "ignored"}), None),
    (hr({"patient_id": "P-1", "ts": T, "bpm": "abc"}), "wrong_type:bpm"),
    (hr({"patient_id": "P-1", "ts": T}), "missing_field:bpm"),
    (hr({"ts": T, "bpm": 70}), "missing_field:patient_id"),
    (hr({"patient_id": "P-1", "ts": "yesterday", "bpm": 80}), "wrong_type:ts"),
    ((b"P-1", b"not json", HR), "not_json"),
    ((b"P-1", b"[1, 2]", HR), "not_json"),
    ((b"P-1", b"", HR), "not_json"),
    ((b"P-1", b"\xff\xfe", HR), "not_utf8"),
    (hr({"patient_id": "P-1", "ts": T, "bpm": -5}), "out_of_range:bpm"),
    (hr({"patient_id": "P-1", "ts": T, "bpm": 351}), "out_of_range:bpm"),
    (hr({"patient_id": "P-1", "ts": T, "bpm": 50}, key=b"P-2"), "key_mismatch"),
    (hr({"patient_id": "P-1", "ts": T, "bpm": 50}, key=None), "key_mismatch"),
    (hr({"patient_id": "P 1", "ts": T, "bpm": 50}, key=b"P 1"), "bad_patient_id"),
    (
        (
            b"P-1",
            json.dumps({"patient_id": "P-1", "ts": T, "systolic": 80, "diastolic": 120}).encode(),
            BP,
        ),
        "out_of_range:diastolic above systolic",
    ),
    (
        (b"P-1", json.dumps({"patient_id": "P-1", "ts": T, "systolic": 120}).encode(), BP),
        "missing_field:diastolic",
    ),
    (on(SPO2, spo2=97, on_oxygen=True), None),
    (on(SPO2, spo2=97), None),
    (on(SPO2, on_oxygen=False), "missing_field:spo2"),
    (on(SPO2, spo2=100.5), "out_of_range:spo2"),
    (on(SPO2, spo2=97, on_oxygen="yes"), "wrong_type:on_oxygen"),
    (on(SPO2, spo2=97, on_oxygen=1), "wrong_type:on_oxygen"),
    (on(RR, rate=18), None),
    (on(RR, rate=-1), "out_of_range:rate"),
    (on(RR, bpm=18), "missing_field:rate"),
    (on(TEMP, celsius=37.2), None),
    (on(TEMP, celsius=98.6), "out_of_range:celsius"),
    (on(TEMP, celsius="warm"), "wrong_type:celsius"),
    (on(ACVPU, acvpu="V"), None),
    (on(ACVPU, acvpu="v"), "out_of_range:acvpu"),
    (on(ACVPU, acvpu=2), "out_of_range:acvpu"),
    (on(ACVPU), "missing_field:acvpu"),
]


def test_each_case_gets_its_reason(spark, base_settings) -> None:
    rows = parse(spark, base_settings, [record for record, _ in CASES])
    assert [row.reason for row in rows] == [reason for _, reason in CASES]


def test_valid_readings_are_normalised(spark, base_settings) -> None:
    bp = json.dumps({"patient_id": "P-1", "ts": T, "systolic": 120, "diastolic": 81}).encode()
    iso, epoch, pressure = parse(spark, base_settings, [CASES[0][0], CASES[1][0], (b"P-1", bp, BP)])
    assert (iso.signal, iso.event_ms, iso.bpm) == ("heart_rate", 1_795_615_200_250, 88.0)
    assert (epoch.event_ms, epoch.bpm) == (T, 88.0)
    assert pressure.mean == pytest.approx(94.0)  # computed (120 + 2 x 81) / 3 when absent


def test_the_news2_observations_are_read_as_numbers(spark, base_settings) -> None:
    records = [on(SPO2, spo2=91, on_oxygen=True), on(SPO2, spo2=95), on(RR, rate=24),
               on(TEMP, celsius=38.4), on(ACVPU, acvpu="A"), on(ACVPU, acvpu="U")]  # fmt: skip
    rows = parse(spark, base_settings, records)
    assert [r.signal for r in rows] == [
        "spo2", "spo2", "respiration", "temperature", "consciousness", "consciousness",
    ]  # fmt: skip
    assert [(r.spo2, r.on_oxygen) for r in rows[:2]] == [(91.0, 1.0), (95.0, None)]
    assert (rows[2].rate, rows[3].celsius) == (24.0, 38.4)
    assert [r.acvpu for r in rows[4:]] == [0.0, 4.0]  # the index in A, C, V, P, U
    assert all(r.reason is None and r.bpm is None and r.mean is None for r in rows)


def test_the_gateways_news2_readings_pass_the_parse(spark, base_settings) -> None:
    """What the HL7 and FHIR gateways write of inhaled oxygen and the level of consciousness
    is read back as the rules see it."""
    oximeter, fio2 = messages.obx(messages.SPO2, 93), messages.obx(messages.FIO2, 40)
    message = messages.oru([oximeter, fio2, messages.acvpu("LA17107-6^Painful^LN")])
    body = bundle(spo2(95, ("3151-8", 0, "L/min")), consciousness({"text": "New confusion"}))
    now_ms, skew_ms = TIME_MS + 1_000, 30_000
    readings = [
        *hl7.readings(hl7.parse(message), now_ms, skew_ms).readings,
        *fhir.readings(raw(body), "Bundle", now_ms, skew_ms).readings,
    ]
    records = [reading_record(reading, base_settings.topics) for reading in readings]
    rows = parse(spark, base_settings, [(r.key, r.value, r.topic) for r in records])
    assert [(r.signal, r.reason, r.spo2, r.on_oxygen, r.acvpu) for r in rows] == [
        ("spo2", None, 93.0, 1.0, None), ("consciousness", None, None, None, 3.0),  # P
        ("spo2", None, 95.0, 0.0, None), ("consciousness", None, None, None, 1.0),  # C
    ]  # fmt: skip


def test_every_simulated_fault_is_caught_with_its_reason(spark, base_settings) -> None:
    messages = list(SyntheticWard(patients=4, duration_s=300, malformed_share=0.2).messages())
    topic = {"heart_rate": HR, "blood_pressure": BP}
    rows = parse(spark, base_settings, [(m.key, m.value, topic[m.signal.value]) for m in messages])
    assert {m.fault for m in messages} >= set(FAULTS)
    for message, row in zip(messages, rows, strict=True):
        expected = FAULTS[message.fault] if message.fault else None
        assert (row.reason or "").split(":")[0] == (expected or ""), message
