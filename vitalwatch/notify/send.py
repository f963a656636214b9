"""The send stage: one message to one apprise target, retried with exponential backoff.

Each attempt's outcome is counted (``vitalwatch_notifications_total{receiver,outcome}``, the
receiver being the routing config's receiver name) and logged with the masked URL. Stopping
during a backoff returns None so the caller leaves the delivery for after the restart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog

from vitalwatch.metrics import Metrics
from vitalwatch.notify.receivers import Receiver

log = structlog.get_logger(__name__)


class Sender:
    def __init__(self, metrics: Metrics, max_attempts: int, backoff_ms: int) -> None:
        self._metrics = metrics
        self._max_attempts = max_attempts
        self._backoff_s = backoff_ms / 1000

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
            try:
                ok = target.send(title, body)
            except Exception as exc:  # a plugin bug must not stop delivery to the others
                log.error(
                    "notify.receiver_error",
                    receiver=receiver_name,
                    target=target.name,
                    error=type(exc).__name__,
                )
                ok = False
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
