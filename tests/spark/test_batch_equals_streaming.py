"""The same rules give the same alerts in batch and in streaming.

Streaming: the job's RuleProcessor driven micro-batch by micro-batch (PySpark's TwsTester, in
processing-time mode), both patients in one state bucket, cut into arbitrary batches; processing
time follows arrival, and at the end passes the lateness so the timers release what is still
held. With a lateness of 2 s the readings arrive out of order within it; with the default (no
lateness) each patient's arrive in order, as Kafka keeps them per key, patients interleaved.
Batch: the same readings as a table through ``build_outputs`` as a Spark batch job (backtests).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.stream.input_rows import PandasTester, heart_rate_row
from vitalwatch.backtest.run import run_rules
from vitalwatch.rules.loader import load_rules
from vitalwatch.settings import RuleSettings
from vitalwatch.stream.processor import RuleProcessor

pytestmark = pytest.mark.spark

T0 = 1_795_615_200_000
LATENESS_MS = 2_000
PATIENTS = ("P-1", "P-2")

runs = st.lists(
    st.tuples(st.sampled_from([35, 80, 131, 150]), st.integers(1, 80), st.sampled_from([1, 1, 20])),
    min_size=1,
    max_size=6,
)


def readings(patient_runs: list[tuple[int, int, int]]) -> list[tuple[int, float]]:
    out, t = [], 0
    for value, length, step in patient_runs:
        for _ in range(length):
            out.append((T0 + t * 1000, float(value)))
            t += step
    return out


def message(patient: str, ts: int, bpm: float) -> bytes:
    return json.dumps({"patient_id": patient, "ts": ts, "bpm": bpm}).encode()


def alert_key(alert: dict) -> tuple:
    return (alert["alert_id"], alert["state"], alert["detected_ms"], alert["summary"])


@pytest.mark.parametrize(
    ("lateness_ms", "in_order"), [(LATENESS_MS, False), (RuleSettings().allowed_lateness, True)]
)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_batch_and_streaming_give_the_same_alerts(
    spark, base_settings, lateness_ms, in_order, data
) -> None:
    # no_data reacts to wall-clock silence at the end of a feed, which history cannot see by
    # design (README, "Time without readings"); its own tests cover both paths.
    rules = [r for r in load_rules(base_settings.rules.directory) if r.spec.kind != "no_data"]
    series = {p: readings(data.draw(runs, label=p)) for p in PATIENTS}

    processor = RuleProcessor(rules, lateness_ms, "alerts", "deadletter")
    tester = PandasTester(processor, timeMode="ProcessingTime")
    # Arrival: each reading delayed by less than 2 s (in order per patient, or not), patients
    # interleaved.
    arrivals = []
    for patient, points in series.items():
        delays = st.lists(
            st.integers(0, LATENESS_MS - 1), min_size=len(points), max_size=len(points)
        )
        arrived = 0
        for (ts, value), delay in zip(points, data.draw(delays), strict=True):
            arrived = max(arrived, ts - T0 + delay + 1) if in_order else ts - T0 + delay + 1
            arrivals.append((arrived, patient, ts, value))
    arrivals.sort()
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(arrivals)), max_size=12))))
    streamed, now = [], 0
    for a, b in zip([0, *cuts], [*cuts, len(arrivals)], strict=True):
        batch = arrivals[a:b]
        if not batch:
            continue
        # As in Spark: the batch's time is at or after every arrival in it; its input runs
        # first, then the timers due. (TwsTester fires timers when its clock is set, so the
        # clock is moved for the input without firing, then set 1 ms on to fire them.)
        now = max(now + 1, batch[-1][0])
        tester.tester._currentProcessingTimeMs = now
        out = tester.test(0, [heart_rate_row(p, ts, v, message(p, ts, v)) for _, p, ts, v in batch])
        now += 1
        out += tester.setProcessingTime(now)
        assert all(r.topic == "alerts" for r in out), "nothing may be late here"
        streamed += [json.loads(r.value) for r in out]
    end = max(now, arrivals[-1][0]) + LATENESS_MS
    streamed += [json.loads(r.value) for r in tester.setProcessingTime(end)]

    records = [
        (p.encode(), message(p, ts, v), base_settings.topics.heart_rate, 0, i, None)
        for p, points in series.items()
        for i, (ts, v) in enumerate(points)
    ]
    batched = run_rules(spark, base_settings, rules, records)
    streamed_keys, batched_keys = sorted(map(alert_key, streamed)), sorted(map(alert_key, batched))
    only_streamed = [k for k in streamed_keys if k not in batched_keys]
    only_batched = [k for k in batched_keys if k not in streamed_keys]
    assert streamed_keys == batched_keys, (only_streamed, only_batched, series)
