"""The redelivery stage: what a target missed while it was down, and still matters, once it is
back (when and which: ``redeliver.Redelivery``), sent once, marked as delayed."""

from __future__ import annotations

import threading
import time

from vitalwatch.notify.stages.flight import InFlight
from vitalwatch.notify.stages.flush import delivery_key
from vitalwatch.notify.stages.mute import Mutes
from vitalwatch.notify.stages.open_alerts import OpenAlerts
from vitalwatch.notify.stages.redeliver import Redelivery
from vitalwatch.notify.stages.submit import Submit
from vitalwatch.notify.stores.notification_log import Missed, NotificationLog


class Redeliver:
    def __init__(
        self,
        alerts: OpenAlerts,
        log: NotificationLog,
        flight: InFlight,
        mutes: Mutes,
        redelivery: Redelivery,
        submit: Submit,
    ) -> None:
        self._alerts = alerts
        self._log = log
        self._flight = flight
        self._mutes = mutes
        self._redelivery = redelivery
        self._submit = submit

    def run(self, now: float, stop: threading.Event) -> None:
        if not self._redelivery.due(now):
            return
        missed = self._log.missed(now - self._alerts.ttl_s)
        for m in self._redelivery.pick([m for m in missed if self._still_missed(m, now)]):
            stored = self._alerts.open[m.alert_id]
            receiver = self._alerts.routing.receivers[m.receiver]
            tier = receiver.tiers[0]
            (target,) = [t for t in tier.receivers if t.key == m.target]
            if self._flight.any_of([(m.alert_id, m.delivery_key, m.receiver, 1, m.target)]):
                continue
            when = time.strftime("%H:%M:%S", time.gmtime(m.failed_at))
            note = (
                f"Delayed: {receiver.name} could not be reached when this was sent at {when} UTC; "
                "the alert is still active."
            )
            self._submit.submit(receiver, tier, target, [stored], delivery_key, note, now, True)

    def _still_missed(self, missed: Missed, now: float) -> bool:
        """A tier-1 delivery of an alert's current message, the alert still active and
        unacknowledged, its target still on the alert's routes, and not muted."""
        stored = self._alerts.open.get(missed.alert_id)
        if stored is None or missed.tier != 1 or missed.alert_id in self._alerts.acked:
            return False
        alert = stored.alert
        if delivery_key(alert) != missed.delivery_key:
            return False
        if not self._alerts.still_active(missed.alert_id, alert):
            return False
        for _, receiver in self._alerts.routes_of(missed.alert_id, alert):
            if receiver.name == missed.receiver and any(
                t.key == missed.target for t in receiver.tiers[0].receivers
            ):
                return not self._mutes.muted(missed.alert_id, alert, receiver.name, now)
        return False
