"""``vitalwatch backtest --input kafka:FROM..TO``: the rules over a range of the live topics,
read by Spark in batch from the real broker, give the alerts the stream would."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.integration.conftest import settings_env
from vitalwatch.kafka_clients import ensure_topics
from vitalwatch.simulate.messages import publish
from vitalwatch.simulate.synthetic import DEFAULT_EPISODES, SyntheticWard

pytestmark = pytest.mark.integration


def test_backtest_over_a_kafka_range(settings) -> None:
    ensure_topics(settings)
    start_ms = int(time.time() * 1000) - 3_600_000
    ward = SyntheticWard(
        patients=4, duration_s=180, start_ms=start_ms, episodes=DEFAULT_EPISODES[:1], seed=5
    )
    sent = publish(ward.messages(), settings, speed=0)
    result = subprocess.run(
        [sys.executable, "-m", "vitalwatch", "backtest", "--input", "kafka:earliest..latest",
         "--format", "json"],
        env=settings_env(settings, []), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {row["rule"]: row for row in json.loads(result.stdout)}
    # The simulated ward: one tachycardia episode, every other rule quiet.
    assert rows["tachycardia-sustained"]["alerts"] == 1
    assert rows["tachycardia-sustained"]["patients_alerted_share"] == 0.25
    assert sum(row["alerts"] for row in rows.values()) == 1, rows
    assert sent > 4 * 180  # heart rate at 1 Hz for every patient, plus the cuffs
