"""The routing in force: a validated routing config with its receivers built, replaced whole.

``RoutingTable`` bundles what the dispatcher routes by (the route tree, the named receivers
with their apprise targets, the inhibition rules, the fallback receiver). It is immutable: a
reload (SIGHUP, or an edit of ``notify.routing_file``) builds a new table beside the running
one and hands it over (``Dispatcher.use_routing``); a file that does not validate never
becomes a table, so the running one stays.
"""

from __future__ import annotations

from collections.abc import Mapping

from vitalwatch.notify.config.receivers import NamedReceiver, build_named_receivers
from vitalwatch.notify.config.routing import Router, RoutingConfig, build_router, load_routing
from vitalwatch.notify.stages.inhibit import Inhibitor
from vitalwatch.settings import NotifySettings


class RoutingTable:
    def __init__(
        self, config: RoutingConfig, receivers: Mapping[str, NamedReceiver], source: str = ""
    ) -> None:
        self.config = config
        self.receivers = dict(receivers)
        self.source = source  # the file it came from ("" for the embedded default)
        self.router: Router = build_router(config)
        self.inhibitor = Inhibitor(config.inhibit_rules)
        self.fallback = self.receivers[config.fallback] if config.fallback else None

    def targets(self) -> dict[str, list[list[str]]]:
        """Receiver → its tiers' target keys (hashes of the apprise URLs, safe to compare)."""
        return {
            name: [[t.key for t in tier.receivers] for tier in receiver.tiers]
            for name, receiver in self.receivers.items()
        }

    def same_as(self, other: RoutingTable) -> bool:
        """Same config and same resolved targets (URL files and variables are re-read too)."""
        return self.config == other.config and self.targets() == other.targets()


def load_routing_table(notify: NotifySettings, environ: Mapping[str, str]) -> RoutingTable:
    """The routing file (or the embedded default) validated, with its apprise URLs resolved;
    a ``ConfigError`` naming the file, the route or receiver and the field otherwise."""
    config = load_routing(notify.routing_file)
    receivers = build_named_receivers(config, notify, environ)
    return RoutingTable(config, receivers, str(notify.routing_file or ""))
