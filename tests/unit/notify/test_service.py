"""The service's intake: what it does with consumer errors and unreadable alert messages."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException
from prometheus_client import CollectorRegistry

from vitalwatch.metrics import Metrics
from vitalwatch.notify.service import NotificationService
from vitalwatch.settings import load_settings


class ErrorMessage:
    def __init__(self, error: KafkaError) -> None:
        self._error = error

    def error(self) -> KafkaError:
        return self._error


@pytest.fixture
def service(tmp_path: Path) -> Iterator[NotificationService]:
    settings = load_settings(
        state_dir=tmp_path,
        kafka={"bootstrap_servers": "127.0.0.1:1"},  # never reached by these tests
        rules={"directory": tmp_path},
        notify={"urls": ["console://"]},
    )
    started = NotificationService(settings, Metrics(CollectorRegistry()), environ={})
    yield started
    started.stop(timeout=1)


def metric(service: NotificationService, name: str, **labels: str) -> float:
    return service.ops.metrics.registry.get_sample_value(name, labels) or 0.0


def test_a_transient_consumer_error_is_counted_and_consumption_goes_on(service) -> None:
    service._take(ErrorMessage(KafkaError(KafkaError._TRANSPORT)))  # type: ignore[arg-type]
    assert metric(service, "vitalwatch_errors_total", component="notifier", kind="consume") == 1
    assert metric(service, "vitalwatch_technical_alerts_total", component="notifier") == 0


def test_a_fatal_consumer_error_is_a_technical_alert_and_ends_the_loop(service) -> None:
    fatal = KafkaError(KafkaError._FATAL, fatal=True)
    with pytest.raises(KafkaException):
        service._take(ErrorMessage(fatal))  # type: ignore[arg-type]
    assert metric(service, "vitalwatch_technical_alerts_total", component="notifier") == 1


def test_a_stopped_service_leaves_no_kafka_client_reconnecting(tmp_path: Path, capfd) -> None:
    """After a stop, nothing of the notifier's keeps trying its brokers (an open producer logged
    'Connect to ipv4#127.0.0.1:1 failed' for as long as the test run lasted)."""
    settings = load_settings(
        state_dir=tmp_path,
        kafka={"bootstrap_servers": "127.0.0.1:1"},
        rules={"directory": tmp_path},
        notify={"urls": ["console://"]},
    )
    service = NotificationService(settings, Metrics(CollectorRegistry()), environ={})
    time.sleep(1.0)
    service.stop(timeout=1)
    capfd.readouterr()
    time.sleep(3.0)  # librdkafka retries a refused connection within a second
    assert "127.0.0.1:1" not in capfd.readouterr().err
    assert service is not None  # held until here, as a fixture holds it
