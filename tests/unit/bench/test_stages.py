"""The live report's per-stage breakdown, read from a small /metrics text."""

from __future__ import annotations

import math

from bench.__main__ import live_rows
from bench.stages import bucket_quantile, stage_breakdown, stage_rows

METRICS = """\
# HELP vitalwatch_alert_stage_seconds Time an alert message spent in one stage
# TYPE vitalwatch_alert_stage_seconds histogram
vitalwatch_alert_stage_seconds_bucket{le="1.0",severity="high",stage="released"} 0.0
vitalwatch_alert_stage_seconds_bucket{le="2.0",severity="high",stage="released"} 60.0
vitalwatch_alert_stage_seconds_bucket{le="4.0",severity="high",stage="released"} 100.0
vitalwatch_alert_stage_seconds_bucket{le="+Inf",severity="high",stage="released"} 100.0
vitalwatch_alert_stage_seconds_count{severity="high",stage="released"} 100.0
vitalwatch_alert_stage_seconds_sum{severity="high",stage="released"} 190.0
vitalwatch_alert_stage_seconds_bucket{le="1.0",severity="high",stage="flushed"} 90.0
vitalwatch_alert_stage_seconds_bucket{le="2.0",severity="high",stage="flushed"} 90.0
vitalwatch_alert_stage_seconds_bucket{le="4.0",severity="high",stage="flushed"} 90.0
vitalwatch_alert_stage_seconds_bucket{le="+Inf",severity="high",stage="flushed"} 90.0
vitalwatch_alert_stage_seconds_bucket{le="1.0",severity="medium",stage="flushed"} 0.0
vitalwatch_alert_stage_seconds_bucket{le="2.0",severity="medium",stage="flushed"} 0.0
vitalwatch_alert_stage_seconds_bucket{le="4.0",severity="medium",stage="flushed"} 0.0
vitalwatch_alert_stage_seconds_bucket{le="+Inf",severity="medium",stage="flushed"} 10.0
# HELP vitalwatch_alert_age_seconds From the event time of the reading
# TYPE vitalwatch_alert_age_seconds histogram
vitalwatch_alert_age_seconds_bucket{le="1.0",severity="high",stage="accepted"} 0.0
vitalwatch_alert_age_seconds_bucket{le="2.0",severity="high",stage="accepted"} 50.0
vitalwatch_alert_age_seconds_bucket{le="4.0",severity="high",stage="accepted"} 100.0
vitalwatch_alert_age_seconds_bucket{le="+Inf",severity="high",stage="accepted"} 100.0
# HELP vitalwatch_readings_total Readings consumed
# TYPE vitalwatch_readings_total counter
vitalwatch_readings_total{outcome="ok",signal="heart_rate"} 5000.0
"""


def test_quantiles_are_interpolated_within_buckets_as_prometheus_does() -> None:
    buckets = [(1.0, 0.0), (2.0, 60.0), (4.0, 100.0), (math.inf, 100.0)]
    assert bucket_quantile(0.5, buckets) == 1 + 50 / 60
    assert bucket_quantile(0.99, buckets) == 2 + 2 * 39 / 40
    assert bucket_quantile(0.99, [(1.0, 0.0), (math.inf, 5.0)]) == 1.0  # in +Inf: the last bound
    assert math.isnan(bucket_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]))


def test_the_breakdown_sums_severities_per_stage_and_the_report_shows_every_stage() -> None:
    figures = stage_breakdown(METRICS)
    assert figures["stage_released_p50"] == 1 + 50 / 60
    assert figures["stage_flushed_count"] == 100  # 90 high + 10 medium
    assert figures["stage_flushed_p50"] == 50 / 90 and figures["stage_flushed_p99"] == 4.0
    assert (figures["age_accepted_p50"], figures["age_accepted_p99"]) == (2.0, 2 + 2 * 49 / 50)
    assert "stage_written_p50" not in figures
    rows = dict(stage_rows(figures))
    assert rows["stage written"] == "no samples"
    assert rows["stage accepted: in it / since the reading, p50 / p99 (100 alerts)"] == (
        "- / 2.00 / 3.96 s"
    )
    live = {"publisher_behind_s": 0.5, "unread_at_end_s": 1.0, "notified": 100, "expected": 100,
            "p50": 2.0, "p99": 3.9, "max": 4.0, "processed": 1e5, "sent": 1e5, "driver_mib": 900,
            "workers_mib": 400, "machine_cpu": 0.6, **figures}  # fmt: skip
    report = dict(live_rows(1000, 200, live))
    assert report["stage released: in it / since the reading, p50 / p99 (100 alerts)"] == (
        "1.83 / 3.95 s / -"
    )
