"""The dispatcher: runs every stored alert through the delivery stages, once per tick.

    ingest ─► alert store (durable)
    tick:   route ─► inhibit ─► silence ─► group            (offer: stages.offer)
            due groups ─► inhibit ─► silence ─► dedup ─► send with retry ─► record
                                                         └─► (retries spent) fallback
            no route / no targets ─► inhibit ─► silence ─► fallback ─► record   (unrouted)
            escalate ─► inhibit ─► silence ─► dedup ─► send ─► record
            redeliver what a target missed while down ─► send once ─► record
            close what has nothing left to send

Each stage is a small class in ``vitalwatch.notify.stages`` with one method that does its step
(the mute stages answer "what mutes this alert"; the others ``run`` their step of the tick);
this module builds them around the state they share and runs them in order. The routing they
use can be replaced while alerts are pending: see ``use_routing``. Sending and recording run on
an executor, one lane per target; a delivery handed to it counts as in flight for dedup until
its outcome is recorded (``stages.flight``). Logs and metrics carry receiver names, rule ids and
masked URLs, never patient identifiers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import structlog

from vitalwatch.contracts.alerts import Alert
from vitalwatch.metrics import Metrics
from vitalwatch.notify.config.routing_table import RoutingTable
from vitalwatch.notify.stages.close import Close
from vitalwatch.notify.stages.dedup import Dedup
from vitalwatch.notify.stages.deliver import Deliverer, Executor, Inline
from vitalwatch.notify.stages.escalate import Escalate
from vitalwatch.notify.stages.fallback import FailureHandler
from vitalwatch.notify.stages.flight import InFlight
from vitalwatch.notify.stages.flush import Flush, Groups, delivery_key
from vitalwatch.notify.stages.latency import StageClock
from vitalwatch.notify.stages.missed import Redeliver
from vitalwatch.notify.stages.mute import Inhibit, Mutes, Silence
from vitalwatch.notify.stages.offer import Offer
from vitalwatch.notify.stages.open_alerts import OpenAlerts
from vitalwatch.notify.stages.redeliver import Redelivery
from vitalwatch.notify.stages.send import Sender
from vitalwatch.notify.stages.submit import Submit
from vitalwatch.notify.stages.unrouted import HandOver
from vitalwatch.notify.stores.acks import AckStore
from vitalwatch.notify.stores.alerts import AlertStore, Source, StoredAlert
from vitalwatch.notify.stores.audit import AuditLog
from vitalwatch.notify.stores.notification_log import NotificationLog
from vitalwatch.notify.stores.silences import Silencer

log = structlog.get_logger(__name__)


class TickStage(Protocol):
    def run(self, now: float, stop: threading.Event) -> None: ...


@dataclass(frozen=True)
class Stages:
    routing: RoutingTable  # the initial one; ``Dispatcher.use_routing`` replaces it
    silencer: Silencer
    notification_log: NotificationLog
    alerts: AlertStore
    acks: AckStore
    audit: AuditLog
    sender: Sender
    failures: FailureHandler
    # Publishes the notifier's own state changes (``escalated``) to the alerts topic.
    announce: Callable[[Alert], None] = lambda alert: None


class Dispatcher:
    def __init__(
        self,
        stages: Stages,
        metrics: Metrics,
        descriptions: Mapping[str, str] | None = None,
        ack_link: Callable[[str], str | None] = lambda alert_id: None,
        executor: Executor | None = None,
        stop: threading.Event | None = None,
        open_alert_ttl_ms: int = 86_400_000,
    ) -> None:
        s, run_on = stages, executor or Inline()
        self._s = s
        self._next_routing: RoutingTable | None = None  # handed over by another thread
        self._routing_lock = threading.Lock()
        alerts = self._alerts = OpenAlerts(s.alerts.open_alerts(), s.routing,
                                           open_alert_ttl_ms / 1000)  # fmt: skip
        deliverer = Deliverer(
            s.notification_log, s.audit, s.sender, s.failures, metrics,
            dict(descriptions or {}), ack_link, stop or threading.Event(),
        )  # fmt: skip
        flight, redelivery = InFlight(), Redelivery(s.sender.retry_interval_s)
        self._dedup = Dedup(s.notification_log, flight, metrics)
        mutes = Mutes([Inhibit(alerts), Silence(s.silencer)], metrics, s.audit)
        handover = HandOver(s.notification_log, mutes, flight, run_on, deliverer)
        submit = Submit(self._dedup, flight, run_on, deliverer, redelivery)
        self._groups = Groups()
        self._clock = StageClock(metrics)
        self._offer = Offer(alerts, s.notification_log, flight, self._dedup, mutes, handover,
                            self._groups)  # fmt: skip
        escalate = Escalate(alerts, s.notification_log, flight, mutes, handover, submit,
                            metrics, s.audit, s.announce)  # fmt: skip
        self._stages: list[TickStage] = [  # after the offer, in this order
            Flush(self._groups, alerts, mutes, submit, self._clock),
            escalate,
            Redeliver(alerts, s.notification_log, flight, mutes, redelivery, submit),
        ]
        self._close = Close(alerts, s.alerts, flight, self._dedup, self._groups, metrics, s.audit)

    @property
    def _ttl_s(self) -> float:
        return self._alerts.ttl_s

    @_ttl_s.setter
    def _ttl_s(self, value: float) -> None:  # tests shorten it
        self._alerts.ttl_s = value

    def ingest(
        self, alert: Alert, source: Source, now: float, written_at: float | None = None
    ) -> None:
        """Store an alert message durably (before its offset is committed); ``written_at``: its
        Kafka record's timestamp, for the latency stages (``stages.latency``)."""
        if not self._s.alerts.ingest(alert, source, now):
            log.debug("notify.replay_ignored", rule=alert.rule_id, state=alert.state.value)
            return
        self._clock.read(alert, written_at, now)
        self._alerts.take(StoredAlert(alert, now, source))
        self._s.audit.record(
            f"alert.{alert.state.value}", now, alert=alert, key=delivery_key(alert),
            severity=alert.severity.value, summary=alert.summary, source=str(source),
        )  # fmt: skip

    def use_routing(self, routing: RoutingTable) -> None:
        """Route by ``routing`` from the next tick on (callable from any thread).

        Nothing pending is dropped by the switch. A group already formed (alerts waiting out
        ``group_wait`` or ``group_interval``) is sent as it was grouped, to its receiver as
        it was, even when the new file no longer has that route or receiver; a group whose
        route and receiver are gone is then forgotten (no repeats). Deliveries being sent or
        retried finish on their targets. From the switch on, every open alert is routed by the
        new table: a receiver that is now on an alert's routes and has not had its current state
        gets it (the team now covering a ward learns of the alerts still firing there), and
        escalations follow the new receiver's tiers; a receiver that is no longer on an alert's
        routes gets nothing more for it, as in Alertmanager. The fallback receiver of the new
        table takes failures from then on.
        """
        with self._routing_lock:
            self._next_routing = routing

    def tick(self, now: float, stop: threading.Event) -> None:
        self._switch_routing()
        self._s.silencer.refresh(now)
        self._alerts.refresh_acks(self._s.acks)  # the CLI and API write acks
        open_ = self._alerts.open
        self._alerts.routing.inhibitor.refresh(
            s.alert for i, s in open_.items() if self._alerts.still_active(i, s.alert)
        )
        offered = self._offer.run(now)
        for stage in self._stages:
            if stop.is_set():
                return
            stage.run(now, stop)
        self._close.run(offered, now)

    def _switch_routing(self) -> None:
        with self._routing_lock:
            routing, self._next_routing = self._next_routing, None
        if routing is None:
            return
        self._alerts.route_by(routing)
        self._dedup.forget()  # a receiver of the same name may have other targets now
        self._s.failures.use_fallback(routing.fallback)
        self._groups.route_by(routing)
