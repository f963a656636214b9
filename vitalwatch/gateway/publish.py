"""Produce records and wait until the brokers have them: what a gateway needs before it
acknowledges a message to its sender.

The producer is the project's idempotent one (``kafka_clients.make_producer``: acks=all,
``enable.idempotence``) with ``message.timeout.ms`` set to the delivery timeout, so librdkafka
gives up on a record about when the gateway stops waiting for it. ``publish`` returns once every
record's delivery report is a success and raises ``DeliveryFailed`` otherwise: a report with an
error, no report in time, or a record the producer would not take. A failed ``publish`` may
still have written some of its records (or write them later): the sender, answered with an
error, sends the message again, so a reading may be written twice but never acknowledged and
lost. Delivery reports come on a polling thread and are handed to the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from functools import partial

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from vitalwatch.gateway.records import Record
from vitalwatch.kafka_clients import close_producer, make_producer
from vitalwatch.settings import Settings

# Past the producer's own message timeout: its failure report normally comes first.
_REPORT_GRACE_S = 2.0
_POLL_S = 0.1


class DeliveryFailed(Exception):
    """Records not confirmed by the brokers; ``str()`` is the reason for the sender."""


class KafkaPublisher:
    def __init__(self, settings: Settings) -> None:
        timeout_ms = settings.gateway.delivery_timeout
        self._producer: Producer = make_producer(settings, **{"message.timeout.ms": timeout_ms})
        self._wait_s = timeout_ms / 1000 + _REPORT_GRACE_S
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="gateway-producer", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stopping.is_set():
            self._producer.poll(_POLL_S)

    async def publish(self, records: Sequence[Record]) -> None:
        loop = asyncio.get_running_loop()
        reports: list[asyncio.Future[None]] = []
        for record in records:
            report: asyncio.Future[None] = loop.create_future()
            reports.append(report)
            try:
                self._producer.produce(
                    record.topic, key=record.key, value=record.value, headers=list(record.headers),
                    on_delivery=partial(_reported, loop, report),
                )  # fmt: skip
            except (BufferError, KafkaException) as exc:
                _cancel(reports)
                raise DeliveryFailed(f"not taken by the producer ({exc})") from None
        try:
            await asyncio.wait_for(asyncio.gather(*reports), self._wait_s)
        except asyncio.TimeoutError:  # not TimeoutError before Python 3.11
            raise DeliveryFailed(f"no delivery report within {self._wait_s:g} s") from None
        finally:
            _cancel(reports)

    def close(self, timeout_s: float) -> None:
        """Deliver what is queued (up to ``timeout_s``), then stop the polling thread."""
        self._stopping.set()
        self._poller.join()
        close_producer(self._producer, timeout_s)


def _reported(
    loop: asyncio.AbstractEventLoop,
    report: asyncio.Future[None],
    error: KafkaError | None,
    _message: Message | None,
) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits for the report
        loop.call_soon_threadsafe(_settle, report, error)


def _settle(report: asyncio.Future[None], error: KafkaError | None) -> None:
    if report.done():  # the wait for it ended
        return
    if error is None:
        report.set_result(None)
    else:
        report.set_exception(DeliveryFailed(f"delivery failed ({error.str()})"))


def _cancel(reports: list[asyncio.Future[None]]) -> None:
    for report in reports:
        if not report.done():
            report.cancel()
        elif not report.cancelled():
            report.exception()  # retrieved: no "exception never retrieved" warning
