"""The Quix Streams peer's parsing: the query's readings and dead-letter reasons."""

from __future__ import annotations

import json

import pytest

from bench.peer_parse import Invalid, parse_reading
from vitalwatch.contracts.readings import Reading, Signal

HR, BP = Signal.HEART_RATE, Signal.BLOOD_PRESSURE


def _parse(signal: Signal, fields: dict[str, object], key: bytes = b"P-0042") -> Reading:
    patient_id, reading = parse_reading(signal, key, json.dumps(fields).encode())
    assert patient_id == "P-0042"
    return reading


def test_readings_with_epoch_or_iso_time_and_the_mean_computed_when_absent() -> None:
    hr = _parse(HR, {"patient_id": "P-0042", "ts": 1_764_133_200_250, "bpm": 88})
    assert hr == Reading(HR, 1_764_133_200_250, {"bpm": 88.0})
    bp = _parse(BP, {"patient_id": "P-0042", "ts": "2025-11-26T05:00:00.250Z",
                     "systolic": 120, "diastolic": 75})  # fmt: skip
    assert bp == Reading(BP, 1_764_133_200_250, {"systolic": 120.0, "diastolic": 75.0,
                                                 "mean": 90.0})  # fmt: skip


@pytest.mark.parametrize(
    ("signal", "value", "key", "reason"),
    [
        (HR, b"\xff\xfe", b"P-0042", "not_utf8"),
        (HR, b'{"patient_id": "P-0042", "ts"', b"P-0042", "not_json"),
        (HR, b'{"patient_id": "P-0042", "ts": 1}', b"P-0042", "missing_field:bpm"),
        (HR, b'{"patient_id": "P 42", "ts": 1, "bpm": 80}', b"P 42", "bad_patient_id"),
        (HR, b'{"patient_id": "P-0042", "ts": 1, "bpm": 80}', b"P-WRONG", "key_mismatch"),
        (HR, b'{"patient_id": "P-0042", "ts": "noon", "bpm": 80}', b"P-0042", "wrong_type:ts"),
        (HR, b'{"patient_id": "P-0042", "ts": 1, "bpm": "high"}', b"P-0042", "wrong_type:bpm"),
        (HR, b'{"patient_id": "P-0042", "ts": 1, "bpm": 999}', b"P-0042", "out_of_range:bpm"),
        (BP, b'{"patient_id": "P-0042", "ts": 1, "systolic": 999, "diastolic": "x"}', b"P-0042",
         "out_of_range:systolic"),
        (BP, b'{"patient_id": "P-0042", "ts": 1, "systolic": 70, "diastolic": 90}', b"P-0042",
         "out_of_range:diastolic above systolic"),
    ],
)  # fmt: skip
def test_the_first_failing_check_gives_the_reason(
    signal: Signal, value: bytes, key: bytes, reason: str
) -> None:
    with pytest.raises(Invalid) as invalid:
        parse_reading(signal, key, value)
    assert invalid.value.reason == reason
