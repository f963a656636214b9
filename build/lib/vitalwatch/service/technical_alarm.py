"""An internal failure raised as an alert: counted, logged, and published to the dead-letter topic.

DESIGN: "an internal failure is itself an alert (technical alarm), never silence". Operators
alert on ``vitalwatch_technical_alerts_total`` (monitoring/vitalwatch-rules.yaml); the log event
and the dead-letter message (reason header ``technical:<component>``, JSON body) say what
happened. Fields must never carry a patient identifier or a secret.
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

import structlog
from confluent_kafka import KafkaError, Message, Producer

from vitalwatch.contracts.alerts import iso_ms
from vitalwatch.contracts.readings import REASON_HEADER
from vitalwatch.metrics import Metrics

log = structlog.get_logger(__name__)

TECHNICAL_REASON_PREFIX = "technical:"
Headers = list[tuple[str, str | bytes | None]]


class Publish(Protocol):
    def __call__(self, key: bytes, value: bytes, headers: Headers) -> None: ...


class TechnicalAlarm:
    def __init__(self, metrics: Metrics, publish: Publish | None = None) -> None:
        self._metrics = metrics
        self._publish = publish

    def report(self, component: str, event: str, **fields: Any) -> None:
        self._metrics.technical_alerts.labels(component).inc()
        log.error(event, component=component, technical_alert=True, **fields)
        if self._publish is None:
            return
        body = {"technical_alert": event, "component": component,
                "at": iso_ms(int(time.time() * 1000)), **fields}  # fmt: skip
        try:
            self._publish(
                component.encode(),
                json.dumps(body, default=str).encode(),
                [(REASON_HEADER, f"{TECHNICAL_REASON_PREFIX}{component}".encode())],
            )
        except Exception as exc:  # the metric and the log event already carry the alarm
            self._metrics.errors.labels("technical_alarm", "publish").inc()
            log.error("technical_alarm.publish_failed", error=type(exc).__name__)


class KafkaPublish:
    """Publishes technical alarms to the dead-letter topic (asynchronously: a broker outage,
    maybe the failure itself, must not block the daemon)."""

    def __init__(self, producer: Producer, topic: str, metrics: Metrics) -> None:
        self._producer = producer
        self._topic = topic
        self._metrics = metrics

    def __call__(self, key: bytes, value: bytes, headers: Headers) -> None:
        self._producer.produce(
            self._topic, value=value, key=key, headers=headers, on_delivery=self._delivered
        )
        self._producer.poll(0)

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._metrics.errors.labels("technical_alarm", "publish").inc()
            log.error("technical_alarm.publish_failed", error=str(error))
