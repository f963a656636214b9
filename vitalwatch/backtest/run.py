"""Run rules over history: records shaped like the Kafka source, through ``build_outputs`` in batch.

Inputs: PhysioNet 2012 stays (a ``set-a`` directory or single files) or PhysioNet 2019 patients
(a directory of ``.psv`` files or single ones, with their sepsis labels), each replayed from one
common start time; or a range of the live topics, ``kafka:FROM..TO`` (each end ``earliest``,
``latest``, epoch milliseconds or an ISO-8601 time), read with Spark's Kafka source in batch. The
records go through the same parsing, validation and rule code as the live stream; only the
source (a batch DataFrame instead of a stream) and the sink (collect) differ.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from vitalwatch.contracts.readings import Signal
from vitalwatch.errors import ConfigError
from vitalwatch.rules.kind import RuleKind
from vitalwatch.settings import Settings
from vitalwatch.simulate import physionet2019
from vitalwatch.simulate.physionet import stay_messages

# The Kafka source's columns, as the records are handed to Spark.
KAFKA_COLUMNS = pa.schema(
    [
        ("key", pa.binary()),
        ("value", pa.binary()),
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
    ]
)
START_MS = 1_767_225_600_000  # 2026-01-01T00:00Z, the admission time given to every stay


def stay_files(path: Path, limit: int | None = None) -> list[Path]:
    """A PhysioNet 2012 stay file or ``set-a`` directory (``*.txt``), or a PhysioNet 2019 patient
    file or directory (``*.psv``)."""
    if path.is_dir():
        files = sorted(path.glob(f"*{physionet2019.SUFFIX}")) or sorted(path.glob("*.txt"))
    else:
        files = [path]
    return files[:limit] if limit else files


def is_physionet2019(files: Sequence[Path]) -> bool:
    return bool(files) and all(f.suffix == physionet2019.SUFFIX for f in files)


def physionet_records(
    files: Sequence[Path], settings: Settings
) -> tuple[list[tuple[Any, ...]], dict[str, tuple[int, int]]]:
    """Kafka-shaped rows for every stay, and each patient's (first, last) reading time."""
    replay = physionet2019.stay_messages if is_physionet2019(files) else stay_messages
    topics = {signal: settings.topics.reading(signal) for signal in Signal}
    rows: list[tuple[Any, ...]] = []
    spans: dict[str, tuple[int, int]] = {}
    for path in files:
        messages = list(replay(path, START_MS))  # in time order
        rows.extend(
            (m.key, m.value, topics[m.signal], 0, offset, None)
            for offset, m in enumerate(messages, start=len(rows))
        )
        if messages and (key := messages[0].key) is not None:
            spans[key.decode()] = (
                START_MS + messages[0].offset_ms,
                START_MS + messages[-1].offset_ms,
            )
    return rows, spans


KAFKA_PREFIX = "kafka:"
# The fields of an alert message that the report reads (``backtest.report``, ``backtest.html``;
# an episode is (rule_id, patient_id, onset_ms), which is what its ``alert_id`` is made of).
REPORTED_FIELDS = ("rule_id", "patient_id", "state", "onset_ms", "detected_ms")
_RESULT_SLICES = 32


def _kafka_bound(text: str, default: str) -> tuple[str, str]:
    """A range end as Spark Kafka source options for batch reads."""
    text = text or default
    if text in ("earliest", "latest"):
        return "Offsets", text
    if text.isdigit():
        return "Timestamp", text
    try:
        return "Timestamp", str(int(datetime.fromisoformat(text).timestamp() * 1000))
    except ValueError:
        raise ConfigError(
            f"bad Kafka range end {text!r}: use earliest, latest, epoch ms or an ISO-8601 time"
        ) from None


def kafka_records(
    spark: Any, settings: Settings, spec: str
) -> tuple[list[tuple[Any, ...]], dict[str, tuple[int, int]]]:
    """The records of both reading topics within ``kafka:FROM..TO``, and each patient's span."""
    from pyspark.sql import functions as F

    from vitalwatch.stream.job import kafka_options
    from vitalwatch.stream.parse import parse_readings

    start, _, end = spec.removeprefix(KAFKA_PREFIX).partition("..")
    (start_kind, start_value), (end_kind, end_value) = (
        _kafka_bound(start, "earliest"),
        _kafka_bound(end, "latest"),
    )
    frame = (
        spark.read.format("kafka")
        .options(**kafka_options(settings))
        .option("subscribe", ",".join(settings.topics.readings()))
        .option(f"starting{start_kind}", start_value)
        .option(f"ending{end_kind}", end_value)
        .load()
        .select("key", "value", "topic", "partition", "offset", "timestamp")
    )
    parsed = parse_readings(frame, settings.topics).where("reason IS NULL")
    spans = {
        row.patient_id: (row.first, row.last)
        for row in parsed.groupBy("patient_id")
        .agg(F.min("event_ms").alias("first"), F.max("event_ms").alias("last"))
        .collect()
    }
    return [tuple(row) for row in frame.collect()], spans


def patient_series(
    records: Sequence[tuple[Any, ...]], patient: str
) -> dict[str, list[tuple[int, float]]]:
    """One patient's readings by measure, for the report's timeline."""
    series: dict[str, list[tuple[int, float]]] = {"heart rate": [], "systolic": [], "MAP": []}
    key = patient.encode()
    for record in records:
        if record[0] != key:
            continue
        body = json.loads(record[1])
        for name, field in (("heart rate", "bpm"), ("systolic", "systolic"), ("MAP", "mean")):
            if body.get(field) is not None:
                series[name].append((body["ts"], float(body[field])))
    return series


def sepsis_labels(files: Sequence[Path]) -> dict[str, int | None]:
    """PhysioNet 2019 patients -> when their ``SepsisLabel`` is first 1 (None: no sepsis)."""
    return {
        physionet2019.patient_id(path): physionet2019.first_sepsis_label_ms(path, START_MS)
        for path in files
    }


def physionet_outcomes(path: Path) -> dict[str, bool]:
    """``Outcomes-a.txt``: patient -> died in hospital."""
    with path.open(newline="") as handle:
        return {
            f"PN12-{row['RecordID']}": row["In-hospital_death"] == "1"
            for row in csv.DictReader(handle)
        }


def records_frame(spark: Any, records: Sequence[tuple[Any, ...]]) -> Any:
    """The records as a DataFrame in as many partitions as Spark has cores, handed over as Arrow
    columns: for the 2012 set's 596,360 records, 1.6 s instead of 3.6 s as pickled rows, and the
    job's first stage, which reads them, ~2 s shorter (bench/CAPACITY.md)."""
    columns: list[Sequence[Any]] = list(zip(*records, strict=True)) or [()] * len(KAFKA_COLUMNS)
    # Naive times are the local ones Spark's collect gives; made aware, they are read as such.
    columns[-1] = [None if t is None else t.astimezone(UTC) for t in columns[-1]]
    table = pa.table(columns, schema=KAFKA_COLUMNS)
    return spark.createDataFrame(table).coalesce(spark.sparkContext.defaultParallelism)


def run_rules(
    spark: Any,
    settings: Settings,
    rules: Sequence[RuleKind[Any]],
    records: list[tuple[Any, ...]],
    messages: bool = False,
) -> list[dict[str, Any]]:
    """Every alert the rules raise over ``records``: the ``REPORTED_FIELDS`` a report reads, or,
    with ``messages``, the whole alert messages the stream would write."""
    from pyspark.sql import functions as F

    from vitalwatch.stream.job import build_outputs

    # All history is at hand: nothing is late, and every reading is released in order.
    batch = settings.model_copy(
        update={"rules": settings.rules.model_copy(update={"allowed_lateness": 0})}
    )
    frame = records_frame(spark, records)
    outputs = build_outputs(frame, rules, batch, live=False, alert_messages=messages).where(
        f"topic = '{settings.topics.alerts}'"
    )
    # Spread over slices: years of history can hold hundreds of thousands of alerts (449,010
    # no-data alerts on hourly-charted PhysioNet 2012), too much for one task's result. Fetched
    # as Arrow (one job, no per-row pickling): 12 s less than a slice at a time as rows
    # (bench/CAPACITY.md).
    if messages:
        slices = outputs.select("value").repartition(_RESULT_SLICES)
        return [orjson.loads(value) for value in slices.toArrow().column("value").to_pylist()]
    # The report's fields as the processor's own columns, no messages: the 2012 set's 492,618
    # messages were ~300 MB of JSON, written in the Python workers and read back in the JVM.
    reported = outputs.select(
        "rule_id",
        F.col("key").cast("string").alias("patient_id"),
        F.col("alert_state").alias("state"),
        "onset_ms",
        F.col("event_ms").alias("detected_ms"),
    )
    alerts: list[dict[str, Any]] = reported.repartition(_RESULT_SLICES).toArrow().to_pylist()
    return alerts
