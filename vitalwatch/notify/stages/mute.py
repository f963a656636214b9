"""The inhibit and silence stages, and the record of each new mute (audit, metric, log, once).

Each stage answers one question about an alert: what mutes it now, if anything (the inhibiting
alert's id, or the silence's). They run in that order, inhibit first, for every delivery: an
offer to a group, a flush, an escalation, a redelivery, a hand-over to the fallback.
"""

from __future__ import annotations

from typing import Protocol

import structlog

from vitalwatch.contracts.alerts import Alert
from vitalwatch.metrics import Metrics
from vitalwatch.notify.stages.open_alerts import OpenAlerts
from vitalwatch.notify.stores.audit import AuditLog
from vitalwatch.notify.stores.silences import Silencer

log = structlog.get_logger(__name__)


class MuteStage(Protocol):
    why: str

    def muted_by(self, alert: Alert, now: float) -> str | None:
        """The id of what mutes ``alert`` now, or None."""


class Inhibit:
    why = "inhibited"

    def __init__(self, alerts: OpenAlerts) -> None:
        self._alerts = alerts  # its routing table holds the inhibitor, refreshed per tick

    def muted_by(self, alert: Alert, now: float) -> str | None:
        source = self._alerts.routing.inhibitor.inhibiting(alert)
        return None if source is None else source.alert_id


class Silence:
    why = "silenced"

    def __init__(self, silencer: Silencer) -> None:
        self._silencer = silencer

    def muted_by(self, alert: Alert, now: float) -> str | None:
        silence = self._silencer.muting(alert, now)
        return None if silence is None else silence.id


class Mutes:
    """Runs the mute stages and records each new mute of an (alert, receiver) once."""

    def __init__(self, stages: list[MuteStage], metrics: Metrics, audit: AuditLog) -> None:
        self._stages = stages
        self._metrics = metrics
        self._audit = audit
        self._noted: set[tuple[str, str, str]] = set()  # (alert, receiver, why)

    def muted(self, alert_id: str, alert: Alert, receiver: str, now: float) -> bool:
        for stage in self._stages:
            by = stage.muted_by(alert, now)
            if by is not None:
                self._note(alert_id, alert, receiver, stage.why, by, now)
                return True
        if self._noted:
            self._noted = {m for m in self._noted if m[:2] != (alert_id, receiver)}
        return False

    def was_muted(self, alert_id: str, receiver: str) -> bool:
        """Its last message for ``receiver`` was muted (so its resolve is news to nobody)."""
        return any(m[:2] == (alert_id, receiver) for m in self._noted)

    def _note(
        self, alert_id: str, alert: Alert, receiver: str, why: str, by: str, now: float
    ) -> None:
        if (alert_id, receiver, why) in self._noted:
            return
        self._noted.add((alert_id, receiver, why))
        self._metrics.notifications.labels(receiver, why).inc()
        log.info(f"notify.{why}", receiver=receiver, rule=alert.rule_id, by=by)
        self._audit.record(f"notification.{why}", now, alert=alert, receiver=receiver, by=by)
