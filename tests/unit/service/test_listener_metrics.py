"""Query progress to metrics (a progress event stand-in with Spark's field names)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from vitalwatch.metrics import Metrics
from vitalwatch.service.progress import ProgressTracker
from vitalwatch.service.technical_alarm import TechnicalAlarm
from vitalwatch.stream.job import ROSTER_SPOILT_METRIC
from vitalwatch.stream.listener import MetricsListener, lag_per_topic


def test_lag_is_latest_minus_read_offsets_per_topic() -> None:
    latest = '{"hr":{"0":120,"1":80},"bp":{"0":10}}'
    end = '{"hr":{"0":100,"1":80},"bp":{"0":4}}'
    assert lag_per_topic(latest, end) == {"hr": 20, "bp": 6}
    assert lag_per_topic(None, end) == {}


class Row(dict):
    def asDict(self) -> dict:
        return dict(self)


BATCH_MS = 1_795_615_210_000  # 2026-11-25T14:00:10Z, the progress event's timestamp
BATCH_DURATION_MS = 400


def progress(
    alerts: dict[str, int], batch_id: int = 1, observed: dict[str, int | None] | None = None
) -> SimpleNamespace:
    return SimpleNamespace(
        progress=SimpleNamespace(
            batchId=batch_id, batchDuration=BATCH_DURATION_MS, inputRowsPerSecond=50.0,
            processedRowsPerSecond=100.0, timestamp="2026-11-25T14:00:10.000Z", eventTime={},
            observedMetrics={"out": Row(alerts), "in": Row(observed or {})},
            sources=[SimpleNamespace(latestOffset='{"hr":{"0":9}}', endOffset='{"hr":{"0":7}}')],
            stateOperators=[SimpleNamespace(operatorName="transformWithStateExec",
                                            numRowsTotal=42)],
        )
    )  # fmt: skip


def test_progress_sets_service_metrics_and_firing_alerts() -> None:
    metrics, tracker = Metrics(), ProgressTracker()
    listener = MetricsListener(metrics, [], tracker)
    listener.onQueryProgress(progress({"alerts|tachy|firing": 2}))
    listener.onQueryProgress(progress({"alerts|tachy|resolved": 1, "alerts|brady|resolved": 1}))
    sample = metrics.registry.get_sample_value
    assert sample("vitalwatch_alerts_firing", {"rule": "tachy", "severity": "unknown"}) == 1
    assert sample("vitalwatch_alerts_firing", {"rule": "brady", "severity": "unknown"}) == 0
    assert listener.firing == 1
    assert sample("vitalwatch_kafka_lag_records", {"topic": "hr"}) == 2
    assert sample("vitalwatch_state_rows", {"operator": "transformWithStateExec"}) == 42
    assert (sample("vitalwatch_last_batch_timestamp_seconds", {}) or 0) > 0
    assert tracker.age() is not None and tracker.throughput.batch_id == 1
    assert "100.0 records/s processed" in tracker.status_line(firing=1, restarts=0)


def test_event_time_lag_and_watermark_delay_per_signal_from_the_newest_reading() -> None:
    metrics = Metrics()
    listener = MetricsListener(metrics, [], allowed_lateness_s=2.0)
    newest = {
        # The lag is taken at the batch's end: a slow batch shows in it.
        "newest_event_ms|heart_rate": BATCH_MS + BATCH_DURATION_MS - 6_500,
        "newest_event_ms|blood_pressure": None,
    }
    listener.onQueryProgress(progress({}, observed=newest))
    sample = metrics.registry.get_sample_value
    assert sample("vitalwatch_event_time_lag_seconds", {"signal": "heart_rate"}) == 6.5
    assert sample("vitalwatch_watermark_delay_seconds", {"signal": "heart_rate"}) == 8.5
    # No reading of the signal in the batch: not set (rather than a made-up lag).
    assert sample("vitalwatch_event_time_lag_seconds", {"signal": "blood_pressure"}) is None
    # A batch without heart-rate readings (a heartbeat tick) leaves the last value.
    listener.onQueryProgress(progress({}, batch_id=2))
    assert sample("vitalwatch_event_time_lag_seconds", {"signal": "heart_rate"}) == 6.5


def test_spoilt_roster_cells_are_counted_and_raised_once_an_hour_while_they_last(
    monkeypatch,
) -> None:
    metrics, published = Metrics(), []
    alarm = TechnicalAlarm(metrics, lambda key, value, headers: published.append(value))
    listener = MetricsListener(metrics, [], alarm=alarm)
    clock = [1_000.0]
    monkeypatch.setattr("vitalwatch.stream.listener.time.monotonic", lambda: clock[0])
    for batch_id, (count, advance_s) in enumerate([(3, 0), (0, 10), (2, 10), (1, 3_600)]):
        clock[0] += advance_s
        listener.onQueryProgress(
            progress({}, batch_id=batch_id, observed={ROSTER_SPOILT_METRIC: count})
        )
    sample = metrics.registry.get_sample_value
    assert sample("vitalwatch_roster_spoilt_readings_total", {}) == 6
    assert sample("vitalwatch_technical_alerts_total", {"component": "roster"}) == 2
    assert [json.loads(v)["technical_alert"] for v in published] == ["roster.spoilt_override"] * 2
