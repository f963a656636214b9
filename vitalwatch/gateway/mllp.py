"""The MLLP listener: one HL7 message per block, each answered with an ACK once its fate is
sealed.

Per message, in order (a connection's messages one at a time, as MLLP senders wait for each
answer, so a patient's readings reach Kafka in the order they were sent):

- readings written, every one confirmed by the brokers: AA;
- not ORU^R01: AR, nothing written;
- malformed (``oru.Malformed``): the original bytes to the dead-letter topic with the reason;
  once confirmed AR, else AE (the sender sends it again; nothing refused is lost either);
- Kafka did not confirm every reading in ``gateway.delivery_timeout``: AE.

A block that does not start as MLLP frames it (no start byte) is answered AR; one longer than
``gateway.max_message_bytes``, or cut off, ends its connection. On stop the listener closes, the
messages being handled get their answer (up to the delivery timeout), then connections close.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import traceback
from dataclasses import dataclass

import structlog
from hl7.mllp import HL7StreamReader, HL7StreamWriter, InvalidBlockError, start_hl7_server

from vitalwatch.errors import InfrastructureError
from vitalwatch.gateway import oru
from vitalwatch.gateway.ack import (
    APPLICATION_INTERNAL_ERROR,
    ERROR_CODES,
    SEGMENT_SEQUENCE_ERROR,
    UNSUPPORTED_MESSAGE_TYPE,
    AckCode,
    ack,
)
from vitalwatch.gateway.publish import DeliveryFailed, KafkaPublisher
from vitalwatch.gateway.records import dead_letter_record, reading_record
from vitalwatch.metrics import Metrics
from vitalwatch.settings import Settings

log = structlog.get_logger(__name__)

PROTOCOL = "hl7"
_STOP_POLL_S = 0.2


@dataclass(frozen=True)
class Answer:
    code: AckCode
    outcome: str  # accepted, rejected, failed: the metric's outcome
    reason: str = ""  # the metric's reason ("" when accepted)
    error: int | None = None  # HL7 table 0357
    text: str = ""  # the ACK's MSA-3: the reason and what it was about


class Hl7Gateway:
    def __init__(self, settings: Settings, publisher: KafkaPublisher, metrics: Metrics) -> None:
        self._settings, self._publisher, self._metrics = settings, publisher, metrics
        self._busy: dict[asyncio.Task[None], bool] = {}  # connection -> handling a message
        self.listening = threading.Event()

    async def handle(self, block: bytes, peer: str) -> bytes:
        """The answer to one message, after its readings or its dead letter are in Kafka."""
        received = time.monotonic()
        message = None
        try:
            message = oru.parse(block)
            now_ms = int(time.time() * 1000)
            mapped = oru.readings(message, now_ms, self._settings.rules.max_clock_skew)
        except oru.NotOruR01 as exc:
            answer = Answer(
                AckCode.REJECT,
                "rejected",
                "not_oru_r01",
                UNSUPPORTED_MESSAGE_TYPE,
                f"not_oru_r01: only ORU^R01 is taken, not {exc}",
            )
        except oru.Malformed as exc:
            answer = await self._dead_letter(block, exc, peer)
        else:
            answer = await self._write(mapped)
        self._count(answer, peer)
        reply = ack(message, answer.code, answer.text, answer.error)
        elapsed = time.monotonic() - received
        self._metrics.gateway_ack_latency.labels(PROTOCOL, answer.code.value).observe(elapsed)
        return reply

    async def _write(self, mapped: oru.Mapped) -> Answer:
        topics = self._settings.topics
        try:
            await self._publisher.publish([reading_record(r, topics) for r in mapped.readings])
        except DeliveryFailed as exc:
            return Answer(
                AckCode.ERROR,
                "failed",
                "not_written",
                APPLICATION_INTERNAL_ERROR,
                f"not_written: {exc}; send it again",
            )
        for reading in mapped.readings:
            self._metrics.gateway_readings.labels(PROTOCOL, reading.signal.value).inc()
        for reason, count in mapped.skipped.items():
            self._metrics.gateway_skipped.labels(PROTOCOL, reason).inc(count)
        return Answer(AckCode.ACCEPT, "accepted")

    async def _dead_letter(self, block: bytes, exc: oru.Malformed, peer: str) -> Answer:
        letter = dead_letter_record(
            block, exc.reason, PROTOCOL, peer, self._settings.topics.deadletter
        )
        try:
            await self._publisher.publish([letter])
        except DeliveryFailed as failed:
            return Answer(
                AckCode.ERROR,
                "failed",
                "dead_letter_not_written",
                APPLICATION_INTERNAL_ERROR,
                f"{exc.reason}; dead letter not written: {failed}; send it again",
            )
        return Answer(
            AckCode.REJECT, "rejected", exc.refusal.value, ERROR_CODES[exc.refusal], exc.reason
        )

    def _count(self, answer: Answer, peer: str) -> None:
        self._metrics.gateway_messages.labels(PROTOCOL, answer.outcome, answer.reason).inc()
        if answer.code is AckCode.ACCEPT:
            return
        event = "gateway.refused" if answer.code is AckCode.REJECT else "gateway.not_written"
        log.warning(
            event,
            protocol=PROTOCOL,
            peer=peer,
            ack=answer.code.value,
            reason=answer.reason,
            text=answer.text,
        )

    async def serve(self, stop: threading.Event) -> None:
        """Listen on ``gateway.host:gateway.port`` until ``stop`` is set."""
        config = self._settings.gateway
        try:
            server = await start_hl7_server(
                self._connection, config.host, config.port, limit=config.max_message_bytes
            )
        except OSError as exc:
            raise InfrastructureError(
                f"the HL7 gateway cannot listen on {config.host}:{config.port} ({exc.strerror}); "
                "set VITALWATCH_GATEWAY__HOST and VITALWATCH_GATEWAY__PORT"
            ) from None
        log.info("gateway.listening", protocol=PROTOCOL, host=config.host, port=config.port)
        self.listening.set()
        while not stop.is_set():
            await asyncio.sleep(_STOP_POLL_S)
        server.close()
        self.listening.clear()
        await self._drain()

    async def _drain(self) -> None:
        """Let the messages being handled get their answers, then close every connection."""
        deadline = time.monotonic() + self._settings.gateway.delivery_timeout / 1000 + 5
        while any(self._busy.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        connections = list(self._busy)
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        log.info("gateway.stopped", protocol=PROTOCOL, connections=len(connections))

    async def _connection(self, reader: HL7StreamReader, writer: HL7StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._busy[task] = False
        address = writer.get_extra_info("peername")
        peer = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
        gauge = self._metrics.gateway_connections.labels(PROTOCOL)
        gauge.inc()
        log.info("gateway.connected", protocol=PROTOCOL, peer=peer)
        try:
            await self._exchange(reader, writer, task, peer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            del self._busy[task]
            gauge.dec()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            log.info("gateway.disconnected", protocol=PROTOCOL, peer=peer)

    async def _exchange(
        self,
        reader: HL7StreamReader,
        writer: HL7StreamWriter,
        task: asyncio.Task[None],
        peer: str,
    ) -> None:
        while True:
            try:
                block = await reader.readblock()
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    self._ended(peer, "incomplete_block", len(exc.partial))
                return
            except ValueError:  # over the limit: no boundary to go on from
                self._ended(peer, "block_too_large", self._settings.gateway.max_message_bytes)
                return
            except InvalidBlockError:
                answer = Answer(
                    AckCode.REJECT,
                    "rejected",
                    "not_mllp",
                    SEGMENT_SEQUENCE_ERROR,
                    "not_mllp: the block does not start with the MLLP start byte 0x0b",
                )
                self._count(answer, peer)
                writer.writeblock(ack(None, answer.code, answer.text, answer.error))
                await writer.drain()
                continue
            self._busy[task] = True
            try:
                writer.writeblock(await self._answer(block, peer))
                await writer.drain()
            finally:
                self._busy[task] = False

    async def _answer(self, block: bytes, peer: str) -> bytes:
        try:
            return await self.handle(block, peer)
        except Exception as exc:  # a bug must not end the listener: the sender is told to retry
            # Where, not the exception's text: that may quote the message (a patient id).
            where = traceback.extract_tb(exc.__traceback__)[-1]
            log.error("gateway.internal_error", protocol=PROTOCOL, peer=peer,
                      error=type(exc).__name__, at=f"{where.filename}:{where.lineno}")  # fmt: skip
            self._metrics.gateway_messages.labels(PROTOCOL, "failed", "internal_error").inc()
            return ack(None, AckCode.ERROR, "internal_error", APPLICATION_INTERNAL_ERROR)

    def _ended(self, peer: str, reason: str, size: int) -> None:
        self._metrics.gateway_messages.labels(PROTOCOL, "rejected", reason).inc()
        log.warning(
            "gateway.connection_ended", protocol=PROTOCOL, peer=peer, reason=reason, bytes=size
        )
