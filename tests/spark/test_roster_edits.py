"""The roster edited under a running streaming query: every row is seen whole in the next batch.

The live query's code path: ``build_outputs`` with the static roster from ``read_roster`` joined to
a stream of Kafka-shaped records (here from a file-stream source, one file per micro-batch, so
the test drives the batches itself), the job's rule processor and alerts out. Between batches
the roster file is changed: rows appended (the file grows), rewritten shorter, rewritten longer
with different earlier bytes, and replaced by a rename. Each batch's new patients have their
rows only in the latest version of the file, so an alert shows which version, and how much of
it, the batch read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from vitalwatch.rules.loader import load_rules
from vitalwatch.stream.job import build_outputs
from vitalwatch.stream.roster import read_roster

pytestmark = pytest.mark.spark

T0 = 1_795_615_200_000
Row = tuple[str, str, str]


class RosterFile:
    path: Path

    def write(self, rows: list[Row]) -> None:
        raise NotImplementedError

    def replace(self, rows: list[Row]) -> None:
        """Written beside the roster, then renamed over it."""
        final = self.path
        self.path = final.with_name(f"new-{final.name}")
        try:
            self.write(rows)
            os.replace(self.path, final)
        finally:
            self.path = final


class CsvRoster(RosterFile):
    """Edited in place: appended to, or truncated and rewritten (``open(path, "w")``)."""

    suffix = ".csv"

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, rows: list[Row]) -> None:
        self.path.write_text("patient_id,bed,ward\n" + "".join(",".join(r) + "\n" for r in rows))

    def append(self, rows: list[Row]) -> None:
        with self.path.open("a") as f:
            f.write("".join(",".join(r) + "\n" for r in rows))


class ParquetRoster(RosterFile):
    """Rewritten whole (a Parquet file cannot be appended to), larger or smaller."""

    suffix = ".parquet"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[Row] = []

    def write(self, rows: list[Row]) -> None:
        self.rows = list(rows)
        columns = dict(zip(("patient_id", "bed", "ward"), zip(*rows, strict=True), strict=True))
        pq.write_table(pa.table({k: list(v) for k, v in columns.items()}), self.path)

    def append(self, rows: list[Row]) -> None:
        self.write(self.rows + rows)


class Feed:
    """Kafka-shaped records from JSON readings, one file per micro-batch, each file moved into
    the watched directory whole."""

    def __init__(self, root: Path, topic: str) -> None:
        self.directory = root / "feed"
        self.staging = root / "staging"
        self.directory.mkdir()
        self.staging.mkdir()
        self.topic = topic
        self.batches = 0

    def publish(self, patients: list[str]) -> None:
        # 90 s of a pulse of 140: tachycardia-sustained fires for each patient.
        lines = [
            json.dumps({"patient_id": p, "ts": T0 + second * 1000, "bpm": 140})
            for p in patients
            for second in range(90)
        ]
        self.batches += 1
        staged = self.staging / f"{self.batches}.txt"
        staged.write_text("\n".join(lines) + "\n")
        os.replace(staged, self.directory / staged.name)

    def records(self, spark):
        value = F.col("value")
        return (
            spark.readStream.option("maxFilesPerTrigger", 1)
            .text(str(self.directory))
            .select(
                F.get_json_object(value, "$.patient_id").cast("binary").alias("key"),
                value.cast("binary").alias("value"),
                F.lit(self.topic).alias("topic"),
                F.lit(0).alias("partition"),
                F.lit(0).cast("long").alias("offset"),
                F.lit(None).cast("timestamp").alias("timestamp"),
            )
        )


@pytest.fixture(params=[CsvRoster, ParquetRoster])
def query(request, spark, base_settings, tmp_path: Path) -> Iterator[tuple]:
    roster_file = request.param(tmp_path / f"roster{request.param.suffix}")
    # P-18's row is there from the start; the longer rewrite moves it to the end with a new bed.
    roster_file.write([("P-10", "10", "W-A"), ("P-18", "old", "W-A")])
    settings = base_settings.model_copy(
        update={"rules": base_settings.rules.model_copy(update={"allowed_lateness": 0})}
    )
    rules = [r for r in load_rules(settings.rules.directory) if r.spec.kind != "no_data"]
    feed = Feed(tmp_path, settings.topics.heart_rate)
    roster = read_roster(spark, roster_file.path, rules)
    outputs = build_outputs(feed.records(spark), rules, settings, roster)
    table = f"roster_edits_{os.getpid()}"
    running = (
        outputs.select("topic", "value")
        .writeStream.format("memory")
        .queryName(table)
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .outputMode("append")
        .start()
    )
    try:
        yield roster_file, feed, running, table, settings.topics.alerts
    finally:
        running.stop()


def placed(spark, running, table: str, alerts_topic: str) -> dict[str, tuple[str, str]]:
    """Bed and ward on each patient's firing alert so far."""
    running.processAllAvailable()
    out = {}
    for r in spark.sql(f"select value from {table} where topic = '{alerts_topic}'").collect():
        alert = json.loads(r.value)
        if alert["state"] == "firing":
            labels = alert["labels"]
            out[alert["patient_id"]] = (labels.get("bed"), labels.get("ward"))
    return out


def test_rows_appended_or_rewritten_under_the_query_are_seen_whole(spark, query) -> None:
    roster_file, feed, running, table, alerts_topic = query

    feed.publish(["P-10"])
    assert placed(spark, running, table, alerts_topic) == {"P-10": ("10", "W-A")}

    # Appended: the file grows; the first new row starts exactly at the old length.
    roster_file.append([("P-11", "11", "W-A"), ("P-12", "12", "W-A")])
    feed.publish(["P-11", "P-12"])
    seen = placed(spark, running, table, alerts_topic)
    assert {p: seen.get(p) for p in ("P-11", "P-12")} == {
        "P-11": ("11", "W-A"),
        "P-12": ("12", "W-A"),
    }

    # Rewritten shorter.
    roster_file.write([("P-13", "13", "W-B")])
    feed.publish(["P-13"])
    assert placed(spark, running, table, alerts_topic).get("P-13") == ("13", "W-B")

    # Rewritten longer, with different earlier bytes; P-18 moved to the end with a new bed.
    roster_file.write(
        [
            ("P-14", "14", "W-CARDIOLOGY"),
            ("P-15", "15", "W-CARDIOLOGY"),
            ("P-16", "16", "W-CARDIOLOGY"),
            ("P-17", "17", "W-CARDIOLOGY"),
            ("P-18", "18", "W-CARDIOLOGY-STEPDOWN"),
        ]
    )
    feed.publish(["P-14", "P-15", "P-16", "P-17", "P-18"])
    seen = placed(spark, running, table, alerts_topic)
    assert {p: seen.get(p) for p in ("P-14", "P-15", "P-16", "P-17", "P-18")} == {
        "P-14": ("14", "W-CARDIOLOGY"),
        "P-15": ("15", "W-CARDIOLOGY"),
        "P-16": ("16", "W-CARDIOLOGY"),
        "P-17": ("17", "W-CARDIOLOGY"),
        "P-18": ("18", "W-CARDIOLOGY-STEPDOWN"),
    }

    # Replaced by a rename, longer again.
    roster_file.replace([("P-19", "19", "W-D")] * 6 + [("P-20", "20", "W-DISCHARGE-LOUNGE")])
    feed.publish(["P-19", "P-20"])
    seen = placed(spark, running, table, alerts_topic)
    assert {p: seen.get(p) for p in ("P-19", "P-20")} == {
        "P-19": ("19", "W-D"),
        "P-20": ("20", "W-DISCHARGE-LOUNGE"),
    }
