"""The notifier's delivery step: retries with backoff, the notification log, failure counting."""

from __future__ import annotations

import threading
from pathlib import Path

from prometheus_client import CollectorRegistry

from vitalwatch.metrics import Metrics
from vitalwatch.notify.log import NotificationLog
from vitalwatch.notify.notifier import Notifier, render
from vitalwatch.settings import load_settings
from vitalwatch.testing import RecordingReceiver

from .test_log_and_render import ALERT


def notifier(
    tmp_path: Path, receiver: RecordingReceiver
) -> tuple[Notifier, Metrics, NotificationLog]:
    settings = load_settings(
        state_dir=tmp_path,
        kafka={"bootstrap_servers": "127.0.0.1:1"},  # never contacted by the delivery step
        notify={"max_attempts": 3, "retry_backoff": "1ms"},
    )
    metrics = Metrics(CollectorRegistry())
    log = NotificationLog(tmp_path / "n.sqlite")
    return Notifier(settings, [receiver], log, metrics), metrics, log


def count(metrics: Metrics, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "vitalwatch_notifications_total", {"receiver": "recording", "outcome": outcome}
    )
    return value or 0.0


def test_a_transient_failure_is_retried_and_recorded(tmp_path: Path) -> None:
    receiver = RecordingReceiver(failures=2)
    delivery, metrics, log = notifier(tmp_path, receiver)
    title, body = render(ALERT)
    assert delivery._deliver(receiver, ALERT, title, body, threading.Event()) is True
    assert receiver.attempts == 3 and receiver.sent == [(title, body)]
    assert (count(metrics, "retried"), count(metrics, "sent"), count(metrics, "failed")) == (
        2,
        1,
        0,
    )
    assert log.delivered(ALERT.alert_id, "firing", receiver.key)


def test_a_receiver_that_stays_down_is_counted_as_failed_not_recorded(tmp_path: Path) -> None:
    receiver = RecordingReceiver(failures=-1)
    delivery, metrics, log = notifier(tmp_path, receiver)
    title, body = render(ALERT)
    assert delivery._deliver(receiver, ALERT, title, body, threading.Event()) is False
    assert receiver.attempts == 3
    assert count(metrics, "failed") == 1
    assert (
        metrics.registry.get_sample_value(
            "vitalwatch_technical_alerts_total", {"component": "notifier"}
        )
        == 1
    )
    assert not log.delivered(ALERT.alert_id, "firing", receiver.key)


def test_stopping_during_backoff_leaves_the_alert_for_redelivery(tmp_path: Path) -> None:
    receiver = RecordingReceiver(failures=-1)
    delivery, metrics, _ = notifier(tmp_path, receiver)
    stop = threading.Event()
    stop.set()
    assert delivery._deliver(receiver, ALERT, "t", "b", stop) is None
    assert receiver.attempts == 1 and count(metrics, "failed") == 0
