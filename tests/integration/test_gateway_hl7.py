"""The HL7 gateway on the real broker, spoken to by the hl7 library's MLLP client: readings of
every signal on their topics keyed by patient, each message answered AA only once they are
there; refused messages dead-lettered and answered AR."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.gateway_rig import (
    READING_TOPICS,
    ack_code,
    ack_text,
    gateway_settings,
    read_topics,
    send,
    serving,
)
from tests.unit.gateway.messages import (
    FIO2,
    HR,
    NIBP_DIA,
    NIBP_SYS,
    SPO2,
    TEMP,
    acvpu,
    obx,
    oru,
    vitals,
)
from vitalwatch.infra.broker import LocalBroker
from vitalwatch.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(kafka: LocalBroker, tmp_path: Path) -> Settings:
    return gateway_settings(kafka, tmp_path)


def test_readings_of_every_signal_reach_their_topics_and_each_message_gets_aa(
    settings: Settings,
) -> None:
    patients = ["P-0001", "P-0002", "P-0003"]
    messages = [vitals(patient, when=f"202611251400{i:02d}", control_id=f"C{i}")
                for i, patient in enumerate(patients)]  # fmt: skip
    with serving(settings) as served:
        answers = send(served.port, messages)
        assert [ack_code(a) for a in answers] == ["AA"] * 3
        assert [a.decode().split("\r")[1] for a in answers] == [
            "MSA|AA|C0",
            "MSA|AA|C1",
            "MSA|AA|C2",
        ]
        metrics = served.metrics.registry
        topics = [getattr(settings.topics, name) for name in READING_TOPICS]
        records = read_topics(settings, topics)
    by_topic: dict[str, dict[bytes | None, dict[str, object]]] = {}
    for record in records:
        by_topic.setdefault(record.topic, {})[record.key] = json.loads(record.value)
    for i, patient in enumerate(patients):
        key, ts = patient.encode(), f"2026-11-25T14:00:{i:02d}.000Z"
        expected = {
            "heart_rate": {"bpm": 88.0},
            "blood_pressure": {"systolic": 118.0, "diastolic": 76.0, "mean": 90.0},
            "spo2": {"spo2": 97.0},
            "respiration": {"rate": 16.0},
            "temperature": {"celsius": 37.2},
        }
        for name, values in expected.items():
            got = by_topic[getattr(settings.topics, name)][key]
            assert got == {"patient_id": patient, "ts": ts, **values}
    assert len(records) == 15
    accepted = metrics.get_sample_value(
        "vitalwatch_gateway_messages_total",
        {"protocol": "hl7", "outcome": "accepted", "reason": ""},
    )
    assert accepted == 3
    for signal in READING_TOPICS:
        labels = {"protocol": "hl7", "signal": signal}
        assert metrics.get_sample_value("vitalwatch_gateway_readings_total", labels) == 3


def test_malformed_messages_are_dead_lettered_and_answered_ar(settings: Settings) -> None:
    out_of_range = oru([obx(HR, 400)], patient="P-0009", control_id="BAD1")
    no_diastolic = oru([obx(NIBP_SYS, 120), obx(TEMP, 37)], control_id="BAD2")
    not_oru = oru([obx(HR, 80)], message_type="ADT^A01^ADT_A01", control_id="ADT1")
    good = oru([obx(HR, 80), obx(NIBP_SYS, 120), obx(NIBP_DIA, 80)], control_id="OK1")
    with serving(settings) as served:
        answers = send(served.port, [out_of_range, no_diastolic, b"garbage", not_oru, good])
    assert [ack_code(a) for a in answers] == ["AR", "AR", "AR", "AR", "AA"]
    assert [ack_text(a) for a in answers[:4]] == [
        "out_of_range:bpm", "missing_field:diastolic", "not_hl7",
        "not_oru_r01: only ORU?R01 is taken, not ADT?A01",
    ]  # fmt: skip
    letters = read_topics(settings, [settings.topics.deadletter])
    assert sorted((d.value, d.headers["reason"]) for d in letters) == sorted([
        (out_of_range, b"out_of_range:bpm"), (no_diastolic, b"missing_field:diastolic"),
        (b"garbage", b"not_hl7"),
    ])  # fmt: skip
    assert all(d.headers["source.topic"] == b"hl7" for d in letters)
    written = read_topics(settings, [settings.topics.heart_rate, settings.topics.temperature])
    assert [json.loads(r.value)["bpm"] for r in written] == [80.0]  # nothing of a refused one


def test_air_or_oxygen_and_consciousness_reach_their_topics(settings: Settings) -> None:
    news2 = oru([obx(SPO2, 91), obx(FIO2, 40), acvpu("LA9340-6^Alert^LN")], control_id="N1")
    alone = oru([obx(HR, 80), obx(FIO2, 35)], control_id="N2")
    unknown = oru([obx(HR, 80), acvpu("LA6561-0^Oriented^LN")], control_id="N3")
    with serving(settings) as served:
        answers = send(served.port, [news2, alone, unknown])
        metrics = served.metrics.registry
    assert [ack_code(a) for a in answers] == ["AA", "AA", "AR"]
    assert ack_text(answers[2]) == "unknown_answer:level of responsiveness LA6561-0"
    spo2 = read_topics(settings, [settings.topics.spo2])
    level = read_topics(settings, [settings.topics.consciousness])
    assert [(r.key, r.value) for r in spo2] == [(b"P-0042", b'{"patient_id": "P-0042", '
        b'"ts": "2026-11-25T14:00:00.000Z", "spo2": 91.0, "on_oxygen": true}')]  # fmt: skip
    assert [json.loads(r.value) for r in level] == [
        {"patient_id": "P-0042", "ts": "2026-11-25T14:00:00.000Z", "acvpu": "A"}
    ]
    letters = read_topics(settings, [settings.topics.deadletter])
    assert [(d.value, d.headers["reason"]) for d in letters] == [
        (unknown, b"unknown_answer:level of responsiveness LA6561-0")
    ]
    skipped = {"protocol": "hl7", "reason": "oxygen_alone"}
    assert metrics.get_sample_value("vitalwatch_gateway_observations_skipped_total", skipped) == 1
    written = {"protocol": "hl7", "signal": "consciousness"}
    assert metrics.get_sample_value("vitalwatch_gateway_readings_total", written) == 1
