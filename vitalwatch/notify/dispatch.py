"""The dispatcher: runs every stored alert through the delivery stages, once per tick.

    ingest ─► alert store (durable) ─► inhibit ─► silence ─► group ─► dedup ─► send ─► record
                                                                      │ (retries spent)
                                                                      └─► fallback + dead letter
    escalate: unacknowledged alerts past their tier's time ─► dedup ─► send ─► record
    redeliver: what a receiver missed while down and is still active ─► send once ─► record

Each stage is its own small class (``inhibit``, ``silence``, ``group``, ``log`` for dedup and
record, ``send``, ``fallback``, ``escalate``, ``redeliver``); this module only wires them. The
routing they use (``routing_table``) can be replaced while alerts are pending: see
``use_routing``. Sending and recording (``deliver``) run on an executor, one lane per target; a
delivery handed to it counts as in flight for dedup until its outcome is recorded. Every
delivery is one message per apprise target, recorded in the notification log per alert, so a
restart at any point resumes without sending any receiver the same thing twice. The audit trail
gets every state change, delivery attempt, mute and escalation. Logs and metrics carry receiver
names, rule ids and masked URLs, never patient identifiers.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import structlog

from vitalwatch.contracts.alerts import Alert, AlertState, escalation
from vitalwatch.durations import format_duration_ms
from vitalwatch.metrics import Metrics
from vitalwatch.notify.config.matchers import alert_labels
from vitalwatch.notify.config.receivers import NamedReceiver, Receiver, Tier
from vitalwatch.notify.config.routing import Route
from vitalwatch.notify.config.routing_table import RoutingTable
from vitalwatch.notify.stages.deliver import Deliverer, Executor, Handover, Inline, Job
from vitalwatch.notify.stages.escalate import next_tier
from vitalwatch.notify.stages.fallback import FailureHandler
from vitalwatch.notify.stages.group import Flush, Grouper, Timing
from vitalwatch.notify.stages.redeliver import Redelivery
from vitalwatch.notify.stages.send import Sender
from vitalwatch.notify.stores.acks import AckStore
from vitalwatch.notify.stores.alerts import AlertStore, Source, StoredAlert
from vitalwatch.notify.stores.audit import AuditLog
from vitalwatch.notify.stores.notification_log import Missed, NotificationLog
from vitalwatch.notify.stores.silences import Silencer

log = structlog.get_logger(__name__)


def delivery_key(alert: Alert) -> str:
    """What a receiver gets at most once: the state (and which re-notification)."""
    return alert.delivery_key


def _escalated(alert: Alert) -> str:
    return AlertState.ESCALATED.value


@dataclass
class _Group:
    """A group's route and receiver as of when its alerts were grouped, and its members."""

    route: Route
    receiver: NamedReceiver
    members: set[str] = field(default_factory=set)
    retired: bool = False  # its route or receiver left the routing: sent once, then forgotten


@dataclass(frozen=True)
class Stages:
    routing: RoutingTable  # the initial one; ``Dispatcher.use_routing`` replaces it
    silencer: Silencer
    notification_log: NotificationLog
    alerts: AlertStore
    acks: AckStore
    audit: AuditLog
    sender: Sender
    failures: FailureHandler
    # Publishes the notifier's own state changes (``escalated``) to the alerts topic.
    announce: Callable[[Alert], None] = lambda alert: None


class Dispatcher:
    def __init__(
        self,
        stages: Stages,
        metrics: Metrics,
        descriptions: Mapping[str, str] | None = None,
        ack_link: Callable[[str], str | None] = lambda alert_id: None,
        executor: Executor | None = None,
        stop: threading.Event | None = None,
        open_alert_ttl_ms: int = 86_400_000,
    ) -> None:
        self._s = stages
        self._metrics = metrics
        self._ttl_s = open_alert_ttl_ms / 1000
        self._executor = executor or Inline()
        self._deliverer = Deliverer(
            stages.notification_log, stages.audit, stages.sender, stages.failures, metrics,
            dict(descriptions or {}), ack_link, stop or threading.Event(),
        )  # fmt: skip
        self._in_flight: set[tuple[str, str, str, int, str]] = set()
        self._acked: set[str] = set()
        self._routes: dict[str, list[tuple[Route, NamedReceiver]]] = {}
        self._settled_cache: dict[str, set[tuple[str, str, int]]] = {}  # open alerts only
        self._flying_count: Counter[tuple[str, str]] = Counter()  # (alert, receiver) in flight
        self._flight_lock = threading.Lock()
        self._grouper = Grouper()
        self._groups: dict[str, _Group] = {}
        self._routing = stages.routing
        self._next_routing: RoutingTable | None = None  # handed over by another thread
        self._routing_lock = threading.Lock()
        self._open: dict[str, StoredAlert] = {
            s.alert.alert_id: s for s in stages.alerts.open_alerts()
        }
        self._muted: set[tuple[str, str, str]] = set()  # (alert, receiver, why) already noted
        self._repeats: dict[str, int] = {}
        self._redelivery = Redelivery(stages.sender.retry_interval_s)

    # -- ingest -------------------------------------------------------------------------------

    def ingest(self, alert: Alert, source: Source, now: float) -> None:
        """Store an alert message durably (before its offset is committed)."""
        if not self._s.alerts.ingest(alert, source, now):
            log.debug("notify.replay_ignored", rule=alert.rule_id, state=alert.state.value)
            return
        self._open[alert.alert_id] = StoredAlert(alert, now, source)
        self._routes.pop(alert.alert_id, None)  # labels (state) changed
        self._s.audit.record(
            f"alert.{alert.state.value}", now, alert=alert, key=delivery_key(alert),
            severity=alert.severity.value, summary=alert.summary, source=str(source),
        )  # fmt: skip

    # -- a new routing ------------------------------------------------------------------------

    def use_routing(self, routing: RoutingTable) -> None:
        """Route by ``routing`` from the next tick on (callable from any thread).

        Nothing pending is dropped by the switch. A group already formed (alerts waiting out
        ``group_wait`` or ``group_interval``) is sent as it was grouped, to its receiver as
        it was, even when the new file no longer has that route or receiver; a group whose
        route and receiver are gone is then forgotten (no repeats). Deliveries being sent or
        retried finish on their targets. From the switch on, every open alert is routed by the
        new table: a receiver that is now on an alert's routes and has not had its current state
        gets it (the team now covering a ward learns of the alerts still firing there), and
        escalations follow the new receiver's tiers; a receiver that is no longer on an alert's
        routes gets nothing more for it, as in Alertmanager. The fallback receiver of the new
        table takes failures from then on.
        """
        with self._routing_lock:
            self._next_routing = routing

    def _switch_routing(self) -> None:
        with self._routing_lock:
            routing, self._next_routing = self._next_routing, None
        if routing is None:
            return
        self._routing = routing
        self._routes.clear()
        self._settled_cache.clear()  # a receiver of the same name may have other targets now
        self._s.failures.use_fallback(routing.fallback)
        kept = {(r.name, r.receiver): r for r in routing.router.routes()}
        for group in self._groups.values():
            route = kept.get((group.route.name, group.route.receiver))
            if route is None:
                group.retired = True
            else:
                group.route, group.receiver = route, routing.receivers[route.receiver]
                group.retired = False

    # -- one tick: route, group, flush, escalate, close --------------------------------------

    def tick(self, now: float, stop: threading.Event) -> None:
        self._switch_routing()
        self._s.silencer.refresh(now)
        self._acked = self._s.acks.acknowledged(self._open)  # the CLI and API write acks
        active = [s.alert for i, s in self._open.items() if self._still_active(i, s.alert)]
        self._routing.inhibitor.refresh(active)
        offered: set[str] = set()
        for alert_id, stored in list(self._open.items()):
            if self._offer(alert_id, stored, now):
                offered.add(alert_id)
        for key, why, pending in self._grouper.due(now):
            if stop.is_set():
                return
            self._flush(key, why, pending, now)
        self._escalate(now, stop)
        self._redeliver(now)
        self._close_finished(offered, now)

    def _still_active(self, alert_id: str, alert: Alert) -> bool:
        """Firing (or re-notified), or resolved but latching and not yet acknowledged."""
        if alert.state is not AlertState.RESOLVED:
            return True
        return alert.latching and alert_id not in self._acked

    def _receivers_of(self, alert_id: str, alert: Alert) -> list[tuple[Route, NamedReceiver]]:
        """The routes an alert takes (kept per alert id until its next message)."""
        if alert_id not in self._routes:
            routes = self._routing.router.match(alert_labels(alert))
            self._routes[alert_id] = [(r, self._routing.receivers[r.receiver]) for r in routes]
        return self._routes[alert_id]

    def _muted_by(self, alert_id: str, alert: Alert, receiver: str, now: float) -> bool:
        """The inhibit and silence stages; notes each new mute once (audit, metric, log)."""
        why, by = "", ""
        source = self._routing.inhibitor.inhibiting(alert)
        if source is not None:
            why, by = "inhibited", source.alert_id
        else:
            silence = self._s.silencer.muting(alert, now)
            if silence is not None:
                why, by = "silenced", silence.id
        if not why:
            if self._muted:
                self._muted = {m for m in self._muted if m[:2] != (alert_id, receiver)}
            return False
        if (alert_id, receiver, why) not in self._muted:
            self._muted.add((alert_id, receiver, why))
            self._metrics.notifications.labels(receiver, why).inc()
            log.info(f"notify.{why}", receiver=receiver, rule=alert.rule_id, by=by)
            self._s.audit.record(f"notification.{why}", now, alert=alert, receiver=receiver, by=by)
        return True

    def _offer(self, alert_id: str, stored: StoredAlert, now: float) -> bool:
        """Hand the alert to its routes' groups where a tier-1 target still needs it, or to the
        fallback stage when no route matches it or a receiver on its routes has no target."""
        alert = stored.alert
        routes = self._receivers_of(alert_id, alert)
        if not routes:
            return self._unrouted(stored, "no_route", "", "(no route)", delivery_key(alert), now)
        offered = False
        for route, receiver in routes:
            if not receiver.tiers[0].receivers:
                offered |= self._unrouted(
                    stored, "no_targets", receiver.name, receiver.name, delivery_key(alert), now
                )
                continue
            if self._flying(alert_id, receiver.name):
                offered = True  # keep it open until its outcome is recorded; look again then
                continue
            if alert.state is AlertState.RESOLVED and self._resolved_unwanted(
                alert_id, alert, receiver
            ):
                continue
            if self._settled(alert_id, receiver, receiver.tiers[0], delivery_key(alert)):
                continue
            if self._muted_by(alert_id, alert, receiver.name, now):
                continue
            key = route.group_key(alert_labels(alert))
            timing = Timing(route.group_wait_ms, route.group_interval_ms, route.repeat_interval_ms)
            self._grouper.offer(key, alert_id, timing, now)
            self._groups.setdefault(key, _Group(route, receiver)).members.add(alert_id)
            offered = True
        return offered

    def _unrouted(
        self, stored: StoredAlert, reason: str, receiver: str, label: str, key: str, now: float
    ) -> bool:
        """Hand an alert message no receiver can take to the fallback stage, once (after the
        inhibit and silence stages, as any delivery). True while the hand-over is under way."""
        handover = Handover(stored, key, reason, receiver, label, now)
        alert_id = stored.alert.alert_id
        with self._flight_lock:
            if handover.row in self._in_flight:
                return True
        if self._s.notification_log.settled(*handover.row):
            return False
        if stored.alert.state is AlertState.RESOLVED and any(
            m[:2] == (alert_id, label) for m in self._muted
        ):
            return False  # its firing was muted: the resolve is not news to anybody
        if self._muted_by(alert_id, stored.alert, label, now):
            return False
        flight = {handover.row}
        with self._flight_lock:
            self._in_flight |= flight
        self._executor.submit("(fallback)", partial(self._run_handover, handover, flight))
        return True

    def _run_handover(
        self, handover: Handover, flight: set[tuple[str, str, str, int, str]]
    ) -> None:
        try:
            self._deliverer.hand_over(handover)
        finally:
            with self._flight_lock:
                self._in_flight -= flight

    def _flying_any(self, alert_id: str) -> bool:
        with self._flight_lock:
            return any(f[0] == alert_id for f in self._in_flight)

    def _flying(self, alert_id: str, receiver: str) -> bool:
        with self._flight_lock:
            return self._flying_count[(alert_id, receiver)] > 0

    def _settled(self, alert_id: str, receiver: NamedReceiver, tier: Tier, key: str) -> bool:
        """Every target of the tier has this delivery (remembered: it stays so)."""
        done = (key, receiver.name, tier.number)
        known = self._settled_cache.setdefault(alert_id, set())
        if done in known:
            return True
        if all(self._s.notification_log.settled(alert_id, *done, t.key) for t in tier.receivers):
            known.add(done)
            return True
        return False

    def _flush(
        self,
        key: str,
        why: Flush,
        pending: frozenset[str],
        now: float,
    ) -> None:
        group = self._groups[key]
        receiver = group.receiver
        if why is Flush.NEW:
            ids, state_of = pending, delivery_key
        else:
            ids = frozenset(
                i for i in group.members
                if i in self._open and self._still_active(i, self._open[i].alert)
                and i not in self._acked
            )  # fmt: skip
            if not ids or group.retired:
                self._forget_group(key)
                return
            self._repeats[key] = self._repeats.get(key, 0) + 1
            repeat = f"repeat#{self._repeats[key]}"
            state_of = lambda alert: repeat  # noqa: E731
        alerts = [
            self._open[i] for i in sorted(ids)
            if i in self._open
            and not self._muted_by(i, self._open[i].alert, receiver.name, now)
        ]  # fmt: skip
        by_state: dict[str, list[StoredAlert]] = {}  # one message per state: firing first
        for stored in alerts:
            by_state.setdefault(state_of(stored.alert).split("#")[0], []).append(stored)
        for state in sorted(by_state, key=lambda s: s == AlertState.RESOLVED.value):
            self._deliver(receiver, receiver.tiers[0], by_state[state], state_of, "", now)
        self._grouper.flushed(key, now)
        if group.retired:
            self._forget_group(key)

    def _forget_group(self, key: str) -> None:
        self._grouper.forget(key)
        self._groups.pop(key, None)

    def _resolved_unwanted(self, alert_id: str, alert: Alert, receiver: NamedReceiver) -> bool:
        """Whether a resolve is not for this receiver: it does not take resolves and already has
        the firing, or the firing was muted for it (silenced or inhibited). A firing not yet sent
        when the resolve comes (both within group_wait, as when a backlog is read after an
        outage) is announced by the resolve, whatever ``send_resolved`` says: an episode that
        happened is never swallowed by the grouping."""
        if self._s.notification_log.reached(alert_id, receiver.name) is not None:
            return not receiver.send_resolved
        return any(muted[:2] == (alert_id, receiver.name) for muted in self._muted)

    def _deliver(
        self,
        receiver: NamedReceiver,
        tier: Tier,
        alerts: Sequence[StoredAlert],
        state_of: Callable[[Alert], str],
        note: str,
        now: float,
    ) -> bool:
        """Dedup, then hand one message per target of ``tier`` to the executor (send, record).
        False when every target already has or is being sent all of it."""
        submitted = False
        for target in tier.receivers:
            todo = [s for s in alerts if not self._has(receiver, tier, target, s.alert, state_of)]
            if todo:
                self._submit(receiver, tier, target, todo, state_of, note, now)
                submitted = True
        return submitted

    def _submit(
        self,
        receiver: NamedReceiver,
        tier: Tier,
        target: Receiver,
        alerts: Sequence[StoredAlert],
        state_of: Callable[[Alert], str],
        note: str,
        now: float,
        redelivery: bool = False,
    ) -> None:
        """One message to one target, in flight until its lane has recorded the outcome."""
        keys = tuple((s.alert.alert_id, state_of(s.alert)) for s in alerts)
        job = Job(
            receiver.name, receiver.template_for(target), tier.number, target, tuple(alerts),
            keys, state_of(alerts[0].alert).split("#")[0], note, now, redelivery,
        )  # fmt: skip
        flight = {(a, k, receiver.name, tier.number, target.key) for a, k in keys}
        with self._flight_lock:
            self._in_flight |= flight
            self._flying_count.update((a, receiver.name) for a, _ in keys)
        self._executor.submit(target.key, partial(self._run, job, flight))

    def _has(
        self,
        receiver: NamedReceiver,
        tier: Tier,
        target: Receiver,
        alert: Alert,
        state_of: Callable[[Alert], str],
    ) -> bool:
        """The dedup stage: the target has this delivery, or is being sent it now."""
        key = (alert.alert_id, state_of(alert), receiver.name, tier.number, target.key)
        with self._flight_lock:
            if key in self._in_flight:
                return True
        if self._s.notification_log.settled(*key):
            self._metrics.notifications.labels(receiver.name, "duplicate").inc()
            return True
        return False

    def _run(self, job: Job, flight: set[tuple[str, str, str, int, str]]) -> None:
        try:
            self._redelivery.reached(job.target.key, self._deliverer.run(job))
        finally:
            with self._flight_lock:
                self._in_flight -= flight
                self._flying_count.subtract((f[0], f[2]) for f in flight)

    def _escalate(self, now: float, stop: threading.Event) -> None:
        for alert_id, stored in list(self._open.items()):
            alert = stored.alert
            if stop.is_set():
                return
            if alert_id in self._acked or not self._still_active(alert_id, alert):
                continue
            for _, receiver in self._receivers_of(alert_id, alert):
                if len(receiver.tiers) < 2:
                    continue
                reached = self._s.notification_log.reached(alert_id, receiver.name)
                tier = next_tier(receiver, reached, False, now)
                if tier is not None and not tier.receivers:  # an escalation to nobody
                    label = f"{receiver.name} tier {tier.number}"
                    self._unrouted(stored, "no_targets", receiver.name, label, _escalated(alert),
                                   now)  # fmt: skip
                    continue
                if tier is None or self._muted_by(alert_id, alert, receiver.name, now):
                    continue
                previous = receiver.tiers[tier.number - 2]
                waited = previous.escalate_after_ms
                note = (
                    f"Escalated to tier {tier.number}: not acknowledged within "
                    f"{format_duration_ms(waited)}."
                    if waited is not None and reached is not None and reached.any_sent
                    else f"Escalated to tier {tier.number}: tier {previous.number} unreachable."
                )
                flight = (alert_id, AlertState.ESCALATED.value, receiver.name, tier.number)
                with self._flight_lock:
                    if any((*flight, t.key) in self._in_flight for t in tier.receivers):
                        continue  # on its way already
                self._metrics.escalations.labels(receiver.name).inc()
                log.warning("notify.escalated", receiver=receiver.name, tier=tier.number,
                            rule=alert.rule_id)  # fmt: skip
                self._s.audit.record("alert.escalated", now, alert=alert, receiver=receiver.name,
                                     tier=tier.number)  # fmt: skip
                self._s.announce(escalation(alert, receiver.name, tier.number))
                self._deliver(receiver, tier, [stored], _escalated, note, now)

    def _redeliver(self, now: float) -> None:
        """The redelivery stage: a target that was down gets what it missed and still matters."""
        if not self._redelivery.due(now):
            return
        missed = self._s.notification_log.missed(now - self._ttl_s)
        for m in self._redelivery.pick([m for m in missed if self._still_missed(m, now)]):
            stored = self._open[m.alert_id]
            receiver = self._routing.receivers[m.receiver]
            tier = receiver.tiers[0]
            (target,) = [t for t in tier.receivers if t.key == m.target]
            with self._flight_lock:
                if (m.alert_id, m.delivery_key, m.receiver, 1, m.target) in self._in_flight:
                    continue
            when = time.strftime("%H:%M:%S", time.gmtime(m.failed_at))
            note = (
                f"Delayed: {receiver.name} could not be reached when this was sent at {when} UTC; "
                "the alert is still active."
            )
            self._submit(receiver, tier, target, [stored], delivery_key, note, now, True)

    def _still_missed(self, missed: Missed, now: float) -> bool:
        """A tier-1 delivery of an alert's current message, the alert still active and
        unacknowledged, its target still on the alert's routes, and not muted."""
        stored = self._open.get(missed.alert_id)
        if stored is None or missed.tier != 1 or missed.alert_id in self._acked:
            return False
        alert = stored.alert
        if delivery_key(alert) != missed.delivery_key:
            return False
        if not self._still_active(missed.alert_id, alert):
            return False
        for _, receiver in self._receivers_of(missed.alert_id, alert):
            if receiver.name == missed.receiver and any(
                t.key == missed.target for t in receiver.tiers[0].receivers
            ):
                return not self._muted_by(missed.alert_id, alert, receiver.name, now)
        return False

    def _close_finished(self, offered: set[str], now: float) -> None:
        """Resolved alerts with nothing left to send leave the open set (and their groups), as
        do alerts with no message for the open-alert TTL (their resolve never came)."""
        for alert_id, stored in list(self._open.items()):
            if now - stored.received_at >= self._ttl_s and not self._flying_any(alert_id):
                self._metrics.errors.labels("notifier", "alert_expired").inc()
                log.warning("notify.alert_expired", rule=stored.alert.rule_id)
                self._s.audit.record("alert.expired", now, alert=stored.alert)
            elif alert_id in offered or self._still_active(alert_id, stored.alert):
                continue
            self._s.alerts.close_alert(alert_id)
            del self._open[alert_id]
            self._settled_cache.pop(alert_id, None)
            self._routes.pop(alert_id, None)
            for key, group in list(self._groups.items()):
                group.members.discard(alert_id)
                if not group.members:
                    self._forget_group(key)
