"""The send and record stages for one message to one target, and where they run.

The dispatcher decides *what* goes to *whom*; a ``Job`` is one message to one apprise target.
Running it: mark it in flight in the notification log, render it (with a "possibly a repeat"
note when an earlier attempt was cut off by a crash), send with retries, hand a final failure
to the fallback stage, record the outcome and audit it.

Jobs run on an ``Executor``: ``TargetLanes`` gives every target its own worker thread, so a
receiver that is down (retrying for a minute) delays only its own messages, while one target's
messages stay in order and apprise's per-service throttling holds. ``Inline`` runs a job at
once, in the caller's thread: the deterministic double the unit tests use.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

import structlog

from vitalwatch.metrics import Metrics
from vitalwatch.notify.config.receivers import Receiver
from vitalwatch.notify.config.templates import Context, render
from vitalwatch.notify.stages.fallback import FailureHandler
from vitalwatch.notify.stages.latency import StageClock
from vitalwatch.notify.stages.send import Sender
from vitalwatch.notify.stores.alerts import StoredAlert
from vitalwatch.notify.stores.audit import AuditLog
from vitalwatch.notify.stores.notification_log import NotificationLog

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Job:
    receiver: str  # the routing config's receiver name
    template: str  # short | rich
    tier: int
    target: Receiver
    alerts: tuple[StoredAlert, ...]
    keys: tuple[tuple[str, str], ...]  # (alert_id, delivery_key) per alert
    state: str  # the word in the title: firing, resolved, escalated, ...
    note: str
    now: float  # when the dispatcher decided it (recorded as the delivery time)
    redelivery: bool = False  # a message the target missed while down: one attempt (redeliver)


# A job's states that are an alert message's own first notification (not a repeat, an
# escalation or a redelivery): the ``accepted`` latency stage.
_FIRST_STATES = frozenset({"firing", "renotified", "resolved"})

UNROUTED = "(unrouted)"  # the notification log's receiver for hand-overs to the fallback


@dataclass(frozen=True)
class Handover:
    """An alert message no receiver can take, for the fallback stage (``FailureHandler``)."""

    stored: StoredAlert
    key: str  # the delivery key (or ``escalated``)
    reason: str  # no_route | no_targets
    receiver: str  # the receiver without targets ("" for no route)
    label: str  # the notification log's target for it: the receiver (and tier), or no route
    now: float

    @property
    def row(self) -> tuple[str, str, str, int, str]:
        return (self.stored.alert.alert_id, self.key, UNROUTED, 0, self.label)


class Executor(Protocol):
    def submit(self, lane: str, work: Callable[[], None]) -> None: ...


class Inline:
    def submit(self, lane: str, work: Callable[[], None]) -> None:
        work()


class TargetLanes:
    """One worker thread per lane (target), created on first use."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._queues: dict[str, queue.SimpleQueue[Callable[[], None] | None]] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, lane: str, work: Callable[[], None]) -> None:
        with self._lock:
            if lane not in self._queues:
                self._queues[lane] = queue.SimpleQueue()
                thread = threading.Thread(
                    target=self._work, args=(self._queues[lane],), name="notify-lane", daemon=True
                )
                thread.start()
                self._threads.append(thread)
            self._queues[lane].put(work)

    def _work(self, jobs: queue.SimpleQueue[Callable[[], None] | None]) -> None:
        while (work := jobs.get()) is not None:
            try:
                work()
            except Exception:  # keep the lane: the delivery stays pending and is tried again
                self._metrics.technical_alerts.labels("notifier").inc()
                log.exception("notify.delivery_error")

    def close(self, timeout: float) -> None:
        """Let running sends finish (queued ones stay pending for the next start)."""
        with self._lock:
            for jobs in self._queues.values():
                while not jobs.empty():
                    jobs.get_nowait()
                jobs.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def _resent_note(interrupted_at: float | None) -> str:
    if interrupted_at is None:
        return ""
    when = datetime.fromtimestamp(interrupted_at, tz=timezone.utc).strftime("%H:%M:%S")
    return (
        f"Possibly a repeat: vitalwatch restarted while sending this at {when} UTC "
        "and cannot tell whether it arrived. "
    )


class Deliverer:
    def __init__(
        self,
        notification_log: NotificationLog,
        audit: AuditLog,
        sender: Sender,
        failures: FailureHandler,
        metrics: Metrics,
        descriptions: Mapping[str, str],
        ack_link: Callable[[str], str | None],
        stop: threading.Event,
    ) -> None:
        self._log = notification_log
        self._audit = audit
        self._sender = sender
        self._failures = failures
        self._metrics = metrics
        self._descriptions = descriptions
        self._ack_link = ack_link
        self._stop = stop
        self._clock = StageClock(metrics)

    def run(self, job: Job) -> bool:
        """Send and record one job; True when the target accepted it."""
        target, alerts = job.target, [s.alert for s in job.alerts]
        interrupted = self._log.begin(job.keys, job.receiver, job.tier, target.key, time.time())
        context = Context(
            job.state, self._descriptions, self._ack_link, _resent_note(interrupted) + job.note
        )
        title, body = render(job.template, alerts, context)
        if interrupted is not None:
            self._metrics.notifications.labels(job.receiver, "resent").inc()
            log.warning("notify.resending_interrupted", receiver=job.receiver, target=target.name)
        if job.redelivery:
            ok: bool | None = self._sender.send_once(job.receiver, target, title, body) or None
        else:
            ok = self._sender.send(
                job.receiver, target, title, body, self._stop,
                lambda n: self._attempt_failed(job, n),
            )  # fmt: skip
        if ok is None:  # stopped during a backoff, or a redelivery failed: nothing arrived
            self._log.abandon(job.keys, job.receiver, job.tier, target.key)
            return False
        if not ok:
            self._failures.failed(job.receiver, target, job.alerts, (title, body), job.now,
                                  self._stop)  # fmt: skip
        outcome = "sent" if ok else "failed"
        self._log.record_message(job.keys, job.receiver, job.tier, target.key, outcome, job.now)
        first = ok and job.tier == 1 and job.state in _FIRST_STATES and not job.redelivery
        for stored, (_, key) in zip(job.alerts, job.keys, strict=True):
            if ok:
                self._metrics.event_to_notification.observe(
                    max(0.0, time.time() - stored.alert.detected_ms / 1000)
                )
            if first:
                self._clock.reached(stored.alert, "accepted", time.time(), job.now)
            self._audit.record(
                "notification.redelivered" if job.redelivery else f"notification.{outcome}",
                time.time(), alert=stored.alert, receiver=job.receiver, tier=job.tier,
                target=target.name, key=key, alerts_in_message=len(alerts),
            )  # fmt: skip
        return ok

    def hand_over(self, handover: Handover) -> None:
        """The fallback stage for an alert no receiver can take, then its record: once."""
        alert = handover.stored.alert
        context = Context(alert.state.value, self._descriptions, self._ack_link)
        message = render("rich", [alert], context)
        self._failures.unrouted(
            handover.stored, handover.reason, handover.receiver, message, handover.now, self._stop
        )
        alert_id, key, receiver, tier, label = handover.row
        self._log.record_message([(alert_id, key)], receiver, tier, label, "fallback", handover.now)

    def _attempt_failed(self, job: Job, attempt: int) -> None:
        for stored in job.alerts:
            self._audit.record(
                "notification.attempt_failed", time.time(), alert=stored.alert,
                receiver=job.receiver, tier=job.tier, target=job.target.name, attempt=attempt,
            )  # fmt: skip
