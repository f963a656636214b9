"""The per-stage latency breakdown of a live run, from the daemon's own ``/metrics``.

At the end of a live session the harness reads ``vitalwatch_alert_stage_seconds`` (time in
each stage alone) and ``vitalwatch_alert_age_seconds`` (time from the deciding reading to
reaching the stage) and gives each stage's p50 and p99 over all severities, interpolated
within buckets as Prometheus' ``histogram_quantile`` does: figures are as fine as the buckets
(``vitalwatch.metrics``).
"""

from __future__ import annotations

import math
import urllib.request
from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families

from vitalwatch.metrics import ALERT_STAGES

HISTOGRAMS = {"stage": "vitalwatch_alert_stage_seconds", "age": "vitalwatch_alert_age_seconds"}


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """``histogram_quantile``: ``buckets`` are (upper bound, cumulative count), +Inf last."""
    buckets = sorted(buckets)
    total = buckets[-1][1] if buckets else 0.0
    if total == 0:
        return math.nan
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # in the +Inf bucket: the highest finite bound, as Prometheus
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def stage_breakdown(metrics_text: str) -> dict[str, float]:
    """``{kind}_{stage}_p50|p99|count`` for kind stage and age and each stage with samples."""
    # (kind, stage) -> upper bound -> cumulative count, summed over severities
    buckets: dict[tuple[str, str], dict[float, float]] = defaultdict(lambda: defaultdict(float))
    names = {name: kind for kind, name in HISTOGRAMS.items()}
    for family in text_string_to_metric_families(metrics_text):
        kind = names.get(family.name)
        if kind is None:
            continue
        for sample in family.samples:
            if sample.name == family.name + "_bucket":
                stage, bound = sample.labels["stage"], float(sample.labels["le"])
                buckets[(kind, stage)][bound] += sample.value
    out: dict[str, float] = {}
    for kind in HISTOGRAMS:
        for stage in ALERT_STAGES:
            by_bound = buckets.get((kind, stage))
            if not by_bound:
                continue
            pairs = list(by_bound.items())
            out[f"{kind}_{stage}_count"] = max(by_bound.values())
            out[f"{kind}_{stage}_p50"] = bucket_quantile(0.5, pairs)
            out[f"{kind}_{stage}_p99"] = bucket_quantile(0.99, pairs)
    return out


def scrape(host: str, port: int) -> str:
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as answer:
        return str(answer.read().decode())


def stage_rows(figures: dict[str, float]) -> list[tuple[str, str]]:
    """Report rows: per stage, the time in it and the time since the reading, p50 / p99."""
    rows = []
    for stage in ALERT_STAGES:
        if f"stage_{stage}_p50" not in figures and f"age_{stage}_p50" not in figures:
            rows.append((f"stage {stage}", "no samples"))
            continue
        in_stage = _pair(figures, "stage", stage)
        since = _pair(figures, "age", stage)
        count = max(figures.get(f"{kind}_{stage}_count", 0.0) for kind in HISTOGRAMS)
        rows.append((f"stage {stage}: in it / since the reading, p50 / p99 ({count:.0f} alerts)",
                     f"{in_stage} / {since}"))  # fmt: skip
    return rows


def _pair(figures: dict[str, float], kind: str, stage: str) -> str:
    p50, p99 = figures.get(f"{kind}_{stage}_p50"), figures.get(f"{kind}_{stage}_p99")
    if p50 is None or p99 is None:
        return "-"
    return f"{p50:.2f} / {p99:.2f} s"
