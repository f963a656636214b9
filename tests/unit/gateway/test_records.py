"""Gateway readings as Kafka records: the contract's JSON, key and dead-letter headers."""

from __future__ import annotations

import json
import re

from vitalwatch.contracts.readings import (
    ISO_TIME_PATTERN,
    JSON_NUMBER_PATTERN,
    PATIENT_ID_PATTERN,
    Signal,
)
from vitalwatch.gateway.oru import GatewayReading
from vitalwatch.gateway.records import dead_letter_record, reading_record
from vitalwatch.settings import TopicSettings

TOPICS = TopicSettings()


def test_a_heart_rate_is_the_contracts_message_keyed_by_patient() -> None:
    reading = GatewayReading(Signal.HEART_RATE, "P-0042", 1_795_615_200_250, {"bpm": 88.0}, "m7")
    record = reading_record(reading, TOPICS)
    assert (record.topic, record.key) == ("vitals.heart_rate", b"P-0042")
    body = json.loads(record.value)
    assert body == {"patient_id": "P-0042", "ts": "2026-11-25T14:00:00.250Z", "bpm": 88.0,
                    "device_id": "m7"}  # fmt: skip
    assert re.match(ISO_TIME_PATTERN, body["ts"]) and re.match(
        PATIENT_ID_PATTERN, body["patient_id"]
    )
    assert re.match(JSON_NUMBER_PATTERN, json.dumps(body["bpm"]))


def test_each_signal_goes_to_its_topic() -> None:
    topics = {
        Signal.BLOOD_PRESSURE: "vitals.blood_pressure", Signal.SPO2: "vitals.spo2",
        Signal.RESPIRATION: "vitals.respiration",
        Signal.TEMPERATURE: "vitals.temperature", Signal.CONSCIOUSNESS: "vitals.consciousness",
    }  # fmt: skip
    for signal, topic in topics.items():
        record = reading_record(GatewayReading(signal, "P-1", 0, {"x": 1.0}), TOPICS)
        assert record.topic == topic
        assert "device_id" not in json.loads(record.value)


def test_on_oxygen_is_a_json_boolean_and_acvpu_a_letter() -> None:
    on_air = GatewayReading(Signal.SPO2, "P-1", 0, {"spo2": 95.0, "on_oxygen": False}, "oxi")
    on_oxygen = GatewayReading(Signal.SPO2, "P-1", 0, {"spo2": 91.0, "on_oxygen": True})
    assert reading_record(on_air, TOPICS).value == (
        b'{"patient_id": "P-1", "ts": "1970-01-01T00:00:00.000Z", "spo2": 95.0, '
        b'"on_oxygen": false, "device_id": "oxi"}'
    )
    assert json.loads(reading_record(on_oxygen, TOPICS).value)["on_oxygen"] is True
    level = reading_record(GatewayReading(Signal.CONSCIOUSNESS, "P-1", 0, {"acvpu": "V"}), TOPICS)
    assert (level.topic, level.key) == ("vitals.consciousness", b"P-1")
    assert json.loads(level.value) == {"patient_id": "P-1", "ts": "1970-01-01T00:00:00.000Z",
                                       "acvpu": "V"}  # fmt: skip


def test_a_dead_letter_keeps_the_original_bytes_and_says_where_from() -> None:
    record = dead_letter_record(b"MSH|bad\xff", "wrong_type:time", "hl7", "10.0.0.5:4100", "dl")
    assert (record.topic, record.key, record.value) == ("dl", None, b"MSH|bad\xff")
    assert dict(record.headers) == {
        "reason": b"wrong_type:time", "source.topic": b"hl7", "source.partition": b"-1",
        "source.offset": b"-1", "source.peer": b"10.0.0.5:4100",
    }  # fmt: skip
