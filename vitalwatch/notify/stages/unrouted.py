"""The way into the fallback stage for an alert message that no receiver can take.

It matched no route (``no_route``), or a receiver on its routes has a tier with no URL
(``no_targets``, also an escalation into such a tier). After the mute stages, as for any
delivery, it is handed once to ``Deliverer.hand_over`` (fallback receiver, dead letter, metric,
audit, technical alarm) and recorded in the notification log under the receiver
``(unrouted)``, so neither a later tick nor a restart hands it over again.
"""

from __future__ import annotations

from functools import partial

from vitalwatch.contracts.alerts import AlertState
from vitalwatch.notify.stages.deliver import Deliverer, Executor, Handover
from vitalwatch.notify.stages.flight import InFlight
from vitalwatch.notify.stages.mute import Mutes
from vitalwatch.notify.stores.alerts import StoredAlert
from vitalwatch.notify.stores.notification_log import NotificationLog


class HandOver:
    def __init__(
        self,
        log: NotificationLog,
        mutes: Mutes,
        flight: InFlight,
        executor: Executor,
        deliverer: Deliverer,
    ) -> None:
        self._log = log
        self._mutes = mutes
        self._flight = flight
        self._executor = executor
        self._deliverer = deliverer

    def offer(
        self, stored: StoredAlert, reason: str, receiver: str, label: str, key: str, now: float
    ) -> bool:
        """Hand it over unless done or muted; True while the hand-over is under way."""
        handover = Handover(stored, key, reason, receiver, label, now)
        alert_id = stored.alert.alert_id
        if self._flight.any_of([handover.row]):
            return True
        if self._log.settled(*handover.row):
            return False
        if stored.alert.state is AlertState.RESOLVED and self._mutes.was_muted(alert_id, label):
            return False  # its firing was muted: the resolve is not news to anybody
        if self._mutes.muted(alert_id, stored.alert, label, now):
            return False
        rows = {handover.row}
        self._flight.add(rows)
        self._executor.submit("(fallback)", partial(self._run, handover, rows))
        return True

    def _run(self, handover: Handover, rows: set[tuple[str, str, str, int, str]]) -> None:
        try:
            self._deliverer.hand_over(handover)
        finally:
            self._flight.done(rows)
