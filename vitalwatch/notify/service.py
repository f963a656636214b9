"""The notification service: alerts topic → alert store → dispatcher stages → receivers.

One thread consumes the alerts topic, stores each batch of alert messages durably and then
commits their offsets, and between polls runs the dispatcher's tick (groups, escalations,
silences). Sending runs on one worker thread per target URL (``stages.deliver.TargetLanes``): a
receiver being retried delays only its own messages. The HTTP API runs beside them.
``NotificationService(settings, metrics)`` with ``start()``, ``stop()`` and
``is_alive()`` is what ``vitalwatch run`` supervises; ``vitalwatch notify serve`` runs it alone.
``load_routing()`` and ``use_routing()`` let the daemon replace the routing while it runs
(validated first; the dispatcher switches at its next tick, see ``Dispatcher.use_routing``).

The notifier outlives the failures of its own dependencies, each alarmed and retried with
backoff (README, "When the notifier's own dependencies fail"): a failed offset commit (commits
are asynchronous, so a broker that does not answer never holds up the dispatcher), a dead letter
the broker does not confirm, a state file that refuses writes (the alert is not committed, is
read again, and the fallback receiver is told of it). ``vitalwatch.notify.intake`` keeps what
may be committed, the dead letters and their backoff.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Mapping

import structlog
from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from vitalwatch.contracts.alerts import Alert, AlertState
from vitalwatch.kafka_clients import close_producer, make_consumer, make_producer
from vitalwatch.metrics import Metrics
from vitalwatch.notify.api import ApiServer, ack_link_maker, load_credentials, start_api
from vitalwatch.notify.config.receivers import Receiver
from vitalwatch.notify.config.routing_table import RoutingTable, load_routing_table
from vitalwatch.notify.config.templates import Context, render, render_technical
from vitalwatch.notify.dispatch import Dispatcher, Stages
from vitalwatch.notify.intake.backoff import Backoff
from vitalwatch.notify.intake.deadletters import DeadLetters, dead_letter
from vitalwatch.notify.intake.offsets import Offsets, Part
from vitalwatch.notify.operations import Operations, state_file
from vitalwatch.notify.stages.deliver import TargetLanes
from vitalwatch.notify.stages.fallback import FailureHandler
from vitalwatch.notify.stages.send import Sender
from vitalwatch.notify.stores.acks import AckStore
from vitalwatch.notify.stores.alerts import AlertStore, Source, StoredAlert
from vitalwatch.notify.stores.audit import AuditLog
from vitalwatch.notify.stores.notification_log import NotificationLog
from vitalwatch.notify.stores.silences import Silencer, SilenceStore
from vitalwatch.service.technical_alarm import KafkaPublish, TechnicalAlarm
from vitalwatch.settings import Settings

log = structlog.get_logger(__name__)

# Alert messages stored per poll: ingestion is cheap, delivery is what takes time, so drain
# what is there before each dispatcher tick.
BATCH = 500
# An asynchronous commit with no result this long is counted as failed (and sent again).
COMMIT_STALL_S = 15.0


def rule_descriptions(settings: Settings) -> dict[str, str]:
    """Rule id → description, for the templates; empty (and logged) if the rules won't load."""
    from vitalwatch.rules.loader import load_rules

    try:
        return {r.spec.id: r.spec.description for r in load_rules(settings.rules.directory)}
    except Exception as exc:  # descriptions are a courtesy: never stop notifications for them
        log.warning("notify.rule_descriptions_unavailable", error=f"{type(exc).__name__}: {exc}")
        return {}


class _Unstored(Exception):
    """An alert message read but not stored: the state file refused it."""

    def __init__(self, alert: Alert) -> None:
        super().__init__(alert.alert_id)
        self.alert = alert


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    return f"{type(cause).__name__}: {cause}"


def _seek(consumer: Consumer, part: Part, offset: int) -> bool:
    try:
        consumer.seek(TopicPartition(part[0], part[1], offset))
    except KafkaException as exc:
        log.warning("notify.rewind_failed", partition=part[1], offset=offset, error=str(exc))
        return False
    return True


class NotificationService:
    def __init__(
        self, settings: Settings, metrics: Metrics, environ: Mapping[str, str] | None = None
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        # Receiver URLs may name environment variables (urls_env): read here, at the boundary.
        self._environ = os.environ if environ is None else environ
        self.routing = self.load_routing()
        path = self._state_path = state_file(settings)
        self._log = NotificationLog(path)
        self.ops = Operations(
            AlertStore(path), AckStore(path), SilenceStore(path), AuditLog(path), metrics
        )
        self._producer = make_producer(settings)
        self._alarm = TechnicalAlarm(
            metrics, KafkaPublish(self._producer, settings.topics.deadletter, metrics)
        )
        self._offsets = Offsets()
        self._deadletters = DeadLetters(
            self._producer, settings.topics.deadletter, self._offsets, metrics, self._alarm
        )
        self._committing: float | None = None  # when the commit awaiting its result was sent
        self._commit_retry, self._store_retry, self._tick_retry = Backoff(), Backoff(), Backoff()
        sender = Sender(metrics, settings.notify.max_attempts, settings.notify.retry_backoff)
        self._sender = sender
        self._told: set[tuple[str, str]] = set()  # unstored alerts handed to the fallback
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
        self._stopped = False
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
        """Drain and close everything; a second call does nothing (its clients are closed)."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        started = time.monotonic()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._lanes.close(max(0.0, timeout - (time.monotonic() - started)))
        if self._api is not None:
            self._api.stop()
        self._producer.flush(10)
        unwritten = self._deadletters.unwritten()
        if unwritten:
            self._alarm.report("notifier", "notify.deadletters_unwritten", count=unwritten)
        close_producer(self._producer, 10)
        self._log.close()
        self.ops.close()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    # -- the loop -------------------------------------------------------------------------

    def _run(self) -> None:
        consumer = make_consumer(
            self._settings, self._settings.notify.consumer_group, on_commit=self._commit_done
        )
        try:
            self._loop(consumer)
        finally:
            self._last_commit(consumer)
            consumer.close()
            log.info("notify.stopped")

    def _loop(self, consumer: Consumer) -> None:
        """Consume, store, commit what may be committed, tick; until stopped. A failure of the
        broker or of the state file is alarmed and retried, never the end of the loop."""
        consumer.subscribe([self._settings.topics.alerts], on_revoke=self._revoked)
        tick_s = self._settings.notify.tick / 1000
        log.info("notify.started")
        next_tick = 0.0
        try:
            while not self._stop.is_set():
                wait = max(0.0, min(tick_s, next_tick - time.monotonic()))
                if self._store_retry.due(time.monotonic()):
                    self._take_batch(consumer.consume(BATCH, wait))
                else:  # the state file refused the last alert: wait before trying it again
                    self._stop.wait(wait)
                self._producer.poll(0)  # serve the dead letters' delivery reports
                self._deadletters.settle(time.monotonic())
                self._rewind(consumer)
                self._commit(consumer)
                if time.monotonic() >= next_tick:
                    self._tick()
                    next_tick = time.monotonic() + tick_s
        except Exception:
            self._metrics.technical_alerts.labels("notifier").inc()
            log.exception("notify.crashed")
            raise

    def _take_batch(self, messages: list[Message]) -> None:
        refused = False
        for message in messages:
            # Past a message not stored, each is still taken (stored, or handed to the fallback
            # when it cannot be), but the partition is read again from that message, and nothing
            # from it on is committed until it is stored (``Offsets.taken``).
            part = (message.topic() or "", message.partition() or 0)
            try:
                self._take(message)
            except _Unstored as unstored:  # full, read-only, failing: not stored, not committed
                refused = True
                self._offsets.rewind(part, message.offset() or 0)
                self._store_failed(unstored)
                self._hand_unstored(unstored)
                continue
            if message.error() is None:
                self._offsets.taken(part, message.offset() or 0)
        if messages and not refused and self._store_retry.succeeded():
            log.info("notify.store_recovered")

    def _rewind(self, consumer: Consumer) -> None:
        for part, offset in self._offsets.rewinds().items():
            if _seek(consumer, part, offset):
                continue
            assigned = {(p.topic, p.partition) for p in consumer.assignment()}
            if part in assigned:  # try again; nothing from it on is committed meanwhile
                self._offsets.rewind(part, offset)
            # else: revoked; its new reader starts at the last commit, which is not past it

    def _store_failed(self, unstored: _Unstored) -> None:
        self._metrics.errors.labels("notifier", "store").inc()
        if self._store_retry.failed(time.monotonic()):
            self._alarm.report(
                "notifier", "notify.store_failed", error=_cause(unstored),
                state_file=str(self._state_path),
                hint="alerts wait on the alerts topic, uncommitted, until the state file can be "
                "written: free space on its filesystem or make it writable",
            )  # fmt: skip

    def _hand_unstored(self, unstored: _Unstored) -> None:
        """The fallback receiver gets an alert that cannot be stored, once per alert message
        while the process runs: nobody should learn of it only when the disk is repaired."""
        alert, fallback = unstored.alert, self.routing.fallback
        if fallback is None or (alert.alert_id, alert.delivery_key) in self._told:
            return
        self._told.add((alert.alert_id, alert.delivery_key))
        message = render("rich", [alert], Context(alert.state.value))
        title, body = render_technical(
            "an alert cannot be stored",
            f"The notifier's state file {self._state_path} refuses writes ({_cause(unstored)}). "
            "The alert below waits on the alerts topic and goes to its receivers once the file "
            f"can be written.\n\n{message[0]}\n{message[1]}",
        )
        for target in fallback.tiers[0].receivers:

            def send(target: Receiver = target) -> None:
                self._sender.send(fallback.name, target, title, body, self._stop)

            self._lanes.submit(target.key, send)
        log.warning("notify.unstored_to_fallback", fallback=fallback.name, rule=alert.rule_id)

    def _tick(self) -> None:
        try:
            self.dispatcher.tick(time.time(), self._stop)
        except sqlite3.Error as exc:  # the stores stay as they were: the next tick tries again
            self._metrics.errors.labels("notifier", "tick").inc()
            if self._tick_retry.failed(time.monotonic()):
                self._alarm.report(
                    "notifier", "notify.tick_failed", error=f"{type(exc).__name__}: {exc}",
                    state_file=str(self._state_path),
                )  # fmt: skip
            return
        if self._tick_retry.succeeded():
            log.info("notify.tick_recovered")

    # -- committing ---------------------------------------------------------------------------

    def _commit(self, consumer: Consumer) -> None:
        """Commit what is stored (and dead-lettered for sure), asynchronously: a broker that
        does not answer must not stop the dispatcher. A failed commit is retried with backoff;
        redelivery of uncommitted messages is harmless (ingest ignores replays)."""
        now = time.monotonic()
        if self._committing is not None:
            if now - self._committing < COMMIT_STALL_S:
                return
            self._commit_done(KafkaError(KafkaError._TIMED_OUT, "no commit result"), [])
        if not self._commit_retry.due(now):
            return
        due = self._offsets.due()
        if not due:
            return
        self._committing = now
        try:
            consumer.commit(offsets=due, asynchronous=True)
        except KafkaException as exc:
            self._commit_done(exc.args[0], [])

    def _commit_done(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """The result of a commit (``on_commit``, served by ``consume`` in the notifier's
        thread)."""
        self._committing = None
        failed = [p for p in partitions if p.error is not None]
        if error is None and not failed:
            self._offsets.committed(partitions)
            streak = self._commit_retry.succeeded()
            if streak:
                log.info("notify.commit_recovered", failed_attempts=streak)
            return
        if error is None:
            self._offsets.committed([p for p in partitions if p.error is None])
        self._metrics.notifier_commit_failures.inc()
        why = str(error if error is not None else failed[0].error)
        if self._commit_retry.failed(time.monotonic()):
            self._alarm.report(
                "notifier", "notify.commit_failed", error=why,
                hint="alerts are stored and dispatched; the commit is retried with backoff",
            )  # fmt: skip
        else:
            log.warning("notify.commit_retry_failed", error=why)

    def _last_commit(self, consumer: Consumer) -> None:
        """At a stop, commit what is stored if the broker takes it (else it is read again by
        the next notifier and ignored)."""
        due = self._offsets.due()
        if not due:
            return
        try:
            consumer.commit(offsets=due, asynchronous=False)
        except KafkaException as exc:
            log.warning("notify.last_commit_failed", error=str(exc.args[0]))

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Another notifier of the group reads these now, from their last commit."""
        self._offsets.forget(partitions)

    # -- taking alert messages ------------------------------------------------------------

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
        try:
            self.dispatcher.ingest(alert, source, time.time(), written)
        except sqlite3.Error as exc:
            raise _Unstored(alert) from exc

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
        """The fallback stage's dead letter: a copy for the systems that follow the topic (the
        alert itself is in the alert store, its failed delivery in the notification log)."""
        value = stored.alert.to_json(emitted_ms=int(time.time() * 1000))
        key = stored.alert.patient_id.encode()
        self._deadletters.write(dead_letter(key, value, reason, stored.source, held=False))

    def _produce(self, key: bytes | None, value: bytes | None, reason: str, source: Source) -> None:
        """The dead letter of a consumed message that cannot be read: its only copy, so its
        offset is committed only once the broker has confirmed it (``DeadLetters``)."""
        self._deadletters.write(dead_letter(key, value, reason, source, held=True))
