"""The dispatcher: runs every stored alert through the delivery stages, once per tick.

    ingest ─► alert store (durable) ─► inhibit ─► silence ─► group ─► dedup ─► send ─► record
                                                                      │ (retries spent)
                                                                      └─► fallback + dead letter
    escalate: unacknowledged alerts past their tier's time ─► dedup ─► send ─► record

Each stage is its own small class (``inhibit``, ``silence``, ``group``, ``log`` for dedup and
record, ``send``, ``fallback``, ``escalate``); this module only wires them. Every delivery is
one message per apprise target, recorded in the notification log per alert, so a restart at
any point resumes without sending any receiver the same thing twice. The audit trail gets
every state change, delivery attempt, mute and escalation. Logs and metrics carry receiver
names, rule ids and masked URLs, never patient identifiers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import structlog

from vitalwatch.contracts.alerts import Alert, AlertState
from vitalwatch.durations import format_duration_ms
from vitalwatch.metrics import Metrics
from vitalwatch.notify.acks import AckStore
from vitalwatch.notify.alertstore import AlertStore, Source, StoredAlert
from vitalwatch.notify.audit import AuditLog
from vitalwatch.notify.escalate import next_tier
from vitalwatch.notify.fallback import FailureHandler
from vitalwatch.notify.group import Flush, Grouper, Timing
from vitalwatch.notify.inhibit import Inhibitor
from vitalwatch.notify.log import NotificationLog
from vitalwatch.notify.matchers import alert_labels
from vitalwatch.notify.receivers import NamedReceiver, Tier
from vitalwatch.notify.routing import Route, Router
from vitalwatch.notify.send import Sender
from vitalwatch.notify.silence import Silencer
from vitalwatch.notify.templates import Context, render

log = structlog.get_logger(__name__)


def delivery_key(alert: Alert) -> str:
    """What a receiver gets at most once: the state (and which re-notification)."""
    return alert.delivery_key


def _resent_note(interrupted_at: float | None) -> str:
    if interrupted_at is None:
        return ""
    when = datetime.fromtimestamp(interrupted_at, tz=timezone.utc).strftime("%H:%M:%S")
    return (
        f"Possibly a repeat: vitalwatch restarted while sending this at {when} UTC "
        "and cannot tell whether it arrived. "
    )


@dataclass(frozen=True)
class Stages:
    router: Router
    receivers: Mapping[str, NamedReceiver]
    inhibitor: Inhibitor
    silencer: Silencer
    notification_log: NotificationLog
    alerts: AlertStore
    acks: AckStore
    audit: AuditLog
    sender: Sender
    failures: FailureHandler


class Dispatcher:
    def __init__(
        self,
        stages: Stages,
        metrics: Metrics,
        descriptions: Mapping[str, str] | None = None,
        ack_link: Callable[[str], str | None] = lambda alert_id: None,
    ) -> None:
        self._s = stages
        self._metrics = metrics
        self._descriptions = dict(descriptions or {})
        self._ack_link = ack_link
        self._grouper = Grouper()
        self._groups: dict[str, tuple[Route, set[str]]] = {}  # key -> route, member alert ids
        self._open: dict[str, StoredAlert] = {
            s.alert.alert_id: s for s in stages.alerts.open_alerts()
        }
        self._muted: set[tuple[str, str, str]] = set()  # (alert, receiver, why) already noted
        self._repeats: dict[str, int] = {}

    # -- ingest -------------------------------------------------------------------------------

    def ingest(self, alert: Alert, source: Source, now: float) -> None:
        """Store an alert message durably (before its offset is committed)."""
        if not self._s.alerts.ingest(alert, source, now):
            log.debug("notify.replay_ignored", rule=alert.rule_id, state=alert.state.value)
            return
        self._open[alert.alert_id] = StoredAlert(alert, now, source)
        self._s.audit.record(
            f"alert.{alert.state.value}", now, alert=alert, key=delivery_key(alert),
            severity=alert.severity.value, summary=alert.summary, source=str(source),
        )  # fmt: skip

    # -- one tick: route, group, flush, escalate, close --------------------------------------

    def tick(self, now: float, stop: threading.Event) -> None:
        self._s.silencer.refresh(now)
        active = [s.alert for s in self._open.values() if self._still_active(s.alert)]
        offered: set[str] = set()
        for stored in list(self._open.values()):
            if self._offer(stored.alert, active, now):
                offered.add(stored.alert.alert_id)
        for key, why, pending in self._grouper.due(now):
            if stop.is_set():
                return
            self._flush(key, why, pending, active, now, stop)
        self._escalate(active, now, stop)
        self._close_finished(offered)

    def _still_active(self, alert: Alert) -> bool:
        """Firing (or re-notified), or resolved but latching and not yet acknowledged."""
        if alert.state is not AlertState.RESOLVED:
            return True
        return alert.latching and self._s.acks.get(alert.alert_id) is None

    def _receivers_of(self, alert: Alert) -> list[tuple[Route, NamedReceiver]]:
        routes = self._s.router.match(alert_labels(alert))
        return [(r, self._s.receivers[r.receiver]) for r in routes]

    def _muted_by(self, alert: Alert, receiver: str, active: Iterable[Alert], now: float) -> bool:
        """The inhibit and silence stages; notes each new mute once (audit, metric, log)."""
        why, by = "", ""
        source = self._s.inhibitor.inhibiting(alert, active)
        if source is not None:
            why, by = "inhibited", source.alert_id
        else:
            silence = self._s.silencer.muting(alert, now)
            if silence is not None:
                why, by = "silenced", silence.id
        if not why:
            self._muted = {m for m in self._muted if m[:2] != (alert.alert_id, receiver)}
            return False
        if (alert.alert_id, receiver, why) not in self._muted:
            self._muted.add((alert.alert_id, receiver, why))
            self._metrics.notifications.labels(receiver, why).inc()
            log.info(f"notify.{why}", receiver=receiver, rule=alert.rule_id, by=by)
            self._s.audit.record(f"notification.{why}", now, alert=alert, receiver=receiver, by=by)
        return True

    def _offer(self, alert: Alert, active: Sequence[Alert], now: float) -> bool:
        """Hand the alert to its routes' groups where a tier-1 target still needs it."""
        offered = False
        labels = alert_labels(alert)
        for route, receiver in self._receivers_of(alert):
            if alert.state is AlertState.RESOLVED and (
                not receiver.send_resolved
                or self._s.notification_log.reached(alert.alert_id, receiver.name) is None
            ):
                continue  # not wanted, or its firing was never sent (e.g. silenced throughout)
            if self._settled(alert, receiver, receiver.tiers[0], delivery_key(alert)):
                continue
            if self._muted_by(alert, receiver.name, active, now):
                continue
            key = route.group_key(labels)
            timing = Timing(route.group_wait_ms, route.group_interval_ms, route.repeat_interval_ms)
            self._grouper.offer(key, alert.alert_id, timing, now)
            self._groups.setdefault(key, (route, set()))[1].add(alert.alert_id)
            offered = True
        return offered

    def _settled(self, alert: Alert, receiver: NamedReceiver, tier: Tier, key: str) -> bool:
        return all(
            self._s.notification_log.settled(alert.alert_id, key, receiver.name, tier.number, t.key)
            for t in tier.receivers
        )

    def _flush(
        self,
        key: str,
        why: Flush,
        pending: frozenset[str],
        active: Sequence[Alert],
        now: float,
        stop: threading.Event,
    ) -> None:
        route, members = self._groups[key]
        receiver = self._s.receivers[route.receiver]
        if why is Flush.NEW:
            ids, state_of = pending, delivery_key
        else:
            ids = frozenset(
                i for i in members
                if i in self._open and self._still_active(self._open[i].alert)
                and self._s.acks.get(i) is None
            )  # fmt: skip
            if not ids:
                self._grouper.forget(key)
                self._groups.pop(key, None)
                return
            self._repeats[key] = self._repeats.get(key, 0) + 1
            repeat = f"repeat#{self._repeats[key]}"
            state_of = lambda alert: repeat  # noqa: E731
        alerts = [
            self._open[i] for i in sorted(ids)
            if i in self._open
            and not self._muted_by(self._open[i].alert, receiver.name, active, now)
        ]  # fmt: skip
        if alerts and self._deliver(receiver, receiver.tiers[0], alerts, state_of, "", now, stop):
            return  # stopped mid-delivery: leave the group pending for after the restart
        self._grouper.flushed(key, now)

    def _deliver(
        self,
        receiver: NamedReceiver,
        tier: Tier,
        alerts: Sequence[StoredAlert],
        state_of: Callable[[Alert], str],
        note: str,
        now: float,
        stop: threading.Event,
    ) -> bool:
        """Dedup, send, record one message per target of ``tier``; True when stopped."""
        log_ = self._s.notification_log
        for target in tier.receivers:
            todo = [
                s for s in alerts
                if not log_.settled(s.alert.alert_id, state_of(s.alert), receiver.name,
                                    tier.number, target.key)
            ]  # fmt: skip
            if not todo:
                self._metrics.notifications.labels(receiver.name, "duplicate").inc()
                continue
            batch = [s.alert for s in todo]
            keys = [(a.alert_id, state_of(a)) for a in batch]
            interrupted = log_.begin(keys, receiver.name, tier.number, target.key, now)
            word = state_of(batch[0]).split("#")[0]
            context = Context(word, self._descriptions, self._ack_link,
                              _resent_note(interrupted) + note)  # fmt: skip
            title, body = render(receiver.template_for(target), batch, context)
            if interrupted is not None:
                self._metrics.notifications.labels(receiver.name, "resent").inc()
                log.warning("notify.resending_interrupted", receiver=receiver.name,
                            target=target.name)  # fmt: skip

            def failed_attempt(
                attempt: int, todo: list[StoredAlert] = todo, name: str = target.name
            ) -> None:
                for stored in todo:
                    self._s.audit.record(
                        "notification.attempt_failed", time.time(), alert=stored.alert,
                        receiver=receiver.name, tier=tier.number, target=name,
                        attempt=attempt,
                    )  # fmt: skip

            ok = self._s.sender.send(receiver.name, target, title, body, stop, failed_attempt)
            if ok is None:
                return True
            if not ok:
                self._s.failures.failed(receiver.name, target, todo, (title, body), now, stop)
            outcome = "sent" if ok else "failed"
            at = now
            log_.record_message(keys, receiver.name, tier.number, target.key, outcome, at)
            for stored in todo:
                if ok:
                    self._metrics.event_to_notification.observe(
                        max(0.0, at - stored.alert.detected_ms / 1000)
                    )
                self._s.audit.record(
                    f"notification.{outcome}", at, alert=stored.alert, receiver=receiver.name,
                    tier=tier.number, target=target.name, key=state_of(stored.alert),
                    alerts_in_message=len(batch),
                )  # fmt: skip
        return False

    def _escalate(self, active: Sequence[Alert], now: float, stop: threading.Event) -> None:
        for alert in active:
            if stop.is_set():
                return
            acknowledged = self._s.acks.get(alert.alert_id) is not None
            for _, receiver in self._receivers_of(alert):
                if len(receiver.tiers) < 2 or acknowledged:
                    continue
                reached = self._s.notification_log.reached(alert.alert_id, receiver.name)
                tier = next_tier(receiver, reached, acknowledged, now)
                if tier is None or self._muted_by(alert, receiver.name, active, now):
                    continue
                previous = receiver.tiers[tier.number - 2]
                waited = previous.escalate_after_ms
                note = (
                    f"Escalated to tier {tier.number}: not acknowledged within "
                    f"{format_duration_ms(waited)}."
                    if waited is not None and reached is not None and reached.any_sent
                    else f"Escalated to tier {tier.number}: tier {previous.number} unreachable."
                )
                self._metrics.escalations.labels(receiver.name).inc()
                log.warning("notify.escalated", receiver=receiver.name, tier=tier.number,
                            rule=alert.rule_id)  # fmt: skip
                self._s.audit.record("alert.escalated", now, alert=alert, receiver=receiver.name,
                                     tier=tier.number)  # fmt: skip
                stored = self._open[alert.alert_id]
                if self._deliver(
                    receiver, tier, [stored], lambda a: AlertState.ESCALATED.value, note, now, stop
                ):
                    return

    def _close_finished(self, offered: set[str]) -> None:
        """Resolved alerts with nothing left to send leave the open set (and their groups)."""
        for alert_id, stored in list(self._open.items()):
            if alert_id in offered or self._still_active(stored.alert):
                continue
            self._s.alerts.close_alert(alert_id)
            del self._open[alert_id]
            for key, (_, members) in list(self._groups.items()):
                members.discard(alert_id)
                if not members:
                    self._grouper.forget(key)
                    del self._groups[key]
