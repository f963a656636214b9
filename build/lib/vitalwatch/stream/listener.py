"""A ``StreamingQueryListener`` that turns query progress into Prometheus metrics.

Besides the ``observe()`` counts it reads, per batch, Kafka lag per topic (latest offsets minus
the offsets the batch read up to), the state store's row count, and it tells the
``ProgressTracker`` that the query is alive (readiness, watchdog, STATUS).

Event time: the query defines no Spark watermark; the rule evaluator keeps one per patient and
signal, the newest reading minus ``rules.allowed_lateness``. The input ``observe()`` gives, per
signal, the newest event time among the batch's valid readings; the listener sets
``vitalwatch_event_time_lag_seconds{signal}`` to the batch's *end* minus it (how old the freshest
evaluated reading is when the batch's alerts are out: a batch reads up to the latest offsets
when it starts, so a query too slow for its input shows here as batches grow, not in the Kafka
lag, which is taken at the batch's start), and
``vitalwatch_watermark_delay_seconds{signal}`` to that lag plus the allowed lateness (how far
behind the batch's time the evaluator's watermark is, for the patient freshest on that signal).
Only batches with readings of the signal set them; a negative lag means a device clock runs
ahead of this server's.

Readings of patients whose roster override cell was spoilt while running (evaluated with the
rule's own limit, which may hide an alert the patient's limit would raise) are counted, and
raised as a technical alarm, again every ``SPOILT_ROSTER_ALARM_EVERY_S`` while it lasts: a
batch without such readings does not mean the roster was fixed (the patient may have had no
reading in it), so there is no "cleared" event to wait for.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import structlog
from pyspark.sql.streaming.listener import StreamingQueryListener

from vitalwatch.metrics import Metrics
from vitalwatch.rules.kind import RuleKind
from vitalwatch.service.progress import ProgressTracker, Throughput
from vitalwatch.service.query import error_summary
from vitalwatch.service.technical_alarm import TechnicalAlarm
from vitalwatch.stream.job import ROSTER_SPOILT_METRIC

log = structlog.get_logger(__name__)

SPOILT_ROSTER_ALARM_EVERY_S = 3600.0


def lag_per_topic(latest_json: str | None, end_json: str | None) -> dict[str, int]:
    """Kafka source offsets (``{"topic": {"0": 12, "1": 7}}``) to records not yet read."""
    if not latest_json or not end_json:
        return {}
    latest, end = json.loads(latest_json), json.loads(end_json)
    lag: dict[str, int] = {}
    for topic, partitions in latest.items():
        read = end.get(topic, {})
        lag[topic] = sum(max(0, int(o) - int(read.get(p, 0))) for p, o in partitions.items())
    return lag


def _epoch_s(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class MetricsListener(StreamingQueryListener):
    def __init__(
        self,
        metrics: Metrics,
        rules: Sequence[RuleKind[Any]],
        progress: ProgressTracker | None = None,
        allowed_lateness_s: float = 0.0,
        alarm: TechnicalAlarm | None = None,
    ) -> None:
        self._metrics = metrics
        self._lateness_s = allowed_lateness_s
        self._progress = progress or ProgressTracker()
        self._alarm = alarm or TechnicalAlarm(metrics)
        self._roster_alarmed_at: float | None = None  # monotonic
        self._firing: dict[tuple[str, str], int] = {}
        self.use_rules(rules)

    def use_rules(self, rules: Sequence[RuleKind[Any]]) -> None:
        """Label alert counts with the severities of the rules now running."""
        self._severity = {rule.spec.id: rule.spec.severity.value for rule in rules}
        self._metrics.rules_loaded.set(len(rules))

    @property
    def firing(self) -> int:
        return sum(self._firing.values())

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
        m.last_batch.set(time.time())
        batch_end_s = _epoch_s(progress.timestamp) + progress.batchDuration / 1000
        for row in progress.observedMetrics.values():
            for name, value in row.asDict().items():
                if value:
                    self._observed(name, int(value), batch_end_s)
        self._service_metrics(progress)
        self._progress.progressed(
            Throughput(
                batch_id=int(progress.batchId),
                input_rows_per_second=float(progress.inputRowsPerSecond or 0),
                processed_rows_per_second=float(progress.processedRowsPerSecond or 0),
                batch_seconds=progress.batchDuration / 1000,
            )
        )

    def _service_metrics(self, progress: Any) -> None:
        m = self._metrics
        for source in progress.sources:
            for topic, lag in lag_per_topic(source.latestOffset, source.endOffset).items():
                m.kafka_lag.labels(topic).set(lag)
        for operator in progress.stateOperators:
            m.state_rows.labels(operator.operatorName).set(operator.numRowsTotal)

    def _observed(self, name: str, value: int, batch_end_s: float) -> None:
        """One observe() value: a count, or a signal's newest event time (epoch ms)."""
        kind, *labels = name.split("|")
        if kind == "newest_event_ms":
            lag = batch_end_s - value / 1000
            self._metrics.event_time_lag.labels(*labels).set(lag)
            self._metrics.watermark_delay.labels(*labels).set(lag + self._lateness_s)
        elif kind == "readings":
            self._metrics.readings.labels(*labels).inc(value)
        elif kind == "deadletter":
            self._metrics.deadletters.labels(*labels).inc(value)
        elif kind == "alerts":
            rule, state = labels
            severity = self._severity.get(rule, "unknown")
            self._metrics.alerts.labels(rule, severity, state).inc(value)
            if state in ("firing", "resolved"):
                self._track_firing(rule, severity, value if state == "firing" else -value)
        elif kind == ROSTER_SPOILT_METRIC:
            self._spoilt_roster(value)

    def _spoilt_roster(self, readings: int) -> None:
        self._metrics.roster_spoilt_readings.inc(readings)
        now = time.monotonic()
        last = self._roster_alarmed_at
        if last is None or now - last >= SPOILT_ROSTER_ALARM_EVERY_S:
            self._roster_alarmed_at = now
            self._alarm.report(
                "roster", "roster.spoilt_override", readings=readings,
                fix="an override cell is not a finite number: write a number, or leave it "
                "empty for the rule's own limit (the patient's readings use that until then)",
            )  # fmt: skip

    def _track_firing(self, rule: str, severity: str, change: int) -> None:
        # A batch re-run after a crash re-counts; the floor keeps a resolve from going negative.
        key = (rule, severity)
        self._firing[key] = max(0, self._firing.get(key, 0) + change)
        self._metrics.alerts_firing.labels(rule, severity).set(self._firing[key])

    def onQueryIdle(self, event: Any) -> None:
        self._progress.idle()

    def onQueryTerminated(self, event: Any) -> None:
        self._metrics.query_up.set(0)
        # Failures are raised as technical alarms by the query supervisor, which decides on
        # restarting; here only the event, with error classes and no message text (may hold data).
        if event.exception:
            log.warning("query.terminated", error=error_summary(event.exception))
        else:
            log.info("query.stopped")
