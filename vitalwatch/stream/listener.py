"""A ``StreamingQueryListener`` that turns query progress into Prometheus metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from pyspark.sql.streaming.listener import StreamingQueryListener

from vitalwatch.metrics import Metrics
from vitalwatch.rules.kind import RuleKind

log = structlog.get_logger(__name__)


class MetricsListener(StreamingQueryListener):
    def __init__(self, metrics: Metrics, rules: Sequence[RuleKind[Any]]) -> None:
        self._metrics = metrics
        self.use_rules(rules)

    def use_rules(self, rules: Sequence[RuleKind[Any]]) -> None:
        """Label alert counts with the severities of the rules now running."""
        self._severity = {rule.spec.id: rule.spec.severity.value for rule in rules}
        self._metrics.rules_loaded.set(len(rules))

    def onQueryStarted(self, event: Any) -> None:
        self._metrics.query_up.set(1)
        log.info("query.started", name=event.name)

    def onQueryProgress(self, event: Any) -> None:
        progress = event.progress
        m = self._metrics
        m.batches.inc()
        m.batch_duration.observe(progress.batchDuration / 1000)
        m.input_rate.set(progress.inputRowsPerSecond or 0)
        m.processing_rate.set(progress.processedRowsPerSecond or 0)
        for row in progress.observedMetrics.values():
            for name, value in row.asDict().items():
                if value:
                    self._count(name, int(value))

    def _count(self, name: str, value: int) -> None:
        kind, *labels = name.split("|")
        if kind == "readings":
            self._metrics.readings.labels(*labels).inc(value)
        elif kind == "deadletter":
            self._metrics.deadletters.labels(*labels).inc(value)
        elif kind == "alerts":
            rule, state = labels
            self._metrics.alerts.labels(rule, self._severity.get(rule, "unknown"), state).inc(value)

    def onQueryIdle(self, event: Any) -> None:
        pass

    def onQueryTerminated(self, event: Any) -> None:
        self._metrics.query_up.set(0)
        if event.exception:
            self._metrics.technical_alerts.labels("query").inc()
            log.error("query.failed", error=event.exception.splitlines()[0][:300])
        else:
            log.info("query.stopped")
