"""What the query needs from outside the process, watched: the Kafka broker and the checkpoint.

Probed every supervisor tick (``health.BrokerProbe``, ``health.CheckpointProbe``):
``vitalwatch_dependency_up{dependency}`` follows each answer; a dependency failing for
``alarm_after_s`` is a technical alarm (component = the dependency, event ``dependency.down``,
with the probe's detail: for the checkpoint, the directory that refuses writes), raised once per
outage; its return is logged (``dependency.back``, with how long it was down).

While the broker is down no reading is evaluated and no notification goes out, and a read-only
or full checkpoint disk fails every micro-batch: both hide alerts, so both are alarms. Neither is
cured by restarting the process, so the query supervisor asks ``failing`` whether a failure was
theirs and then waits for them instead of spending its restarts (see ``service.query``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import structlog

from vitalwatch.metrics import Metrics
from vitalwatch.service.health import Check, Probe
from vitalwatch.service.technical_alarm import TechnicalAlarm

log = structlog.get_logger(__name__)

# A broker restart or a leader move takes seconds; longer than this, clinicians are affected.
ALARM_AFTER_S = 10.0


class DependencyWatch:
    def __init__(
        self,
        probes: Sequence[Probe],
        metrics: Metrics,
        alarm: TechnicalAlarm,
        alarm_after_s: float = ALARM_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probes = probes
        self._metrics = metrics
        self._alarm = alarm
        self._alarm_after_s = alarm_after_s
        self._clock = clock
        self._down_since: dict[str, float] = {}
        self._alarmed: set[str] = set()

    def failing(self) -> list[Check]:
        """Probe every dependency now; the checks that fail."""
        return [check for check in (probe() for probe in self._probes) if not check.ok]

    def tick(self) -> None:
        """Probe, set the gauges, raise an alarm for an outage past the grace, log a return."""
        now = self._clock()
        for check in (probe() for probe in self._probes):
            self._metrics.dependency_up.labels(check.name).set(1 if check.ok else 0)
            since = self._down_since.get(check.name)
            if check.ok:
                if since is not None:
                    del self._down_since[check.name]
                    log.info("dependency.back", dependency=check.name, down_s=round(now - since, 1))
                self._alarmed.discard(check.name)
                continue
            if since is None:
                self._down_since[check.name] = since = now
                log.warning("dependency.failing", dependency=check.name, detail=check.detail)
            if now - since >= self._alarm_after_s and check.name not in self._alarmed:
                self._alarmed.add(check.name)
                self._alarm.report(
                    check.name, "dependency.down", detail=check.detail, down_s=round(now - since, 1)
                )
