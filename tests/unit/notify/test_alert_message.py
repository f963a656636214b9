"""The notifier reads alert messages back exactly as the rules wrote them."""

import json
from dataclasses import replace

from vitalwatch.contracts.alerts import ALERT_CONTRACT_VERSION, Alert

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
