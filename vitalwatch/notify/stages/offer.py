"""Each tick, every open alert goes down the chain towards its routes' groups:

    route ─► (no route, or a receiver without targets: fallback) ─► in flight? ─► resolve
    wanted? ─► tier already settled (dedup)? ─► inhibit ─► silence ─► group

An alert that is offered (or whose delivery or hand-over is under way) stays open this tick.
"""

from __future__ import annotations

from vitalwatch.contracts.alerts import Alert, AlertState
from vitalwatch.notify.config.receivers import NamedReceiver
from vitalwatch.notify.stages.dedup import Dedup
from vitalwatch.notify.stages.flight import InFlight
from vitalwatch.notify.stages.flush import Groups, delivery_key
from vitalwatch.notify.stages.mute import Mutes
from vitalwatch.notify.stages.open_alerts import OpenAlerts
from vitalwatch.notify.stages.unrouted import HandOver
from vitalwatch.notify.stores.alerts import StoredAlert
from vitalwatch.notify.stores.notification_log import NotificationLog


class Offer:
    def __init__(
        self,
        alerts: OpenAlerts,
        log: NotificationLog,
        flight: InFlight,
        dedup: Dedup,
        mutes: Mutes,
        handover: HandOver,
        groups: Groups,
    ) -> None:
        self._alerts = alerts
        self._log = log
        self._flight = flight
        self._dedup = dedup
        self._mutes = mutes
        self._handover = handover
        self._groups = groups

    def run(self, now: float) -> set[str]:
        """The alert ids offered (or still under way) this tick."""
        return {i for i, s in list(self._alerts.open.items()) if self._offer(i, s, now)}

    def _offer(self, alert_id: str, stored: StoredAlert, now: float) -> bool:
        alert = stored.alert
        routes = self._alerts.routes_of(alert_id, alert)
        if not routes:
            return self._handover.offer(stored, "no_route", "", "(no route)",
                                        delivery_key(alert), now)  # fmt: skip
        offered = False
        for route, receiver in routes:
            if not receiver.tiers[0].receivers:
                key, name = delivery_key(alert), receiver.name
                offered |= self._handover.offer(stored, "no_targets", name, name, key, now)
                continue
            if self._flight.for_receiver(alert_id, receiver.name):
                offered = True  # keep it open until its outcome is recorded; look again then
                continue
            if alert.state is AlertState.RESOLVED and self._resolved_unwanted(
                alert_id, alert, receiver
            ):
                continue
            if self._dedup.tier_settled(alert_id, receiver, receiver.tiers[0], delivery_key(alert)):
                continue
            if self._mutes.muted(alert_id, alert, receiver.name, now):
                continue
            self._groups.offer(route, receiver, alert, now)
            offered = True
        return offered

    def _resolved_unwanted(self, alert_id: str, alert: Alert, receiver: NamedReceiver) -> bool:
        """Whether a resolve is not for this receiver: it does not take resolves and already has
        the firing, or the firing was muted for it (silenced or inhibited). A firing not yet sent
        when the resolve comes (both within group_wait, as when a backlog is read after an
        outage) is announced by the resolve, whatever ``send_resolved`` says: an episode that
        happened is never swallowed by the grouping."""
        if self._log.reached(alert_id, receiver.name) is not None:
            return not receiver.send_resolved
        return self._mutes.was_muted(alert_id, receiver.name)
