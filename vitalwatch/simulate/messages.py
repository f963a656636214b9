"""A simulated message, and the one paced publisher every source uses."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

import structlog

from vitalwatch.contracts.readings import Signal
from vitalwatch.kafka_clients import make_producer
from vitalwatch.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Message:
    offset_ms: int  # simulated time since the start of the source
    signal: Signal
    key: bytes | None
    value: bytes
    fault: str | None = None  # the malformation injected on purpose, if any
    # The Kafka record's timestamp (CreateTime), epoch ms; None: when it is produced. A source
    # whose simulated clock runs faster than the wall clock stamps its records with their event
    # time, as a gateway that publishes each reading when it is measured would: the query
    # dead-letters readings stamped far ahead of their record (``rules.max_clock_skew``).
    timestamp_ms: int | None = None


def publish(
    messages: Iterable[Message],
    settings: Settings,
    speed: float = 1.0,
    stop: threading.Event | None = None,
) -> int:
    """Produce ``messages`` (in offset order) to the signal topics, paced at ``speed`` x real time.

    ``speed=0`` publishes as fast as possible. Returns the number of messages produced.
    """
    stop = stop or threading.Event()
    producer = make_producer(settings, **{"linger.ms": 20})
    started = time.monotonic()
    count = 0
    for message in messages:
        if speed > 0:
            delay = started + message.offset_ms / 1000 / speed - time.monotonic()
            if delay > 0 and stop.wait(delay):
                break
        elif stop.is_set():
            break
        while True:
            try:
                producer.produce(
                    settings.topics.reading(message.signal),
                    key=message.key,
                    value=message.value,
                    timestamp=message.timestamp_ms or 0,  # 0: librdkafka stamps it when produced
                )
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
        count += 1
    producer.flush(30)
    log.info("simulate.published", messages=count)
    return count
