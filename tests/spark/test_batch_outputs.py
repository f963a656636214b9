"""The streaming job's transformation run as a batch job over a table of Kafka records, with the
patient roster joined as a static table: the same code the live query runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vitalwatch.rules.loader import load_rules
from vitalwatch.stream.job import build_outputs
from vitalwatch.stream.roster import read_roster

pytestmark = pytest.mark.spark

SCHEMA = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"
T0 = 1_795_615_200_000


def records(settings) -> list[tuple]:
    rows = []
    for patient, bpm in (("P-1", 140), ("P-2", 110), ("P-3", 80)):
        for second in range(90):
            body = {"patient_id": patient, "ts": T0 + second * 1000, "bpm": bpm}
            rows.append((patient.encode(), json.dumps(body).encode()))
    rows.append((b"P-3", b"{not json"))
    topic = settings.topics.heart_rate
    return [(k, v, topic, 0, offset, None) for offset, (k, v) in enumerate(rows)]


def test_batch_run_joins_the_roster_and_applies_overrides(spark, base_settings, tmp_path: Path):
    roster_file = tmp_path / "roster.csv"
    roster_file.write_text(
        "patient_id,bed,ward,tachycardia-sustained.above\nP-1,7,ICU-B,\nP-2,8,ICU-B,100\n"
    )
    settings = base_settings.model_copy(
        update={"rules": base_settings.rules.model_copy(update={"allowed_lateness": 0})}
    )
    rules = load_rules(settings.rules.directory)
    frame = spark.createDataFrame(records(settings), SCHEMA)
    roster = read_roster(spark, roster_file, rules)
    outputs = build_outputs(frame, rules, settings, roster, live=False).collect()

    alerts = [json.loads(r.value) for r in outputs if r.topic == settings.topics.alerts]
    by_patient = {a["patient_id"]: a for a in alerts}
    assert sorted(by_patient) == ["P-1", "P-2"]  # P-2 only through its roster override
    assert by_patient["P-1"]["labels"]["bed"] == "7"
    assert by_patient["P-1"]["labels"]["ward"] == "ICU-B"
    assert "above 100" in by_patient["P-2"]["summary"]
    assert all(a["state"] == "firing" for a in alerts)
    dead = [r for r in outputs if r.topic == settings.topics.deadletter]
    assert [(r.value, dict(r.headers)["reason"]) for r in dead] == [(b"{not json", b"not_json")]
