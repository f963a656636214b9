"""The dedup stage: a target gets each delivery at most once, across ticks and restarts.

A delivery is had when the notification log has its outcome or it is in flight now. Whole
tiers found settled are remembered per open alert (they stay so), which spares the log a query
per alert, receiver and tick.
"""

from __future__ import annotations

from collections.abc import Callable

from vitalwatch.contracts.alerts import Alert
from vitalwatch.metrics import Metrics
from vitalwatch.notify.config.receivers import NamedReceiver, Receiver, Tier
from vitalwatch.notify.stages.flight import InFlight
from vitalwatch.notify.stores.notification_log import NotificationLog


class Dedup:
    def __init__(self, log: NotificationLog, flight: InFlight, metrics: Metrics) -> None:
        self._log = log
        self._flight = flight
        self._metrics = metrics
        self._settled: dict[str, set[tuple[str, str, int]]] = {}  # open alerts only

    def has(
        self,
        receiver: NamedReceiver,
        tier: Tier,
        target: Receiver,
        alert: Alert,
        state_of: Callable[[Alert], str],
    ) -> bool:
        """The target has this delivery, or is being sent it now."""
        row = (alert.alert_id, state_of(alert), receiver.name, tier.number, target.key)
        if self._flight.any_of([row]):
            return True
        if self._log.settled(*row):
            self._metrics.notifications.labels(receiver.name, "duplicate").inc()
            return True
        return False

    def tier_settled(self, alert_id: str, receiver: NamedReceiver, tier: Tier, key: str) -> bool:
        """Every target of the tier has this delivery (remembered: it stays so)."""
        done = (key, receiver.name, tier.number)
        known = self._settled.setdefault(alert_id, set())
        if done in known:
            return True
        if all(self._log.settled(alert_id, *done, t.key) for t in tier.receivers):
            known.add(done)
            return True
        return False

    def forget(self, alert_id: str | None = None) -> None:
        """An alert closed (or, for None, a new routing: a receiver may have other targets)."""
        if alert_id is None:
            self._settled.clear()
        else:
            self._settled.pop(alert_id, None)
