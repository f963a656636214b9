"""The escalation stage: when an unacknowledged alert goes to its receiver's next tier.

A tier with ``escalate_after`` gives the people in it that long, from its first message, to
acknowledge; then the alert goes to the next tier (bedside nurse → charge nurse → rapid-response
team) with state ``escalated``. A tier whose every target failed escalates at once. Pure: the
caller passes what the notification log says and the acknowledgement state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from vitalwatch.contracts.alerts import Alert, AlertState, escalation
from vitalwatch.durations import format_duration_ms
from vitalwatch.metrics import Metrics
from vitalwatch.notify.config.receivers import NamedReceiver, Tier
from vitalwatch.notify.stages.flight import InFlight
from vitalwatch.notify.stages.mute import Mutes
from vitalwatch.notify.stages.open_alerts import OpenAlerts
from vitalwatch.notify.stages.submit import Submit
from vitalwatch.notify.stages.unrouted import HandOver
from vitalwatch.notify.stores.alerts import StoredAlert
from vitalwatch.notify.stores.audit import AuditLog
from vitalwatch.notify.stores.notification_log import NotificationLog, TierReached

log = structlog.get_logger(__name__)


def next_tier(
    receiver: NamedReceiver, reached: TierReached | None, acknowledged: bool, now: float
) -> Tier | None:
    """The tier to escalate to now, or None."""
    if acknowledged or reached is None or reached.tier >= len(receiver.tiers):
        return None
    current = receiver.tiers[reached.tier - 1]
    if not reached.any_sent:
        return receiver.tiers[reached.tier]
    if current.escalate_after_ms is None:
        return None
    if now < reached.first_at + current.escalate_after_ms / 1000:
        return None
    return receiver.tiers[reached.tier]


def _escalated(alert: Alert) -> str:
    return AlertState.ESCALATED.value


class Escalate:
    """Sends each unacknowledged, still active alert on to its receivers' next tier when due
    (through the mute stages and dedup), announcing the escalation on the alerts topic."""

    def __init__(
        self,
        alerts: OpenAlerts,
        log: NotificationLog,
        flight: InFlight,
        mutes: Mutes,
        handover: HandOver,
        submit: Submit,
        metrics: Metrics,
        audit: AuditLog,
        announce: Callable[[Alert], None],
    ) -> None:
        self._alerts = alerts
        self._log = log
        self._flight = flight
        self._mutes = mutes
        self._handover = handover
        self._submit = submit
        self._metrics = metrics
        self._audit = audit
        self._announce = announce

    def run(self, now: float, stop: threading.Event) -> None:
        for alert_id, stored in list(self._alerts.open.items()):
            if stop.is_set():
                return
            if alert_id in self._alerts.acked or not self._alerts.still_active(
                alert_id, stored.alert
            ):
                continue
            for _, receiver in self._alerts.routes_of(alert_id, stored.alert):
                if len(receiver.tiers) >= 2:
                    self._escalate(stored, receiver, now)

    def _escalate(self, stored: StoredAlert, receiver: NamedReceiver, now: float) -> None:
        alert = stored.alert
        reached = self._log.reached(alert.alert_id, receiver.name)
        tier = next_tier(receiver, reached, False, now)
        if tier is not None and not tier.receivers:  # an escalation to nobody
            label = f"{receiver.name} tier {tier.number}"
            self._handover.offer(stored, "no_targets", receiver.name, label, _escalated(alert),
                                 now)  # fmt: skip
            return
        if tier is None or self._mutes.muted(alert.alert_id, alert, receiver.name, now):
            return
        previous = receiver.tiers[tier.number - 2]
        waited = previous.escalate_after_ms
        note = (
            f"Escalated to tier {tier.number}: not acknowledged within "
            f"{format_duration_ms(waited)}."
            if waited is not None and reached is not None and reached.any_sent
            else f"Escalated to tier {tier.number}: tier {previous.number} unreachable."
        )
        flight = (alert.alert_id, AlertState.ESCALATED.value, receiver.name, tier.number)
        if self._flight.any_of((*flight, t.key) for t in tier.receivers):
            return  # on its way already
        self._metrics.escalations.labels(receiver.name).inc()
        log.warning("notify.escalated", receiver=receiver.name, tier=tier.number,
                    rule=alert.rule_id)  # fmt: skip
        self._audit.record("alert.escalated", now, alert=alert, receiver=receiver.name,
                           tier=tier.number)  # fmt: skip
        self._announce(escalation(alert, receiver.name, tier.number))
        self._submit.deliver(receiver, tier, [stored], _escalated, note, now)
