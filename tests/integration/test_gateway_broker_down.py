"""The HL7 gateway while its broker is stopped and started again: a message is answered AA
only once Kafka has its readings, so every AA'd message's readings are on the topics after the
restart; messages sent while the broker is down are answered AE (the sender sends them again),
never AA; a malformed one is answered AE until its dead letter is written, then AR."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import new_broker
from tests.integration.gateway_rig import ack_code, gateway_settings, read_topics, send, serving
from tests.unit.gateway.messages import HR, obx, oru
from vitalwatch.infra.broker import LocalBroker
from vitalwatch.infra.java import Java
from vitalwatch.settings import Settings

pytestmark = pytest.mark.integration

DELIVERY_TIMEOUT_MS = 1000
RECOVERY_S = 60.0


@pytest.fixture(scope="module")
def broker(
    tmp_path_factory: pytest.TempPathFactory, java: Java, base_settings: Settings
) -> Iterator[LocalBroker]:
    """A broker for this module alone: its test stops it."""
    own = new_broker(tmp_path_factory.mktemp("gateway-kafka"), java, base_settings)
    own.start()
    yield own
    own.stop()


MALFORMED = oru([obx(HR, 999)], patient="P-9999", control_id="BAD")


def message(n: int) -> bytes:
    """Message n: one heart rate of its own patient, so the topic tells which arrived."""
    return oru([obx(HR, 60 + n)], patient=f"P-{n:04d}", control_id=f"M{n}")


def send_until_accepted(port: int, n: int, attempts: list[tuple[int, str]]) -> None:
    """As a sender does: the same message again after each AE, until it is taken."""
    deadline = time.monotonic() + RECOVERY_S
    while time.monotonic() < deadline:
        (answer,) = send(port, [message(n)])
        attempts.append((n, ack_code(answer)))
        if attempts[-1][1] == "AA":
            return
    raise AssertionError(f"message {n} not taken within {RECOVERY_S} s: {attempts}")


def test_no_message_is_acknowledged_and_lost_while_the_broker_is_down(
    broker: LocalBroker, tmp_path: Path
) -> None:
    settings = gateway_settings(broker, tmp_path)
    settings.gateway.delivery_timeout = DELIVERY_TIMEOUT_MS
    before, down, after = [0, 1], [2, 3, 4], [5, 6, 7]
    attempts: list[tuple[int, str]] = []
    with serving(settings) as served:
        for n in before:
            send_until_accepted(served.port, n, attempts)
        broker.stop()
        started = time.monotonic()
        answers = send(served.port, [message(n) for n in down] + [MALFORMED])
        # None taken, each told to send it again; the malformed one too: its dead letter is
        # not written, and AR would tell the sender to drop a message nobody has.
        assert [ack_code(a) for a in answers] == ["AE"] * 4
        assert time.monotonic() - started < 4 * (DELIVERY_TIMEOUT_MS / 1000 + 3)
        broker.start()
        for n in down + after:
            send_until_accepted(served.port, n, attempts)
        (refused,) = send(served.port, [MALFORMED])
        not_written = served.metrics.registry.get_sample_value(
            "vitalwatch_gateway_messages_total",
            {"protocol": "hl7", "outcome": "failed", "reason": "not_written"},
        )
    assert not_written is not None and not_written >= 3
    assert ack_code(refused) == "AR"
    letters = read_topics(settings, [settings.topics.deadletter])
    assert {(d.value, d.headers["reason"]) for d in letters} == {(MALFORMED, b"out_of_range:bpm")}
    accepted = {n for n, code in attempts if code == "AA"}
    assert accepted == set(before + down + after)
    records = read_topics(settings, [settings.topics.heart_rate])
    on_topic = {r.key: json.loads(r.value)["bpm"] for r in records}
    # Every acknowledged message is there, with its value (an AE'd attempt may be there too:
    # at least once, never lost).
    assert on_topic == {f"P-{n:04d}".encode(): 60.0 + n for n in accepted}
