"""The notifier's dead letters, each written with a delivery report."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from functools import partial
from typing import Any

import structlog
from confluent_kafka import KafkaException, Message, Producer

from vitalwatch.contracts.readings import REASON_HEADER, SOURCE_HEADERS
from vitalwatch.metrics import Metrics
from vitalwatch.notify.intake.backoff import Backoff
from vitalwatch.notify.intake.offsets import Offsets
from vitalwatch.notify.stores.alerts import Source
from vitalwatch.service.technical_alarm import TechnicalAlarm

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, Any]]
    reason: str  # the metric label: the reason header up to its first ':'
    source: Source
    held: bool  # the only copy of a consumed message: its offset waits for the report


def dead_letter(
    key: bytes | None, value: bytes | None, reason: str, source: Source, held: bool
) -> DeadLetter:
    where = (source.topic, source.partition, source.offset)
    headers: list[tuple[str, Any]] = [(REASON_HEADER, reason.encode())] + [
        (name, str(v).encode()) for name, v in zip(SOURCE_HEADERS, where, strict=True)
    ]
    return DeadLetter(key, value, headers, reason.split(":", 1)[0], source, held)


class DeadLetters:
    """The notifier's dead letters, each written with a delivery report.

    One that stands for a consumed alert message nobody can read (``held``) is that message's
    only copy: its offset is not committed until the broker confirms the write, and a failed
    write rewinds the consumer to the message, which is read and dead-lettered again. One from
    the fallback stage is a copy of an alert that is in the alert store and whose failed
    delivery is in the notification log; a failed write is written again after a backoff until
    the broker has it. Every failed write is counted
    (``vitalwatch_deadletter_failures_total{reason}``); the first of a streak is a technical
    alarm. Reports arrive on any thread; ``settle`` acts on them in the notifier's.
    """

    def __init__(
        self,
        producer: Producer,
        topic: str,
        offsets: Offsets,
        metrics: Metrics,
        alarm: TechnicalAlarm,
    ) -> None:
        self._producer, self._topic, self._offsets = producer, topic, offsets
        self._metrics, self._alarm = metrics, alarm
        self._reports: queue.SimpleQueue[tuple[DeadLetter, str | None]] = queue.SimpleQueue()
        self._again: list[DeadLetter] = []
        self._backoff = Backoff()
        self._lock = threading.Lock()
        self._unconfirmed = 0  # written, no report yet

    def write(self, letter: DeadLetter) -> None:
        source = letter.source
        if letter.held:
            self._offsets.hold((source.topic, source.partition), source.offset)
        with self._lock:
            self._unconfirmed += 1
        try:
            self._producer.produce(
                self._topic, key=letter.key, value=letter.value, headers=letter.headers,
                on_delivery=partial(self._reported, letter),
            )  # fmt: skip
            self._producer.poll(0)
        except (BufferError, KafkaException) as exc:
            self._reported(letter, exc, None)

    def _reported(self, letter: DeadLetter, error: object, _message: Message | None) -> None:
        with self._lock:
            self._unconfirmed -= 1
        source = letter.source
        if letter.held:
            self._offsets.confirmed((source.topic, source.partition), source.offset, error is None)
        self._reports.put((letter, None if error is None else str(error)))

    def settle(self, now: float) -> None:
        """Count and alarm the failed writes reported since the last call; write again those
        whose backoff is over."""
        while True:
            try:
                letter, error = self._reports.get_nowait()
            except queue.Empty:
                break
            if error is None:
                if self._backoff.succeeded():
                    log.info("notify.deadletter_recovered")
                continue
            self._metrics.deadletter_failures.labels(letter.reason).inc()
            if not letter.held:
                self._again.append(letter)
            if self._backoff.failed(now):
                self._alarm.report(
                    "notifier", "notify.deadletter_failed", reason=letter.reason, error=error,
                    source=str(letter.source), hint="written again with backoff until the "
                    "broker confirms it; the alert is in the notifier's alert store",
                )  # fmt: skip
            else:
                log.warning("notify.deadletter_retry_failed", reason=letter.reason, error=error)
        if self._again and self._backoff.due(now):
            again, self._again = self._again, []
            for letter in again:
                self.write(letter)

    def unwritten(self) -> int:
        """Dead letters not confirmed (in the producer, failed, or waiting to be written again);
        called at a stop, after the producer's flush."""
        failed = 0
        while True:
            try:
                _, error = self._reports.get_nowait()
            except queue.Empty:
                break
            failed += error is not None
        with self._lock:
            return self._unconfirmed + failed + len(self._again)
