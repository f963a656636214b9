"""The send stage: one message to one apprise target, retried with exponential backoff.

Each attempt's outcome is counted (``vitalwatch_notifications_total{receiver,outcome}``, the
receiver being the routing config's receiver name) and logged with the masked URL. Stopping
during a backoff returns None so the caller leaves the delivery for after the restart.

When the retries are spent the schedule goes on at its next step, ``retry_interval_s``, one
attempt at a time (``send_once``): that is how a receiver that was down is found to be back
(see ``redeliver``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog

from vitalwatch.metrics import Metrics
from vitalwatch.notify.config.receivers import Receiver

log = structlog.get_logger(__name__)


class Sender:
    def __init__(self, metrics: Metrics, max_attempts: int, backoff_ms: int) -> None:
        self._metrics = metrics
        self._max_attempts = max_attempts
        self._backoff_s = backoff_ms / 1000

    @property
    def retry_interval_s(self) -> float:
        """The doubling schedule's next step after the last retry (16 s under the defaults)."""
        return float(self._backoff_s * 2 ** (self._max_attempts - 1))

    def send_once(self, receiver_name: str, target: Receiver, title: str, body: str) -> bool:
        """One attempt at a message the target missed while it was down (no retries: the next
        one comes ``retry_interval_s`` later). Counted as ``redelivered`` or ``retried``."""
        ok = self._attempt(receiver_name, target, title, body)
        outcome = "redelivered" if ok else "retried"
        self._metrics.notifications.labels(receiver_name, outcome).inc()
        event = "notify.redelivered" if ok else "notify.redelivery_failed"
        (log.info if ok else log.warning)(event, receiver=receiver_name, target=target.name)
        return ok

    def send(
        self,
        receiver_name: str,
        target: Receiver,
        title: str,
        body: str,
        stop: threading.Event,
        on_failed_attempt: Callable[[int], None] | None = None,
    ) -> bool | None:
        """True: delivered; False: every attempt failed; None: stopped while retrying.
        ``on_failed_attempt(n)`` is told of each failed attempt (for the audit trail)."""
        for attempt in range(1, self._max_attempts + 1):
            started = time.monotonic()
            ok = self._attempt(receiver_name, target, title, body)
            if ok:
                self._metrics.delivery_latency.observe(time.monotonic() - started)
                self._metrics.notifications.labels(receiver_name, "sent").inc()
                log.info("notify.sent", receiver=receiver_name, target=target.name, attempt=attempt)
                return True
            self._metrics.notifications.labels(receiver_name, "retried").inc()
            if on_failed_attempt is not None:
                on_failed_attempt(attempt)
            log.warning(
                "notify.attempt_failed", receiver=receiver_name, target=target.name, attempt=attempt
            )
            if attempt < self._max_attempts and stop.wait(self._backoff_s * 2 ** (attempt - 1)):
                return None
        self._metrics.notifications.labels(receiver_name, "failed").inc()
        log.error(
            "notify.failed",
            receiver=receiver_name,
            target=target.name,
            attempts=self._max_attempts,
        )
        return False

    @staticmethod
    def _attempt(receiver_name: str, target: Receiver, title: str, body: str) -> bool:
        try:
            return target.send(title, body)
        except Exception as exc:  # a plugin bug must not stop delivery to the others
            log.error(
                "notify.receiver_error",
                receiver=receiver_name,
                target=target.name,
                error=type(exc).__name__,
            )
            return False
