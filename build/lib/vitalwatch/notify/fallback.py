"""What happens after the retries are spent: the failure is itself an alert.

The message that could not be delivered goes to the routing config's ``fallback`` receiver as a
technical alert (with the undelivered text, so nobody has to look it up), each alert in it goes
to the dead-letter topic with reason ``notification_failed:<service>``, and the failure is
counted as a technical alert and logged. Without a fallback receiver the dead letter, the metric
and the log remain, and the log says to configure one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import structlog

from vitalwatch.metrics import Metrics
from vitalwatch.notify.alertstore import StoredAlert
from vitalwatch.notify.audit import AuditLog
from vitalwatch.notify.receivers import NamedReceiver, Receiver
from vitalwatch.notify.send import Sender
from vitalwatch.notify.templates import render_technical

log = structlog.get_logger(__name__)

DeadLetter = Callable[[StoredAlert, str], None]


class FailureHandler:
    def __init__(
        self,
        fallback: NamedReceiver | None,
        sender: Sender,
        deadletter: DeadLetter,
        metrics: Metrics,
        audit: AuditLog,
    ) -> None:
        self._fallback = fallback
        self._sender = sender
        self._deadletter = deadletter
        self._metrics = metrics
        self._audit = audit

    def use_fallback(self, fallback: NamedReceiver | None) -> None:
        """The fallback of a reloaded routing (failures being handled keep the one they have)."""
        self._fallback = fallback

    def failed(
        self,
        receiver: str,
        target: Receiver,
        alerts: Sequence[StoredAlert],
        message: tuple[str, str],
        now: float,
        stop: threading.Event,
    ) -> None:
        fallback = self._fallback  # read once: a reload may replace it meanwhile
        self._metrics.technical_alerts.labels("notifier").inc()
        reason = f"notification_failed:{target.service}"
        for stored in alerts:
            self._deadletter(stored, reason)
            self._metrics.deadletters.labels("notification_failed").inc()
        if fallback is None or fallback.name == receiver:
            log.error(
                "notify.no_fallback",
                receiver=receiver,
                target=target.name,
                hint="set 'fallback:' in the routing file to a receiver for technical alerts",
            )
            return
        title, body = render_technical(
            f"notification to {receiver} failed",
            f"{target.name} did not accept a notification after every retry. "
            "It is on the dead-letter topic. The undelivered message:\n\n"
            f"{message[0]}\n{message[1]}",
        )
        for fallback_target in fallback.tiers[0].receivers:
            ok = self._sender.send(fallback.name, fallback_target, title, body, stop)
            for stored in alerts:
                self._audit.record(
                    "notification.fallback",
                    now,
                    alert=stored.alert,
                    receiver=fallback.name,
                    failed_receiver=receiver,
                    target=fallback_target.name,
                    outcome="sent" if ok else "failed",
                )
            log.warning(
                "notify.handed_to_fallback",
                receiver=receiver,
                fallback=fallback.name,
                target=fallback_target.name,
                outcome="sent" if ok else "failed",
            )
