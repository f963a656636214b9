"""The group stage's other half: groups an offer formed, sent when the grouper says they are
due (``group.Grouper``), one message per state, through the mute stages and dedup again.

A group keeps its route and receiver as of when its alerts were grouped: a new routing that
drops them retires the group (sent once as grouped, then forgotten, no repeats).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from vitalwatch.contracts.alerts import Alert, AlertState, Severity
from vitalwatch.notify.config.matchers import alert_labels
from vitalwatch.notify.config.receivers import NamedReceiver
from vitalwatch.notify.config.routing import Route
from vitalwatch.notify.config.routing_table import RoutingTable
from vitalwatch.notify.stages.group import NOT_NEWS, Grouper, Timing
from vitalwatch.notify.stages.group import Flush as Why
from vitalwatch.notify.stages.latency import StageClock
from vitalwatch.notify.stages.mute import Mutes
from vitalwatch.notify.stages.open_alerts import OpenAlerts
from vitalwatch.notify.stages.submit import Submit
from vitalwatch.notify.stores.alerts import StoredAlert

# A firing alert's rank as news for its group (``Timing.escalation``).
_SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2}


def delivery_key(alert: Alert) -> str:
    """What a receiver gets at most once: the state (and which re-notification)."""
    return alert.delivery_key


@dataclass
class _Group:
    """A group's route and receiver as of when its alerts were grouped, and its members."""

    route: Route
    receiver: NamedReceiver
    members: set[str] = field(default_factory=set)
    retired: bool = False  # its route or receiver left the routing: sent once, then forgotten


class Groups:
    def __init__(self) -> None:
        self.grouper = Grouper()
        self.groups: dict[str, _Group] = {}
        self.repeats: dict[str, int] = {}

    def offer(self, route: Route, receiver: NamedReceiver, alert: Alert, now: float) -> None:
        key = route.group_key(alert_labels(alert))
        wait = route.group_wait.ms(alert.severity)
        news = _SEVERITY_RANK[alert.severity] if alert.state is AlertState.FIRING else NOT_NEWS
        timing = Timing(wait, route.group_interval_ms, route.repeat_interval_ms, news)
        self.grouper.offer(key, alert.alert_id, timing, now)
        self.groups.setdefault(key, _Group(route, receiver)).members.add(alert.alert_id)

    def forget(self, key: str) -> None:
        self.grouper.forget(key)
        self.groups.pop(key, None)

    def leave(self, alert_id: str) -> None:
        for key, group in list(self.groups.items()):
            group.members.discard(alert_id)
            if not group.members:
                self.forget(key)

    def route_by(self, routing: RoutingTable) -> None:
        kept = {(r.name, r.receiver): r for r in routing.router.routes()}
        for group in self.groups.values():
            route = kept.get((group.route.name, group.route.receiver))
            if route is None:
                group.retired = True
            else:
                group.route, group.receiver = route, routing.receivers[route.receiver]
                group.retired = False


class Flush:
    def __init__(
        self, groups: Groups, alerts: OpenAlerts, mutes: Mutes, submit: Submit, clock: StageClock
    ) -> None:
        self._groups = groups
        self._alerts = alerts
        self._mutes = mutes
        self._submit = submit
        self._clock = clock

    def run(self, now: float, stop: threading.Event) -> None:
        for key, why, pending in self._groups.grouper.due(now):
            if stop.is_set():
                return
            self._flush(key, why, pending, now)

    def _flush(self, key: str, why: Why, pending: frozenset[str], now: float) -> None:
        group, open_ = self._groups.groups[key], self._alerts.open
        receiver = group.receiver
        state_of: Callable[[Alert], str] = delivery_key
        ids = pending
        if why is not Why.NEW:
            ids = frozenset(
                i for i in group.members
                if i in open_ and self._alerts.still_active(i, open_[i].alert)
                and i not in self._alerts.acked
            )  # fmt: skip
            if not ids or group.retired:
                self._groups.forget(key)
                return
            self._groups.repeats[key] = self._groups.repeats.get(key, 0) + 1
            repeat = f"repeat#{self._groups.repeats[key]}"
            state_of = lambda alert: repeat  # noqa: E731
        alerts = [
            open_[i] for i in sorted(ids)
            if i in open_ and not self._mutes.muted(i, open_[i].alert, receiver.name, now)
        ]  # fmt: skip
        by_state: dict[str, list[StoredAlert]] = {}  # one message per state: firing first
        for stored in alerts:
            if why is Why.NEW:
                self._clock.reached(stored.alert, "flushed", now, stored.received_at)
            by_state.setdefault(state_of(stored.alert).split("#")[0], []).append(stored)
        for state in sorted(by_state, key=lambda s: s == AlertState.RESOLVED.value):
            self._submit.deliver(receiver, receiver.tiers[0], by_state[state], state_of, "", now)
        self._groups.grouper.flushed(key, now)
        if group.retired:
            self._groups.forget(key)
