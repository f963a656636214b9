"""Readings and dead letters as the Kafka records of the contract (``contracts.readings``)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from vitalwatch.contracts.alerts import iso_ms
from vitalwatch.contracts.readings import REASON_HEADER, SOURCE_HEADERS
from vitalwatch.gateway.oru import GatewayReading
from vitalwatch.settings import TopicSettings


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


def reading_record(reading: GatewayReading, topics: TopicSettings) -> Record:
    """The reading on its signal's topic, keyed by patient id."""
    body: dict[str, object] = {"patient_id": reading.patient_id, "ts": iso_ms(reading.ts_ms)}
    body.update(reading.values)
    if reading.device_id:
        body["device_id"] = reading.device_id
    key = reading.patient_id.encode()
    return Record(topics.reading(reading.signal), key, json.dumps(body).encode())


def dead_letter_record(original: bytes, reason: str, source: str, peer: str, topic: str) -> Record:
    """A refused message with its original bytes. The source headers of the stream's dead
    letters name a Kafka record; here ``source.topic`` names the protocol (``hl7``), partition
    and offset are -1 (none, as Kafka writes it), and ``source.peer`` is the sender's address."""
    where = (source, "-1", "-1")
    headers = [(REASON_HEADER, reason.encode())]
    headers += [(name, value.encode()) for name, value in zip(SOURCE_HEADERS, where, strict=True)]
    headers.append(("source.peer", peer.encode()))
    return Record(topic, None, original, tuple(headers))
