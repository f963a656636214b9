"""The gateways in this process on a real broker: the HL7 listener with a real MLLP client, the
FHIR endpoint with a real HTTP client (urllib); and the topics read back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from hl7.mllp import open_hl7_connection
from prometheus_client import CollectorRegistry

from tests.conftest import free_port
from tests.integration.conftest import run_settings
from vitalwatch.gateway.fhir_api import FhirApp
from vitalwatch.gateway.mllp import Hl7Gateway
from vitalwatch.gateway.publish import KafkaPublisher
from vitalwatch.infra.broker import LocalBroker
from vitalwatch.kafka_clients import ensure_topics, make_consumer
from vitalwatch.metrics import Metrics
from vitalwatch.notify.api.credentials import load_credentials
from vitalwatch.notify.api.server import ApiServer
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


FHIR_TOKEN = "fhir-test-token-0123456789"


def with_token(settings: Settings, root: Path) -> Settings:
    """The FHIR endpoint's credentials (``FHIR_TOKEN``) and a free port for it."""
    tokens = root / "tokens"
    tokens.write_text(f"monitor-gateway:{FHIR_TOKEN}\n")
    settings.api = settings.api.model_copy(update={"tokens_file": tokens, "port": 0})
    return settings


@contextlib.contextmanager
def serving_fhir(settings: Settings, create_topics: bool = True) -> Iterator[str]:
    """The endpoint as ``vitalwatch gateway fhir`` serves it, in this process; its base URL."""
    if create_topics:
        ensure_topics(settings)
    publisher = KafkaPublisher(settings)
    credentials = load_credentials(settings.api)
    assert credentials is not None
    app = FhirApp(settings, publisher, Metrics(CollectorRegistry()), credentials)
    server = ApiServer(settings.api, app.starlette())
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()
        publisher.close(5)


def post(
    url: str, body: bytes, token: str | None = FHIR_TOKEN, media: str = "application/fhir+json"
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": media}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


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
