"""Re-reading what people edit while the service runs: the rule files and the notification
routing, on an edit of the file (polled) or SIGHUP. A valid, different file replaces what runs;
an invalid one is a technical alarm and what runs stays; every attempt is counted by outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from prometheus_client import Counter

from vitalwatch.errors import ConfigError, RuleFileError
from vitalwatch.metrics import Metrics
from vitalwatch.notify.config.routing_table import RoutingTable
from vitalwatch.notify.service import NotificationService
from vitalwatch.rules.watch import RuleWatcher
from vitalwatch.service.technical_alarm import TechnicalAlarm

T = TypeVar("T")


def reloaded(
    what: str,
    load: Callable[[], T],
    unchanged: Callable[[T], bool],
    reloads: Counter,
    alarm: TechnicalAlarm,
    **context: Any,
) -> T | None:
    """What ``load`` reads now if it is valid and differs from what runs; else None.

    Every attempt is counted in ``reloads`` by outcome (applied, invalid, unchanged). An invalid
    file is a technical alarm (component ``what``, event ``<what>.reload_rejected``) whose
    ``error`` is the loader's message, naming the file, the rule, route or receiver and the
    field; what runs stays.
    """
    try:
        loaded = load()
    except (RuleFileError, ConfigError) as exc:
        reloads.labels("invalid").inc()
        alarm.report(what, f"{what}.reload_rejected", error=str(exc), **context)
        return None
    if unchanged(loaded):
        reloads.labels("unchanged").inc()
        return None
    reloads.labels("applied").inc()
    return loaded


class RoutingReloads:
    """The notifier's routing re-read on SIGHUP or an edit of ``notify.routing_file``; used by
    ``vitalwatch run`` and by ``vitalwatch notify serve`` (the notifier alone).

    ``watcher`` fingerprints the routing file as it was when the notifier read it (None: no
    routing file, only SIGHUP re-reads the embedded default)."""

    def __init__(
        self,
        watcher: RuleWatcher | None,
        notifier: NotificationService,
        metrics: Metrics,
        alarm: TechnicalAlarm,
    ) -> None:
        self._watcher, self._notifier = watcher, notifier
        self._metrics, self._alarm = metrics, alarm

    def check(self, signalled: bool) -> None:
        if (self._watcher is not None and self._watcher.changed()) or signalled:
            self.reload()

    def reload(self) -> RoutingTable | None:
        """Re-read the routing; a valid, different one replaces the notifier's (returned)."""
        running = self._notifier.routing
        routing = reloaded(
            "routing", self._notifier.load_routing, running.same_as,
            self._metrics.routing_reloads, self._alarm,
            file=running.source or "(embedded default)",
        )  # fmt: skip
        if routing is not None:
            self._notifier.use_routing(routing)
        return routing
