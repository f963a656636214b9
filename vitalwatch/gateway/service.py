"""``vitalwatch gateway hl7`` and ``vitalwatch gateway fhir``: the listener (MLLP, or the FHIR
endpoint on the API's server), its producer and the metrics endpoint.

Start: topics (created if missing, as the other commands do), the HTTP endpoint (``/metrics``;
``/readyz`` fails while the listener is down or the broker does not answer), the listener.
SIGTERM or Ctrl-C: the listener closes, messages being handled get their answer, connections
close, the producer delivers what it holds, the process exits 0.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import structlog

from vitalwatch.errors import ConfigError
from vitalwatch.gateway.fhir_api import FhirApp
from vitalwatch.gateway.mllp import Hl7Gateway
from vitalwatch.gateway.publish import KafkaPublisher
from vitalwatch.kafka_clients import ensure_topics
from vitalwatch.metrics import Metrics
from vitalwatch.notify.api.credentials import load_credentials
from vitalwatch.notify.api.server import ApiServer
from vitalwatch.service.health import BrokerProbe, Check
from vitalwatch.service.http import HttpEndpoint
from vitalwatch.settings import Settings

log = structlog.get_logger(__name__)

PRODUCER_CLOSE_S = 30.0


class GatewayHealth:
    def __init__(self, listening: Callable[[], bool], broker: BrokerProbe) -> None:
        self._listening, self._broker = listening, broker

    def liveness(self) -> list[Check]:
        listening = self._listening()
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
        GatewayHealth(gateway.listening.is_set, BrokerProbe(settings)),
    )  # fmt: skip
    http.start()
    log.info("http.listening", host=settings.http.host, port=http.port)
    try:
        asyncio.run(gateway.serve(stop))
    finally:
        publisher.close(PRODUCER_CLOSE_S)
        http.stop()
    return 0


def run_fhir_gateway(settings: Settings, stop: threading.Event) -> int:
    """The FHIR endpoint on ``api.host:gateway.fhir_port``, with the API's credentials, TLS and
    limits; until ``stop``."""
    credentials = load_credentials(settings.api)
    if credentials is None:
        raise ConfigError(
            "the FHIR endpoint needs API credentials: set api.tokens_file "
            "(VITALWATCH_API__TOKENS_FILE) to a file of name:token lines"
        )
    ensure_topics(settings)
    metrics = Metrics()
    publisher = KafkaPublisher(settings)
    app = FhirApp(settings, publisher, metrics, credentials)
    server = ApiServer(settings.api.model_copy(update={"port": settings.gateway.fhir_port}),
                       app.starlette())  # fmt: skip
    http = HttpEndpoint(
        settings.http.host, settings.http.port, metrics.registry,
        GatewayHealth(server.is_alive, BrokerProbe(settings)),
    )  # fmt: skip
    try:
        server.start()
        http.start()
        log.info("gateway.listening", protocol="fhir", host=server.host, port=server.port)
        stop.wait()
    finally:
        server.stop()
        publisher.close(PRODUCER_CLOSE_S)
        http.stop()
    return 0
