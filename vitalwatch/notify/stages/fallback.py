"""The fallback stage: what no receiver could take is itself an alert, never dropped.

Two ways in. An alert message that no receiver can take (it matched no route, or its receiver's
tier resolved to no URL: ``unrouted``) goes at once to the routing config's ``fallback``
receiver as a technical alert with the alert's own message, is written to the dead-letter topic
with reason ``unrouted:<reason>``, counted in ``vitalwatch_alerts_unrouted_total{reason}``,
audited (``alert.unrouted``) and raised as a technical alarm. Without a usable fallback
receiver all of that but the message happens, and the alarm says to configure one.

And after the retries are spent (``failed``):

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
from vitalwatch.notify.config.receivers import NamedReceiver, Receiver
from vitalwatch.notify.config.templates import render_technical
from vitalwatch.notify.stages.send import Sender
from vitalwatch.notify.stores.alerts import StoredAlert
from vitalwatch.notify.stores.audit import AuditLog
from vitalwatch.service.technical_alarm import TechnicalAlarm

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
        alarm: TechnicalAlarm | None = None,
    ) -> None:
        self._fallback = fallback
        self._sender = sender
        self._deadletter = deadletter
        self._metrics = metrics
        self._audit = audit
        # The dead letter already goes to Kafka; the alarm adds the metric and the log event.
        self._alarm = alarm or TechnicalAlarm(metrics)

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
        self._to_fallback(fallback, (title, body), alerts, now, stop, failed_receiver=receiver)

    def unrouted(
        self,
        stored: StoredAlert,
        reason: str,
        receiver: str,
        message: tuple[str, str],
        now: float,
        stop: threading.Event,
    ) -> None:
        """No receiver can take this alert message: ``reason`` is ``no_route`` (``receiver``
        empty) or ``no_targets`` (``receiver``'s tier has no URL)."""
        fallback = self._fallback  # read once: a reload may replace it meanwhile
        usable = (
            fallback is not None and fallback.name != receiver and bool(fallback.tiers[0].receivers)
        )
        self._metrics.alerts_unrouted.labels(reason).inc()
        self._deadletter(stored, f"unrouted:{reason}")
        self._metrics.deadletters.labels("unrouted").inc()
        hint = {} if usable else {
            "hint": "set 'fallback:' in the routing file to a receiver with targets"
        }  # fmt: skip
        self._alarm.report(
            "notifier", "notify.unrouted", reason=reason, receiver=receiver or None,
            rule=stored.alert.rule_id, fallback=fallback.name if usable and fallback else None,
            **hint,
        )  # fmt: skip
        self._audit.record(
            "alert.unrouted", now, alert=stored.alert, receiver=receiver or None, reason=reason,
            fallback=fallback.name if usable and fallback else None,
        )  # fmt: skip
        if not usable or fallback is None:
            return
        what = (
            f"alert for receiver {receiver} not delivered: no targets"
            if reason == "no_targets"
            else "alert matched no route"
        )
        title, body = render_technical(
            what,
            "No receiver of the routing could take this alert; it is on the dead-letter topic. "
            f"Fix the routing file. The alert:\n\n{message[0]}\n{message[1]}",
        )
        self._to_fallback(fallback, (title, body), [stored], now, stop, unrouted=reason)

    def _to_fallback(
        self,
        fallback: NamedReceiver,
        message: tuple[str, str],
        alerts: Sequence[StoredAlert],
        now: float,
        stop: threading.Event,
        **why: str,
    ) -> None:
        for fallback_target in fallback.tiers[0].receivers:
            ok = self._sender.send(fallback.name, fallback_target, *message, stop)
            outcome = "sent" if ok else "failed"
            for stored in alerts:
                self._audit.record(
                    "notification.fallback", now, alert=stored.alert, receiver=fallback.name,
                    target=fallback_target.name, outcome=outcome, **why,
                )  # fmt: skip
            log.warning(
                "notify.handed_to_fallback", fallback=fallback.name, target=fallback_target.name,
                outcome=outcome, **why,
            )  # fmt: skip
