"""The supervisor loop pings systemd's watchdog only while the query reports, and raises a
technical alarm once when a running query stops reporting (pure logic, stand-in collaborators)."""

from __future__ import annotations

from types import SimpleNamespace

import structlog.testing

from tests.unit.service.test_http_health import Clock
from vitalwatch.daemon import _Loop
from vitalwatch.metrics import Metrics
from vitalwatch.service.health import Check, Health
from vitalwatch.service.progress import ProgressTracker, Throughput
from vitalwatch.service.technical_alarm import TechnicalAlarm


class RecordingSystemd:
    watchdog_interval = 1e-9

    def __init__(self) -> None:
        self.sent: list[str] = []

    def watchdog(self) -> bool:
        self.sent.append("WATCHDOG=1")
        return True

    def status(self, status: str) -> bool:
        self.sent.append(f"STATUS={status}")
        return True


def test_watchdog_pings_only_while_batches_progress() -> None:
    clock, metrics, systemd = Clock(), Metrics(), RecordingSystemd()
    progress = ProgressTracker(clock)
    health = Health(progress, 60, lambda: True, [lambda: Check("broker", True, "")], clock)
    query = SimpleNamespace(running=lambda: True)
    loop = _Loop(query, SimpleNamespace(firing=0), progress, health,  # type: ignore[arg-type]
                 systemd, TechnicalAlarm(metrics), metrics)  # type: ignore[arg-type]  # fmt: skip
    progress.started()
    loop.watch_progress()
    assert systemd.sent[0] == "WATCHDOG=1"
    assert systemd.sent[1].startswith("STATUS=0.0 records/s processed")

    clock.now += 61  # no batch, no idle report: the query is stuck
    systemd.sent.clear()
    with structlog.testing.capture_logs() as logs:
        loop.watch_progress()
        loop.watch_progress()
    assert "WATCHDOG=1" not in systemd.sent
    assert [e["event"] for e in logs] == ["query.stalled"]  # once, not every tick
    sample = metrics.registry.get_sample_value
    assert sample("vitalwatch_technical_alerts_total", {"component": "query"}) == 1

    progress.progressed(Throughput(batch_id=9))
    loop.watch_progress()
    assert systemd.sent[-1] == "WATCHDOG=1"
