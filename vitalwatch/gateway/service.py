"""``vitalwatch gateway hl7``: the MLLP listener, its producer and the metrics endpoint.

Start: topics (created if missing, as the other commands do), the HTTP endpoint (``/metrics``;
``/readyz`` fails while the listener is down or the broker does not answer), the listener.
SIGTERM or Ctrl-C: the listener closes, messages being handled get their answer, connections
close, the producer delivers what it holds, the process exits 0.
"""

from __future__ import annotations

import asyncio
import threading

import structlog

from vitalwatch.gateway.mllp import Hl7Gateway
from vitalwatch.gateway.publish import KafkaPublisher
from vitalwatch.kafka_clients import ensure_topics
from vitalwatch.metrics import Metrics
from vitalwatch.service.health import BrokerProbe, Check
from vitalwatch.service.http import HttpEndpoint
from vitalwatch.settings import Settings

log = structlog.get_logger(__name__)

PRODUCER_CLOSE_S = 30.0


class GatewayHealth:
    def __init__(self, gateway: Hl7Gateway, broker: BrokerProbe) -> None:
        self._gateway, self._broker = gateway, broker

    def liveness(self) -> list[Check]:
        listening = self._gateway.listening.is_set()
        return [Check("listener", listening, "listening" if listening else "not listening")]

    def readiness(self) -> list[Check]:
        return [*self.liveness(), self._broker()]


def run_hl7_gateway(settings: Settings, stop: threading.Event) -> int:
    ensure_topics(settings)
    metrics = Metrics()
    publisher = KafkaPublisher(settings)
    gateway = Hl7Gateway(settings, publisher, metrics)
    http = HttpEndpoint(
        settings.http.host, settings.http.port, metrics.registry,
        GatewayHealth(gateway, BrokerProbe(settings)),
    )  # fmt: skip
    http.start()
    log.info("http.listening", host=settings.http.host, port=http.port)
    try:
        asyncio.run(gateway.serve(stop))
    finally:
        publisher.close(PRODUCER_CLOSE_S)
        http.stop()
    return 0
