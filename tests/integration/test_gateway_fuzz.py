"""Fuzz of the HL7 gateway through its real MLLP listener and broker: 120 generated blocks
(``tests.fuzz.hl7_messages``) over one connection. Each gets an ACK, the one the mapping
decides (AA for readings, AR for a refusal, never AE with the broker up); every malformed one
is on the dead-letter topic with its original bytes; the listener still takes a good message
afterwards. And a block without the MLLP start byte is answered AR on a connection that goes
on."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest
from hl7.mllp import open_hl7_connection
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.config_mutations import HYPOTHESIS
from tests.fuzz.hl7_messages import blocks
from tests.integration.gateway_rig import ack_code, gateway_settings, read_topics, send, serving
from tests.unit.gateway.messages import vitals
from vitalwatch.gateway.oru import Malformed, NotOruR01, parse, readings
from vitalwatch.infra.broker import LocalBroker
from vitalwatch.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.fuzz]

BATCHES, PER_BATCH = 12, 10
MLLP_END = b"\x1c\r"


@pytest.fixture
def gateway(kafka: LocalBroker, tmp_path: Path) -> Settings:
    return gateway_settings(kafka, tmp_path)


def expected(block: bytes, skew_ms: int) -> str:
    """What the mapping alone makes of a block: readings (AA), refused (malformed: dead
    letter; not_oru: none)."""
    try:
        readings(parse(block), int(time.time() * 1000), skew_ms)
    except Malformed:
        return "malformed"
    except NotOruR01:
        return "not_oru"
    return "readings"


def test_generated_blocks_through_the_listener(gateway: Settings) -> None:
    sent: list[tuple[bytes, str, str]] = []
    skew = gateway.rules.max_clock_skew
    framed = blocks().filter(lambda b: MLLP_END not in b)  # an end marker inside splits it
    with serving(gateway) as served:

        @settings(HYPOTHESIS, max_examples=BATCHES)
        @given(st.lists(framed, min_size=PER_BATCH, max_size=PER_BATCH))
        def exchange(batch: list[bytes]) -> None:
            answers = send(served.port, batch)
            sent.extend(
                (b, expected(b, skew), ack_code(a)) for b, a in zip(batch, answers, strict=True)
            )

        exchange()
        (last,) = send(served.port, [vitals()])
        assert ack_code(last) == "AA"
    kinds = Counter(kind for _, kind, _ in sent)
    assert kinds["malformed"] and kinds["readings"], kinds
    for block, kind, code in sent:
        assert code == ("AA" if kind == "readings" else "AR"), (block, kind, code)
    malformed = Counter(b for b, kind, _ in sent if kind == "malformed")
    letters = read_topics(gateway, [gateway.topics.deadletter])
    assert Counter(d.value for d in letters) == malformed


async def _raw(port: int, data: bytes, then: bytes) -> tuple[bytes, bytes]:
    reader, writer = await open_hl7_connection("127.0.0.1", port)
    writer.write(data)
    first = await asyncio.wait_for(reader.readblock(), 10)
    writer.writeblock(then)
    second = await asyncio.wait_for(reader.readblock(), 10)
    writer.close()
    await writer.wait_closed()
    return first, second


def test_a_block_without_start_byte_is_refused_and_the_connection_goes_on(
    gateway: Settings,
) -> None:
    with serving(gateway) as served:
        first, second = asyncio.run(_raw(served.port, b"hello" + MLLP_END, vitals()))
    assert (ack_code(first), ack_code(second)) == ("AR", "AA")
    assert b"not_mllp" in first


async def _oversized(port: int, size: int) -> bytes:
    reader, writer = await open_hl7_connection("127.0.0.1", port)
    writer.writeblock(b"MSH|" + b"x" * size)
    rest = await asyncio.wait_for(reader.read(), 10)  # b"": closed without an answer
    writer.close()
    return rest


def test_a_block_over_the_limit_ends_its_connection(gateway: Settings) -> None:
    gateway.gateway.max_message_bytes = 1024
    with serving(gateway) as served:
        assert asyncio.run(_oversized(served.port, 5000)) == b""
        (answer,) = send(served.port, [vitals()])  # a new connection is served
        ended = served.metrics.registry.get_sample_value(
            "vitalwatch_gateway_messages_total",
            {"protocol": "hl7", "outcome": "rejected", "reason": "block_too_large"},
        )
    assert (ack_code(answer), ended) == ("AA", 1)
