"""The streaming job's transformation run as a batch job over a table of Kafka records, with the
patient roster joined as a static table: the same code the live query runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO
from vitalwatch.errors import ConfigError
from vitalwatch.rules.loader import load_rules
from vitalwatch.stream.job import build_outputs
from vitalwatch.stream.roster import ROSTER_SPOILT, read_roster

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


@pytest.mark.parametrize("cell", ["13O", "NaN", "Infinity"])
def test_a_roster_cell_that_is_not_a_finite_number_stops_start_up(
    spark, base_settings, tmp_path: Path, cell: str
) -> None:
    roster_file = tmp_path / "roster.csv"
    roster_file.write_text(
        f"patient_id,bed,ward,tachycardia-sustained.above\nP-1,7,ICU-B,\nP-2,8,ICU-B,{cell}\n"
    )
    with pytest.raises(ConfigError) as error:
        read_roster(spark, roster_file, load_rules(base_settings.rules.directory))
    assert str(error.value) == (
        f"roster {roster_file}: column 'tachycardia-sustained.above' has 1 cell(s) that are not "
        f"a finite number, the first '{cell}' (bed 8, ward ICU-B); write a number, or leave the "
        "cell empty for the rule's own limit"
    )
    assert "P-2" not in str(error.value)  # no patient identifier in a message that is logged


def test_a_roster_cell_spoilt_while_running_counts_as_empty(spark, base_settings, tmp_path):
    """The static side is re-read every micro-batch: a cell spoilt after start-up gives the
    rule's own limit for that patient instead of failing every batch (Spark's ANSI cast)."""
    roster_file = tmp_path / "roster.csv"
    header = "patient_id,bed,ward,tachycardia-sustained.above\n"
    roster_file.write_text(header + "P-1,7,ICU-B,120\nP-2,8,ICU-B,100\n")
    roster = read_roster(spark, roster_file, load_rules(base_settings.rules.directory))
    roster_file.write_text(header + "P-1,7,ICU-B,12O\nP-2,8,ICU-B,100\nP-3,9,ICU-B,\n")
    rows = roster.collect()
    assert {r.patient_id: r.overrides for r in rows} == {
        "P-1": {"tachycardia-sustained.above": None},
        "P-2": {"tachycardia-sustained.above": 100.0},
        "P-3": {"tachycardia-sustained.above": None},
    }
    # Flagged for the query's count and technical alarm; an empty cell is not spoilt.
    spoilt = {r.patient_id: r[ROSTER_SPOILT] for r in rows}
    assert spoilt == {"P-1": True, "P-2": False, "P-3": False}


PHYSIONET2012 = REPO.parent / "shared/data/physionet2012/set-a"


@pytest.mark.skipif(not PHYSIONET2012.exists(), reason="needs ../shared/data (PhysioNet 2012)")
def test_a_backtest_reports_the_fields_of_the_very_messages(spark, base_settings) -> None:
    """The report's fields, as the processor's columns of alerts without messages, are those of
    the alert messages the stream writes."""
    from vitalwatch.backtest.run import REPORTED_FIELDS, physionet_records, run_rules, stay_files

    records, _ = physionet_records(stay_files(PHYSIONET2012, limit=40), base_settings)
    rules = load_rules(base_settings.rules.directory)
    reported = run_rules(spark, base_settings, rules, records)
    whole = run_rules(spark, base_settings, rules, records, messages=True)
    names = list(REPORTED_FIELDS)
    assert len({a["rule_id"] for a in whole}) >= 3 and {a["state"] for a in whole} >= {
        "firing", "resolved"
    }  # fmt: skip
    project = [tuple(a[n] for n in names) for a in whole]
    assert sorted(tuple(a[n] for n in names) for a in reported) == sorted(project)
    assert all(set(a) == set(names) for a in reported)


def test_records_keep_their_kafka_time_whatever_the_local_zone(spark, monkeypatch) -> None:
    """``backtest kafka:`` hands Spark back the records it collected, whose times Spark gave as
    naive local times: each must stay the instant it was, also where local time is not UTC."""
    import time
    from datetime import UTC, datetime

    from pyspark.sql import functions as F

    from vitalwatch.backtest.run import records_frame

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        instant = datetime(2026, 7, 1, 12, 0, 0, 250_000, tzinfo=UTC)
        local = instant.astimezone().replace(tzinfo=None)  # as Row.timestamp is, collected
        assert local.hour != instant.hour
        rows = [(b"P-1", b"{}", "t", 0, 0, local), (b"P-1", b"{}", "t", 0, 1, None)]
        frame = records_frame(spark, rows)
        stamps = frame.orderBy("offset").select(F.unix_millis("timestamp")).collect()
        assert [r[0] for r in stamps] == [int(instant.timestamp() * 1000), None]
        assert records_frame(spark, []).count() == 0
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
