"""The HL7 gateway in this process on a real broker, a real MLLP client, and the topics read."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from hl7.mllp import open_hl7_connection
from prometheus_client import CollectorRegistry

from tests.conftest import free_port
from tests.integration.conftest import run_settings
from vitalwatch.gateway.mllp import Hl7Gateway
from vitalwatch.gateway.publish import KafkaPublisher
from vitalwatch.infra.broker import LocalBroker
from vitalwatch.kafka_clients import ensure_topics, make_consumer
from vitalwatch.metrics import Metrics
from vitalwatch.settings import Settings

READING_TOPICS = ("heart_rate", "blood_pressure", "spo2", "respiration", "temperature")


def gateway_settings(broker: LocalBroker, root: Path) -> Settings:
    """One test's settings: its own topics and gateway port."""
    settings = run_settings(broker, root)
    settings.gateway.port = free_port()
    return settings


@dataclass
class Served:
    gateway: Hl7Gateway
    metrics: Metrics
    port: int


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[Served]:
    """The gateway as ``vitalwatch gateway hl7`` runs it, on a thread of this process (its
    metrics and the broker's state are then at hand, and no process start per test)."""
    ensure_topics(settings)
    metrics = Metrics(CollectorRegistry())
    publisher = KafkaPublisher(settings)
    gateway = Hl7Gateway(settings, publisher, metrics)
    stop = threading.Event()
    thread = threading.Thread(target=asyncio.run, args=(gateway.serve(stop),), daemon=True)
    thread.start()
    assert gateway.listening.wait(10), "the gateway did not listen"
    try:
        yield Served(gateway, metrics, settings.gateway.port)
    finally:
        stop.set()
        thread.join(30)
        publisher.close(5)


async def _exchange(port: int, blocks: Sequence[bytes], timeout: float) -> list[bytes]:
    reader, writer = await open_hl7_connection("127.0.0.1", port)
    answers = []
    try:
        for block in blocks:
            writer.writeblock(block)
            await writer.drain()
            answers.append(await asyncio.wait_for(reader.readblock(), timeout))
    finally:
        writer.close()
        await writer.wait_closed()
    return answers


def send(port: int, blocks: Sequence[bytes], timeout: float = 30.0) -> list[bytes]:
    """Each block sent over one MLLP connection with the hl7 library's client, its ACK awaited
    before the next is sent, as a sender does."""
    return asyncio.run(_exchange(port, blocks, timeout))


def ack_code(answer: bytes) -> str:
    msa = next(s for s in answer.decode("latin-1").split("\r") if s.startswith("MSA"))
    return msa.split("|")[1]


def ack_text(answer: bytes) -> str:
    msa = next(s for s in answer.decode("latin-1").split("\r") if s.startswith("MSA"))
    fields = msa.split("|")
    return fields[3] if len(fields) > 3 else ""


@dataclass(frozen=True)
class Consumed:
    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]


def read_topics(settings: Settings, topics: Sequence[str], timeout: float = 30.0) -> list[Consumed]:
    """Every record in ``topics`` now: up to each partition's high watermark (what the gateway
    answered AA or AR for is there before the answer, so nothing more is to be waited for)."""
    consumer = make_consumer(settings, f"reader-{uuid.uuid4().hex[:8]}")
    metadata = consumer.list_topics(timeout=timeout)
    ends: dict[tuple[str, int], int] = {}
    for topic in topics:
        for partition in metadata.topics[topic].partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout)
            if high > 0:
                ends[(topic, partition)] = high
    consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in ends])
    got: list[Consumed] = []
    deadline = time.monotonic() + timeout
    try:
        while ends and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            where = (message.topic(), message.partition())
            if message.offset() + 1 >= ends.get(where, 0):
                ends.pop(where, None)
            headers = {k: v for k, v in (message.headers() or [])}
            got.append(Consumed(message.topic(), message.key(), message.value(), headers))
    finally:
        consumer.close()
    assert not ends, f"not read to the end within {timeout} s: {ends}"
    return got
