"""The notifier reads alert messages back exactly as the rules wrote them."""

import json
import uuid
from dataclasses import replace

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from vitalwatch.contracts.alerts import ALERT_CONTRACT_VERSION, Alert, alert_id, iso_ms

from .harness import alert


def test_alert_message_roundtrip() -> None:
    a = alert()
    message = json.loads(a.to_json(emitted_ms=1_795_615_261_000))
    assert message["alert_id"] == a.alert_id and message["version"] == ALERT_CONTRACT_VERSION
    assert Alert.from_message(message) == a


def test_released_ms_travels_in_the_message_and_an_unusable_one_is_ignored() -> None:
    a = replace(alert(), released_ms=1_795_615_261_500)
    message = json.loads(a.to_json(emitted_ms=1_795_615_261_000))
    assert message["version"] == 3 and message["released_ms"] == 1_795_615_261_500
    assert Alert.from_message(message).released_ms == 1_795_615_261_500
    for unusable in ("soon", None, True, 1.5):  # a timing field never makes a bad message
        assert Alert.from_message({**message, "released_ms": unusable}).released_ms is None
    del message["released_ms"]  # a version-2 message
    assert Alert.from_message(message).released_ms is None


def test_the_processors_released_time_is_written_in_place_of_the_alerts_own() -> None:
    a = replace(alert(), released_ms=1)
    message = json.loads(a.to_json(emitted_ms=1_795_615_261_000, released_ms=1_795_615_261_500))
    assert message["released_ms"] == 1_795_615_261_500
    assert {**message, "released_ms": 1} == json.loads(a.to_json(1_795_615_261_000))


@given(st.text(min_size=1), st.text(min_size=1), st.integers(-(2**63), 2**63 - 1))
def test_alert_id_is_the_uuid5_of_rule_patient_and_onset(
    rule: str, patient: str, onset: int
) -> None:
    namespace = uuid.UUID("6f1c1f8e-6a3c-4a58-9b1e-5d0e2f7c4a11")  # contract: ids never change
    expected = uuid.uuid5(namespace, f"{rule}\x1f{patient}\x1f{onset}")
    assert alert_id(rule, patient, onset) == str(expected)


def test_numpy_numbers_in_an_alert_encode_as_plain_numbers() -> None:
    plain = replace(alert(), values={"heart_rate": 131.5}, repeat=2)
    numpy = replace(plain, values={"heart_rate": np.float64(131.5)}, repeat=np.int64(2))
    assert numpy.to_json(emitted_ms=1_795_615_261_000) == plain.to_json(1_795_615_261_000)
    assert json.loads(numpy.to_json(emitted_ms=1_795_615_261_000))["values"] == {
        "heart_rate": 131.5
    }


def test_times_are_written_to_the_exact_millisecond() -> None:
    assert iso_ms(0) == "1970-01-01T00:00:00.000Z"
    assert iso_ms(1_795_615_261_999) == "2026-11-25T14:01:01.999Z"
    assert iso_ms(-1) == "1969-12-31T23:59:59.999Z"
