"""The notification service: alerts topic → alert store → dispatcher stages → receivers.

One thread consumes the alerts topic, stores each batch of alert messages durably and then
commits their offsets, and between polls runs the dispatcher's tick (groups, escalations,
silences). Sending runs on one worker thread per target URL (``deliver.TargetLanes``): a
receiver being retried delays only its own messages. The HTTP API runs beside them.
``NotificationService(settings, metrics)`` with ``start()``, ``stop()`` and
``is_alive()`` is what ``vitalwatch run`` supervises; ``vitalwatch notify serve`` runs it alone.
``load_routing()`` and ``use_routing()`` let the daemon replace the routing while it runs
(validated first; the dispatcher switches at its next tick, see ``Dispatcher.use_routing``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

import structlog
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, KafkaException, Message

from vitalwatch.contracts.alerts import Alert, AlertState
from vitalwatch.contracts.readings import REASON_HEADER, SOURCE_HEADERS
from vitalwatch.kafka_clients import make_consumer, make_producer
from vitalwatch.metrics import Metrics
from vitalwatch.notify.api import ApiServer, ack_link_maker, load_credentials, start_api
from vitalwatch.notify.config.routing_table import RoutingTable, load_routing_table
from vitalwatch.notify.dispatch import Dispatcher, Stages
from vitalwatch.notify.operations import Operations, state_file
from vitalwatch.notify.stages.deliver import TargetLanes
from vitalwatch.notify.stages.fallback import FailureHandler
from vitalwatch.notify.stages.send import Sender
from vitalwatch.notify.stores.acks import AckStore
from vitalwatch.notify.stores.alerts import AlertStore, Source, StoredAlert
from vitalwatch.notify.stores.audit import AuditLog
from vitalwatch.notify.stores.notification_log import NotificationLog
from vitalwatch.notify.stores.silences import Silencer, SilenceStore
from vitalwatch.settings import Settings

log = structlog.get_logger(__name__)

# Alert messages stored per poll: ingestion is cheap, delivery is what takes time, so drain
# what is there before each dispatcher tick.
BATCH = 500


def rule_descriptions(settings: Settings) -> dict[str, str]:
    """Rule id → description, for the templates; empty (and logged) if the rules won't load."""
    from vitalwatch.rules.loader import load_rules

    try:
        return {r.spec.id: r.spec.description for r in load_rules(settings.rules.directory)}
    except Exception as exc:  # descriptions are a courtesy: never stop notifications for them
        log.warning("notify.rule_descriptions_unavailable", error=f"{type(exc).__name__}: {exc}")
        return {}


class NotificationService:
    def __init__(
        self, settings: Settings, metrics: Metrics, environ: Mapping[str, str] | None = None
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        # Receiver URLs may name environment variables (urls_env): read here, at the boundary.
        self._environ = os.environ if environ is None else environ
        self.routing = self.load_routing()
        path = state_file(settings)
        self._log = NotificationLog(path)
        self.ops = Operations(
            AlertStore(path), AckStore(path), SilenceStore(path), AuditLog(path), metrics
        )
        self._producer = make_producer(settings)
        sender = Sender(metrics, settings.notify.max_attempts, settings.notify.retry_backoff)
        stages = Stages(
            routing=self.routing,
            silencer=Silencer(self.ops.silences),
            notification_log=self._log,
            alerts=self.ops.alerts,
            acks=self.ops.acks,
            audit=self.ops.audit,
            sender=sender,
            failures=FailureHandler(
                self.routing.fallback, sender, self._deadletter, metrics, self.ops.audit
            ),
            announce=self._announce,
        )
        credentials = load_credentials(settings.api)
        self._stop = threading.Event()
        self._lanes = TargetLanes(metrics)
        self.dispatcher = Dispatcher(
            stages, metrics, rule_descriptions(settings), ack_link_maker(settings.api, credentials),
            self._lanes, self._stop, settings.notify.open_alert_ttl,
        )  # fmt: skip
        self._api: ApiServer | None = None
        self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)
        self._describe(self.routing, "notify.configured")

    # -- routing --------------------------------------------------------------------------

    def load_routing(self) -> RoutingTable:
        """The routing file read and validated now (``ConfigError`` if it is not valid)."""
        return load_routing_table(self._settings.notify, self._environ)

    def use_routing(self, routing: RoutingTable) -> None:
        """Replace the running routing (thread-safe; in force from the dispatcher's next tick)."""
        self.dispatcher.use_routing(routing)
        self.routing = routing
        self._describe(routing, "routing.reloaded")

    @staticmethod
    def _describe(routing: RoutingTable, event: str) -> None:
        receivers = routing.receivers
        if not any(t.receivers for r in receivers.values() for t in r.tiers):
            log.warning("notify.no_receivers", hint="set VITALWATCH_NOTIFY__URLS or a routing file")
        log.info(
            event,
            routing=routing.source or "(embedded default)",
            receivers={n: [len(t.receivers) for t in r.tiers] for n, r in receivers.items()},
        )

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._api = start_api(self._settings.api, self.ops)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        started = time.monotonic()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._lanes.close(max(0.0, timeout - (time.monotonic() - started)))
        if self._api is not None:
            self._api.stop()
        self._producer.flush(10)
        self._log.close()
        self.ops.close()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    # -- the loop -------------------------------------------------------------------------

    def _run(self) -> None:
        consumer = make_consumer(self._settings, self._settings.notify.consumer_group)
        consumer.subscribe([self._settings.topics.alerts])
        tick_s = self._settings.notify.tick / 1000
        log.info("notify.started")
        next_tick = 0.0
        try:
            while not self._stop.is_set():
                wait = max(0.0, min(tick_s, next_tick - time.monotonic()))
                messages = consumer.consume(BATCH, wait)
                for message in messages:
                    self._take(message)
                if messages:  # every message of the batch is in the alert store now
                    consumer.commit(asynchronous=False)
                if time.monotonic() >= next_tick:
                    self.dispatcher.tick(time.time(), self._stop)
                    next_tick = time.monotonic() + tick_s
        except Exception:
            self._metrics.technical_alerts.labels("notifier").inc()
            log.exception("notify.crashed")
            raise
        finally:
            consumer.close()
            log.info("notify.stopped")

    def _take(self, message: Message) -> None:
        """Store one alert message durably (the caller commits its offset afterwards)."""
        error = message.error()
        if error is not None:
            self._metrics.errors.labels("notifier", "consume").inc()
            log.warning("notify.consume_error", error=str(error))
            if error.fatal():  # the consumer cannot go on: alerts would go unread
                self._metrics.technical_alerts.labels("notifier").inc()
                raise KafkaException(error)
            return
        source = Source(message.topic() or "", message.partition() or 0, message.offset() or 0)
        try:
            alert = Alert.from_message(json.loads(message.value() or b""))
        except (ValueError, KeyError, TypeError) as exc:
            log.error("notify.bad_alert_message", error=type(exc).__name__, offset=source.offset)
            self._metrics.technical_alerts.labels("notifier").inc()
            self._produce(message.key(), message.value(), "bad_alert_message", source)
            return
        if alert.state is AlertState.ESCALATED:
            return  # this service's own announcement (``_announce``), already acted on
        kind, written_ms = message.timestamp()  # the record's, for the latency stages
        written = written_ms / 1000 if kind != TIMESTAMP_NOT_AVAILABLE else None
        self.dispatcher.ingest(alert, source, time.time(), written)

    def _announce(self, alert: Alert) -> None:
        """Publish the notifier's state change to the alerts topic, for the systems that
        follow it (a ward dashboard, the EHR): at least once, as the dispatcher decided it."""
        try:
            self._producer.produce(
                self._settings.topics.alerts,
                key=alert.patient_id.encode(),
                value=alert.to_json(emitted_ms=int(time.time() * 1000)),
                on_delivery=self._announced,
            )
            self._producer.poll(0)
        except (BufferError, KafkaException) as exc:
            self._announced(exc, None)

    def _announced(self, error: object, _message: Message | None) -> None:
        if error is not None:  # the notification itself went out; the topic lacks the record
            self._metrics.errors.labels("notifier", "announce").inc()
            log.error("notify.announce_failed", error=str(error))

    def _deadletter(self, stored: StoredAlert, reason: str) -> None:
        value = stored.alert.to_json(emitted_ms=int(time.time() * 1000))
        self._produce(stored.alert.patient_id.encode(), value, reason, stored.source)

    def _produce(self, key: bytes | None, value: bytes | None, reason: str, source: Source) -> None:
        where = (source.topic, source.partition, source.offset)
        headers: list[tuple[str, Any]] = [(REASON_HEADER, reason.encode())] + [
            (name, str(v).encode()) for name, v in zip(SOURCE_HEADERS, where, strict=True)
        ]
        self._producer.produce(
            self._settings.topics.deadletter, key=key, value=value, headers=headers
        )
        self._producer.poll(0)
