"""A dispatcher wired to in-memory receivers (RecordingReceiver) and a real SQLite state file,
driven by explicit times: the delivery chain without a network, a broker or a wall clock."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from vitalwatch.contracts.alerts import Alert, AlertState, Severity
from vitalwatch.metrics import Metrics
from vitalwatch.notify.config.receivers import NamedReceiver, Tier
from vitalwatch.notify.config.routing import ReceiverConfig, parse_routing
from vitalwatch.notify.config.routing_table import RoutingTable
from vitalwatch.notify.dispatch import Dispatcher, Stages
from vitalwatch.notify.stages.fallback import FailureHandler
from vitalwatch.notify.stages.send import Sender
from vitalwatch.notify.stores.acks import AckStore
from vitalwatch.notify.stores.alerts import AlertStore, Source, StoredAlert
from vitalwatch.notify.stores.audit import AuditLog
from vitalwatch.notify.stores.notification_log import NotificationLog
from vitalwatch.notify.stores.silences import Silencer, SilenceStore
from vitalwatch.testing import RecordingReceiver

T0 = 1_795_615_200.0  # 2026-11-25T14:00:00Z


def alert(
    patient: str = "P-0042",
    rule: str = "tachycardia-sustained",
    onset_s: float = 0,
    state: AlertState = AlertState.FIRING,
    severity: Severity = Severity.HIGH,
    **labels: str,
) -> Alert:
    onset_ms = int((T0 + onset_s) * 1000)
    return Alert(
        rule_id=rule, patient_id=patient, severity=severity, state=state, onset_ms=onset_ms,
        detected_ms=onset_ms + 60_000, values={"bpm": 142.0},
        summary=f"{rule} summary", labels={"bed": "12", "ward": "ICU-A", **labels},
    )  # fmt: skip


def resolved(a: Alert) -> Alert:
    return replace(a, state=AlertState.RESOLVED)


@dataclass
class Harness:
    path: Path
    routing: str
    targets: dict[str, RecordingReceiver] = field(default_factory=dict)
    deadletters: list[tuple[str, str]] = field(default_factory=list)
    announced: list[Alert] = field(default_factory=list)  # published to the alerts topic
    offset: int = 0

    def __post_init__(self) -> None:
        self.metrics = Metrics(CollectorRegistry())
        self.stop = threading.Event()
        self.open()

    def target(self, url: str) -> RecordingReceiver:
        return self.targets.setdefault(url, RecordingReceiver(key=url, name=url))

    def open(self) -> None:
        """(Re)build everything from the state file, as a restarted process would."""
        routing = self.table(self.routing)
        self.log = NotificationLog(self.path)
        self.alerts = AlertStore(self.path)
        self.acks = AckStore(self.path)
        self.silences = SilenceStore(self.path)
        self.audit = AuditLog(self.path)
        sender = Sender(self.metrics, max_attempts=2, backoff_ms=1)
        self.dispatcher = Dispatcher(
            Stages(
                routing=routing, silencer=Silencer(self.silences),
                notification_log=self.log, alerts=self.alerts, acks=self.acks, audit=self.audit,
                sender=sender,
                failures=FailureHandler(routing.fallback, sender, self._deadletter, self.metrics,
                                        self.audit),
                announce=self.announced.append,
            ),
            self.metrics,
            descriptions={"tachycardia-sustained": "Pulse of 131/min or more for 60 s."},
            ack_link=lambda alert_id: f"https://vw.example/ack/{alert_id}",
        )  # fmt: skip

    def table(self, routing: str) -> RoutingTable:
        config = parse_routing(routing, "routing.yaml")
        return RoutingTable(config, {r.name: self._named(r) for r in config.receivers})

    def reroute(self, routing: str) -> None:
        """A reloaded routing file, handed over as the daemon does (in force at the next tick)."""
        self.dispatcher.use_routing(self.table(routing))

    def _named(self, config: ReceiverConfig) -> NamedReceiver:
        tiers = tuple(
            Tier(n, tuple(self.target(u.get_secret_value()) for u in t.urls), t.escalate_after)
            for n, t in enumerate(config.tiers, start=1)
        )
        return NamedReceiver(config.name, tiers, config.template, bool(config.send_resolved))

    def _deadletter(self, stored: StoredAlert, reason: str) -> None:
        self.deadletters.append((stored.alert.alert_id, reason))

    def publish(self, a: Alert, at: float) -> None:
        self.offset += 1
        self.dispatcher.ingest(a, Source("alerts", 0, self.offset), T0 + at)

    def tick(self, at: float) -> None:
        self.dispatcher.tick(T0 + at, self.stop)

    def run(self, start: float, end: float, step: float = 1.0) -> None:
        at = start
        while at <= end:
            self.tick(at)
            at += step

    def sent(self, url: str) -> list[tuple[str, str]]:
        return self.targets[url].sent

    def metric(self, name: str, **labels: Any) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0
