"""The notifier's own failure paths, with in-memory doubles of the consumer and the producer
(pure loop logic; the broker-backed versions are in tests/integration/test_faults_notifier.py):
a commit that fails, and a dead-letter write the broker does not confirm."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, KafkaError, KafkaException, TopicPartition
from prometheus_client import CollectorRegistry

from tests.unit.notify.harness import alert
from vitalwatch.metrics import Metrics
from vitalwatch.notify import service as service_module
from vitalwatch.notify.service import NotificationService
from vitalwatch.notify.stores.alerts import Source, StoredAlert
from vitalwatch.settings import load_settings

TOPIC = "alerts"


class FakeMessage:
    def __init__(self, offset: int, value: bytes) -> None:
        self._offset, self._value = offset, value

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return TIMESTAMP_CREATE_TIME, 1_795_615_200_000


class FakeConsumer:
    """One partition of ``values``, read from a position that ``seek`` moves; the first
    ``failing_commits`` commits fail (reported as the broker would: an exception for a
    synchronous commit, an ``on_commit`` error for an asynchronous one)."""

    def __init__(self, values: list[bytes], failing_commits: int, on_commit: Any) -> None:
        self.values, self.failing = values, failing_commits
        self.on_commit = on_commit
        self.position = 0
        self.commits: list[int | None] = []  # offsets asked for (None: the current position)
        self.committed = 0
        self.seeks: list[int] = []
        self._results: list[tuple[KafkaError | None, list[TopicPartition]]] = []
        self._lock = threading.Lock()

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        pass

    def consume(self, count: int, timeout: float) -> list[FakeMessage]:
        with self._lock:
            results, self._results = self._results, []
        for result in results:
            self.on_commit(*result)
        with self._lock:
            batch = [FakeMessage(o, v) for o, v in enumerate(self.values)][self.position :]
            self.position = len(self.values)
        if not batch:
            time.sleep(min(timeout, 0.01))
        return batch

    def commit(self, offsets: list[TopicPartition] | None = None, asynchronous: bool = True) -> Any:
        offset = offsets[0].offset if offsets else None
        self.commits.append(offset)
        failed = len(self.commits) <= self.failing
        error = KafkaError(KafkaError._TRANSPORT) if failed else None
        if not asynchronous:
            if failed:
                raise KafkaException(error)
            self.committed = self.position
            return None
        with self._lock:
            parts = [TopicPartition(TOPIC, 0, offset if offset is not None else self.position)]
            self._results.append((error, parts))
            if not failed:
                self.committed = parts[0].offset
        return None

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(TOPIC, 0)]

    def seek(self, partition: TopicPartition) -> None:
        with self._lock:
            self.seeks.append(partition.offset)
            self.position = partition.offset

    def close(self) -> None:
        pass


class FakeProducer:
    """Records what is produced; ``poll`` reports each write, the first ``failing`` dead
    letters as failed (as librdkafka does once a message's timeout has passed with the broker
    away); technical alarms, published to the same topic, are confirmed."""

    def __init__(self, failing: int = 0) -> None:
        self.failing = failing
        self.produced: list[dict[str, Any]] = []
        self._pending: list[tuple[bool, Callable[..., None] | None]] = []
        self._lock = threading.Lock()

    def produce(self, topic: str, on_delivery: Any = None, **message: Any) -> None:
        with self._lock:
            self.produced.append({"topic": topic, **message})
            alarm = message["headers"][0][1].startswith(b"technical:")
            self._pending.append((alarm, on_delivery))

    def poll(self, timeout: float = 0) -> int:
        with self._lock:
            pending, self._pending = self._pending, []
        for alarm, report in pending:
            failed = self.failing > 0 and not alarm
            self.failing -= failed
            if report is not None:
                report(KafkaError(KafkaError._MSG_TIMED_OUT) if failed else None, None)
        return len(pending)

    def flush(self, timeout: float = 0) -> int:
        self.poll()
        return 0

    def __len__(self) -> int:
        return len(self._pending)


@pytest.fixture
def producer(monkeypatch: pytest.MonkeyPatch) -> FakeProducer:
    fake = FakeProducer()
    monkeypatch.setattr(service_module, "make_producer", lambda settings, **extra: fake)
    return fake


@pytest.fixture
def service(tmp_path: Path, producer: FakeProducer) -> Iterator[NotificationService]:
    settings = load_settings(
        state_dir=tmp_path,
        kafka={"bootstrap_servers": "127.0.0.1:1"},  # never reached: the clients are doubles
        rules={"directory": tmp_path},
        notify={"urls": ["console://"], "tick": "20ms"},
        topics={"alerts": TOPIC},
    )
    made = NotificationService(settings, Metrics(CollectorRegistry()), environ={})
    yield made
    made.stop(timeout=1)


def run_with(
    service: NotificationService,
    monkeypatch: pytest.MonkeyPatch,
    values: list[bytes],
    failing_commits: int = 0,
) -> tuple[FakeConsumer, threading.Thread]:
    """The notifier's loop on a FakeConsumer of ``values``, in a thread."""
    made: list[FakeConsumer] = []

    def make_consumer(settings: Any, group: str, **extra: Any) -> FakeConsumer:
        made.append(FakeConsumer(values, failing_commits, extra.get("on_commit")))
        return made[0]

    monkeypatch.setattr(service_module, "make_consumer", make_consumer)
    thread = threading.Thread(target=service._run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not made and time.monotonic() < deadline:
        time.sleep(0.01)
    return made[0], thread


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def metric(service: NotificationService, name: str, **labels: str) -> float:
    return service.ops.metrics.registry.get_sample_value(name, labels) or 0.0


def alert_value(patient: str) -> bytes:
    return alert(patient=patient).to_json(emitted_ms=0)


def test_a_failing_commit_is_retried_with_backoff_and_alarmed_and_the_loop_goes_on(
    service: NotificationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer, thread = run_with(service, monkeypatch, [alert_value("P-1")], failing_commits=3)
    try:
        wait_until(lambda: consumer.committed == 1)  # the fourth attempt: 0.5 + 1 + 2 s later
        assert thread.is_alive()
        assert len(consumer.commits) == 4
        assert metric(service, "vitalwatch_notifier_commit_failures_total") == 3
        # One technical alarm for the streak, not one per attempt.
        assert metric(service, "vitalwatch_technical_alerts_total", component="notifier") == 1
        consumer.values.append(alert_value("P-2"))  # consumption and commits go on
        wait_until(lambda: consumer.committed == 2)
        assert service.ops.alerts.get(alert(patient="P-2").alert_id) is not None
    finally:
        service._stop.set()
        thread.join(5)


def test_an_unreadable_message_is_committed_only_once_its_dead_letter_is_confirmed(
    service: NotificationService, producer: FakeProducer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dead letter is the unreadable message's only copy: its first write fails, so the
    offset stays uncommitted, the consumer reads the message again and writes it again."""
    producer.failing = 1
    consumer, thread = run_with(service, monkeypatch, [b"not json", alert_value("P-1")])
    try:
        wait_until(lambda: consumer.committed == 2)
        letters = [p for p in producer.produced if p["topic"] == service._settings.topics.deadletter
                   and p["value"] == b"not json"]  # fmt: skip
        assert len(letters) == 2  # the failed write, and the confirmed one
        assert 0 in consumer.seeks  # read again from the unreadable message
        assert all(c == 0 for c in consumer.commits[:-1]), consumer.commits  # never past it
        failures = "vitalwatch_deadletter_failures_total"
        assert metric(service, failures, reason="bad_alert_message") == 1
        assert metric(service, "vitalwatch_technical_alerts_total", component="notifier") >= 1
    finally:
        service._stop.set()
        thread.join(5)


def test_a_fallback_dead_letter_the_broker_does_not_confirm_is_alarmed_and_written_again(
    service: NotificationService, producer: FakeProducer, monkeypatch: pytest.MonkeyPatch
) -> None:
    producer.failing = 2
    _consumer, thread = run_with(service, monkeypatch, [])
    stored = StoredAlert(alert(patient="P-1"), 0.0, Source(TOPIC, 0, 7))
    try:
        service._deadletter(stored, "notification_failed:json")

        def letters() -> list[dict[str, Any]]:  # (the technical alarm is published there too)
            return [p for p in producer.produced if p["headers"][0][1].startswith(b"notif")]

        wait_until(lambda: len(letters()) >= 3 and not len(producer))
        time.sleep(1)  # a further write, if any, would be here by now
        assert [p["headers"][0][1] for p in letters()] == [b"notification_failed:json"] * 3
        failures = "vitalwatch_deadletter_failures_total"
        assert metric(service, failures, reason="notification_failed") == 2
        assert metric(service, "vitalwatch_technical_alerts_total", component="notifier") == 1
        assert thread.is_alive()
    finally:
        service._stop.set()
        thread.join(5)


def test_at_a_stop_what_is_stored_is_committed_before_the_consumer_closes(
    service: NotificationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer, thread = run_with(service, monkeypatch, [alert_value("P-1")], failing_commits=1)
    wait_until(lambda: len(consumer.commits) == 1)  # failed; the next try is 0.5 s away
    service._stop.set()
    thread.join(5)
    assert consumer.commits == [1, 1] and consumer.committed == 1
