"""The alerts the dispatcher still works on, and the routes each takes (the routing stage).

Open: stored, and firing or resolved with something left to send (``stores.alerts``).
Acknowledged is re-read once per tick (the CLI and the API write acks). An alert's routes are
matched once per message and kept until its next message or a new routing.
"""

from __future__ import annotations

from vitalwatch.contracts.alerts import Alert, AlertState
from vitalwatch.notify.config.matchers import alert_labels
from vitalwatch.notify.config.receivers import NamedReceiver
from vitalwatch.notify.config.routing import Route
from vitalwatch.notify.config.routing_table import RoutingTable
from vitalwatch.notify.stores.acks import AckStore
from vitalwatch.notify.stores.alerts import StoredAlert

Routed = list[tuple[Route, NamedReceiver]]


class OpenAlerts:
    def __init__(self, stored: list[StoredAlert], routing: RoutingTable, ttl_s: float) -> None:
        self.ttl_s = ttl_s  # no message for this long: the alert's resolve is not coming
        self.open: dict[str, StoredAlert] = {s.alert.alert_id: s for s in stored}
        self.acked: set[str] = set()
        self.routing = routing
        self._routes: dict[str, Routed] = {}

    def refresh_acks(self, acks: AckStore) -> None:
        self.acked = acks.acknowledged(self.open)

    def take(self, stored: StoredAlert) -> None:
        self.open[stored.alert.alert_id] = stored
        self._routes.pop(stored.alert.alert_id, None)  # labels (state) changed

    def route_by(self, routing: RoutingTable) -> None:
        self.routing = routing
        self._routes.clear()

    def forget(self, alert_id: str) -> None:
        del self.open[alert_id]
        self._routes.pop(alert_id, None)

    def still_active(self, alert_id: str, alert: Alert) -> bool:
        """Firing (or re-notified), or resolved but latching and not yet acknowledged."""
        if alert.state is not AlertState.RESOLVED:
            return True
        return alert.latching and alert_id not in self.acked

    def routes_of(self, alert_id: str, alert: Alert) -> Routed:
        """The routing stage: the routes an alert takes, and their receivers."""
        if alert_id not in self._routes:
            routes = self.routing.router.match(alert_labels(alert))
            self._routes[alert_id] = [(r, self.routing.receivers[r.receiver]) for r in routes]
        return self._routes[alert_id]
