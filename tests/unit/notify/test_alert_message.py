"""The notifier reads alert messages back exactly as the rules wrote them."""

import json

from vitalwatch.contracts.alerts import ALERT_CONTRACT_VERSION, Alert

from .harness import alert


def test_alert_message_roundtrip() -> None:
    a = alert()
    message = json.loads(a.to_json(emitted_ms=1_795_615_261_000))
    assert message["alert_id"] == a.alert_id and message["version"] == ALERT_CONTRACT_VERSION
    assert Alert.from_message(message) == a
