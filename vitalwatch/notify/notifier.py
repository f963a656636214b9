"""Consume the alerts topic and deliver each alert to every receiver, at least once, no duplicates.

For each alert message: skip receivers the notification log says already have it; send to the
others with retries and backoff; record each success; commit the Kafka offset only when every
receiver has it or has definitively failed. A crash before the commit re-reads the message and
the log keeps receivers that already have it from getting it twice. A receiver that still fails
after ``max_attempts`` is counted, logged and written to the dead-letter topic (a technical
alert) rather than blocking every later alert.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import structlog
from confluent_kafka import Message

from vitalwatch.contracts.alerts import Alert, AlertState, iso_ms
from vitalwatch.contracts.readings import REASON_HEADER, SOURCE_HEADERS
from vitalwatch.kafka_clients import make_consumer, make_producer
from vitalwatch.metrics import Metrics
from vitalwatch.notify.log import NotificationLog
from vitalwatch.notify.receivers import Receiver
from vitalwatch.settings import Settings

log = structlog.get_logger(__name__)

ADVISORY = "Advisory notice from vitalwatch: check the patient and the bedside monitor."


def render(alert: Alert) -> tuple[str, str]:
    title = f"[{alert.severity.value.upper()}] {alert.state.value}: {alert.rule_id}"
    values = ", ".join(f"{k} {v:g}" for k, v in sorted(alert.values.items()))
    body = (
        f"{alert.summary}\n"
        f"Patient {alert.patient_id}, bed {alert.labels.get('bed', '?')}, "
        f"ward {alert.labels.get('ward', '?')}\n"
        f"Onset {iso_ms(alert.onset_ms)}; detected {iso_ms(alert.detected_ms)}; values: {values}\n"
        f"Alert id {alert.alert_id}\n{ADVISORY}"
    )
    return title, body


class Notifier:
    def __init__(
        self,
        settings: Settings,
        receivers: list[Receiver],
        notification_log: NotificationLog,
        metrics: Metrics,
    ) -> None:
        self._settings = settings
        self._receivers = receivers
        self._log = notification_log
        self._metrics = metrics
        self._producer = make_producer(settings)

    def run(self, stop: threading.Event) -> None:
        consumer = make_consumer(self._settings, self._settings.notify.consumer_group)
        consumer.subscribe([self._settings.topics.alerts])
        log.info("notify.started", receivers=[r.name for r in self._receivers])
        try:
            while not stop.is_set():
                message = consumer.poll(0.5)
                if message is None:
                    continue
                if message.error():
                    self._metrics.errors.labels("notifier", "consume").inc()
                    log.warning("notify.consume_error", error=str(message.error()))
                    continue
                if self._handle(message, stop):
                    consumer.commit(message=message, asynchronous=False)
        finally:
            consumer.close()
            self._producer.flush(10)
            log.info("notify.stopped")

    def _handle(self, message: Message, stop: threading.Event) -> bool:
        """Deliver one alert message; False when interrupted (leave it for redelivery)."""
        try:
            alert = Alert.from_message(json.loads(message.value() or b""))
        except (ValueError, KeyError, TypeError) as exc:
            log.error("notify.bad_alert_message", error=type(exc).__name__, offset=message.offset())
            self._metrics.technical_alerts.labels("notifier").inc()
            self._deadletter(message, "bad_alert_message")
            return True
        if alert.state is AlertState.RESOLVED and not self._settings.notify.notify_resolved:
            return True
        title, body = render(alert)
        for receiver in self._receivers:
            if self._log.delivered(alert.alert_id, alert.state.value, receiver.key):
                self._metrics.notifications.labels(receiver.service, "duplicate").inc()
                log.info(
                    "notify.duplicate_skipped", alert_id=alert.alert_id, receiver=receiver.name
                )
                continue
            outcome = self._deliver(receiver, alert, title, body, stop)
            if outcome is None:
                return False
            if not outcome:
                self._deadletter(message, f"notification_failed:{receiver.service}")
        return True

    def _deliver(
        self, receiver: Receiver, alert: Alert, title: str, body: str, stop: threading.Event
    ) -> bool | None:
        notify = self._settings.notify
        for attempt in range(1, notify.max_attempts + 1):
            started = time.monotonic()
            try:
                ok = receiver.send(title, body)
            except Exception as exc:  # a receiver bug must not stop delivery to the others
                log.error("notify.receiver_error", receiver=receiver.name, error=type(exc).__name__)
                ok = False
            if ok:
                self._log.record(alert.alert_id, alert.state.value, receiver.key)
                self._metrics.delivery_latency.observe(time.monotonic() - started)
                self._metrics.event_to_notification.observe(
                    max(0.0, time.time() - alert.detected_ms / 1000)
                )
                self._metrics.notifications.labels(receiver.service, "sent").inc()
                log.info(
                    "notify.sent",
                    alert_id=alert.alert_id,
                    rule=alert.rule_id,
                    state=alert.state.value,
                    receiver=receiver.name,
                    attempt=attempt,
                )
                return True
            self._metrics.notifications.labels(receiver.service, "retried").inc()
            log.warning("notify.attempt_failed", receiver=receiver.name, attempt=attempt)
            if attempt < notify.max_attempts and stop.wait(
                notify.retry_backoff / 1000 * 2 ** (attempt - 1)
            ):
                return None
        self._metrics.notifications.labels(receiver.service, "failed").inc()
        self._metrics.technical_alerts.labels("notifier").inc()
        log.error(
            "notify.failed", alert_id=alert.alert_id, rule=alert.rule_id, receiver=receiver.name
        )
        return False

    def _deadletter(self, message: Message, reason: str) -> None:
        source = (message.topic() or "", message.partition(), message.offset())
        headers: list[tuple[str, Any]] = [(REASON_HEADER, reason.encode())] + [
            (name, str(value).encode()) for name, value in zip(SOURCE_HEADERS, source, strict=True)
        ]
        self._producer.produce(
            self._settings.topics.deadletter,
            key=message.key(),
            value=message.value(),
            headers=headers,
        )
        self._producer.poll(0)
