"""What people do to the notifier: acknowledge an alert, add, list and expire silences.

One implementation behind the CLI (``vitalwatch ack``, ``vitalwatch silence``), the HTTP API and
the acknowledge link, working on the notifier's SQLite file, so the running daemon sees the
change at its next tick. Every action is audited, counted and logged (without patient ids).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import structlog

from vitalwatch.metrics import Metrics
from vitalwatch.notify.stores.acks import Ack, AckStore
from vitalwatch.notify.stores.alerts import AlertStore
from vitalwatch.notify.stores.audit import AuditLog
from vitalwatch.notify.stores.silences import Silence, SilenceStore
from vitalwatch.settings import Settings

log = structlog.get_logger(__name__)


def state_file(settings: Settings) -> Path:
    """The notifier's one SQLite file: alerts, notification log, acks, silences, audit."""
    return settings.state_dir / "notifications.sqlite"


class UnknownAlert(LookupError):
    """No alert with that id has reached the notifier."""


@dataclass
class Operations:
    alerts: AlertStore
    acks: AckStore
    silences: SilenceStore
    audit: AuditLog
    metrics: Metrics

    @classmethod
    def open(cls, settings: Settings, metrics: Metrics) -> Operations:
        path = state_file(settings)
        return cls(AlertStore(path), AckStore(path), SilenceStore(path), AuditLog(path), metrics)

    def acknowledge(self, alert_id: str, by: str, via: str, now: float) -> tuple[Ack, bool]:
        """Record an acknowledgement; returns it and whether it is new. Stops escalation."""
        stored = self.alerts.get(alert_id)
        if stored is None:
            self.metrics.acks.labels(via, "unknown").inc()
            raise UnknownAlert(alert_id)
        new = self.acks.ack(alert_id, by, via, now)
        self.metrics.acks.labels(via, "new" if new else "repeated").inc()
        ack = self.acks.get(alert_id)
        assert ack is not None
        if new:
            self.audit.record("alert.acknowledged", now, alert=stored.alert, by=by, via=via)
            log.info("notify.acknowledged", rule=stored.alert.rule_id, via=via)
        return ack, new

    def add_silence(
        self,
        matchers: list[str],
        ends_at: float,
        reason: str,
        by: str,
        now: float,
        max_length_s: float,
    ) -> Silence:
        """``max_length_s``: ``api.max_silence``, for the CLI and the API alike."""
        silence = self.silences.add(matchers, ends_at, reason, by, now, max_length_s)
        self.audit.record("silence.added", now, silence=silence.as_dict())
        log.info("notify.silence_added", silence=silence.id, until=ends_at)
        return silence

    def expire_silence(self, silence_id: str, by: str, now: float) -> bool:
        expired = self.silences.expire(silence_id, now)
        if expired:
            self.audit.record("silence.expired", now, silence=silence_id, by=by)
            log.info("notify.silence_expired", silence=silence_id)
        return expired

    def close(self) -> None:
        for store in (self.alerts, self.acks, self.silences, self.audit):
            store.close()
