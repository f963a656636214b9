"""The last stage of a tick: resolved alerts with nothing left to send leave the open set (and
their groups), as do alerts with no message for the open-alert TTL (their resolve never came:
counted, logged and audited as expired)."""

from __future__ import annotations

import structlog

from vitalwatch.metrics import Metrics
from vitalwatch.notify.stages.dedup import Dedup
from vitalwatch.notify.stages.flight import InFlight
from vitalwatch.notify.stages.flush import Groups
from vitalwatch.notify.stages.open_alerts import OpenAlerts
from vitalwatch.notify.stores.alerts import AlertStore
from vitalwatch.notify.stores.audit import AuditLog

log = structlog.get_logger(__name__)


class Close:
    def __init__(
        self,
        alerts: OpenAlerts,
        store: AlertStore,
        flight: InFlight,
        dedup: Dedup,
        groups: Groups,
        metrics: Metrics,
        audit: AuditLog,
    ) -> None:
        self._alerts = alerts
        self._store = store
        self._flight = flight
        self._dedup = dedup
        self._groups = groups
        self._metrics = metrics
        self._audit = audit

    def run(self, offered: set[str], now: float) -> None:
        for alert_id, stored in list(self._alerts.open.items()):
            if now - stored.received_at >= self._alerts.ttl_s and not self._flight.for_alert(
                alert_id
            ):
                self._metrics.errors.labels("notifier", "alert_expired").inc()
                log.warning("notify.alert_expired", rule=stored.alert.rule_id)
                self._audit.record("alert.expired", now, alert=stored.alert)
            elif alert_id in offered or self._alerts.still_active(alert_id, stored.alert):
                continue
            self._store.close_alert(alert_id)
            self._alerts.forget(alert_id)
            self._dedup.forget(alert_id)
            self._groups.leave(alert_id)
