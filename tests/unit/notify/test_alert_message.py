from pathlib import Path

from vitalwatch.contracts.alerts import ALERT_CONTRACT_VERSION, Alert, AlertState, Severity
from vitalwatch.notify.log import NotificationLog
from vitalwatch.notify.notifier import ADVISORY, render

ALERT = Alert(
    rule_id="tachycardia-sustained",
    patient_id="P-0042",
    severity=Severity.HIGH,
    state=AlertState.FIRING,
    onset_ms=1_795_615_200_000,
    detected_ms=1_795_615_260_000,
    values={"bpm": 142.0},
    summary="HR 142/min above 130 for 1m - bed 12",
    labels={"bed": "12", "ward": "ICU-A"},
)


def test_log_survives_reopening_and_is_per_state_and_receiver(tmp_path: Path) -> None:
    path = tmp_path / "n.sqlite"
    log = NotificationLog(path)
    log.record("a1", "firing", "r1")
    log.record("a1", "firing", "r1")  # idempotent
    log.close()
    reopened = NotificationLog(path)
    assert reopened.delivered("a1", "firing", "r1")
    assert not reopened.delivered("a1", "resolved", "r1")
    assert not reopened.delivered("a1", "firing", "r2")


def test_render_has_what_a_clinician_needs() -> None:
    title, body = render(ALERT)
    assert title == "[HIGH] firing: tachycardia-sustained"
    for expected in ("bed 12", "ward ICU-A", "P-0042", "bpm 142", ALERT.alert_id, ADVISORY):
        assert expected in body
    assert "detected 2026-11-25T14:01:00.000Z" in body


def test_alert_message_roundtrip() -> None:
    import json

    message = json.loads(ALERT.to_json(emitted_ms=1_795_615_261_000))
    assert message["alert_id"] == ALERT.alert_id and message["version"] == ALERT_CONTRACT_VERSION
    assert Alert.from_message(message) == ALERT
