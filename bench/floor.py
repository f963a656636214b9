"""What the stack costs without the rules: the floor under the query's capacity.

    python -m bench.floor [--patients 10000 50000] [--seconds 20] [--runs 3]

Issue #6 asks for 50,000 readings/s on 2 cores and, where Spark's per-key cost of Python
stateful processing stands in the way, for a change of design. Before designing, this measures
how much of the capacity is left to win: the same backlog drained at live-sized micro-batches
(as ``bench.capacity``) by seven queries, alternating in one Spark session:

- ``rules``: the product's query (``start_query``: all default rules).
- ``no rules``: the same query, plan and Kafka sink, with a processor that reads its bucket's
  state, takes every reading from Spark and updates the state, but runs no rule: what Kafka,
  the parse, the shuffle into state buckets, the hand-over to Python (the product's columns, as
  pandas frames from ``transformWithStateInPandas``) and the state store cost. No rule engine,
  however fast, makes the query faster than this.
- ``no rules, no timers``: the same without processing-time timers (``timeMode`` "None", as a
  batch over history runs): what Spark's timer handling costs a query that sets none.
- ``no rules, columns via pandas``: the same readings and columns, unpacked, handed over by
  ``transformWithStateInPandas`` (Arrow batches as pandas DataFrames, no per-cell conversion).
- ``no rules, reading columns and their validation via pandas``: the reading's own columns and
  the parser's dead-letter reason (null for a valid reading): the floor of an engine that keeps
  the input contract, which validates every reading.
- ``no rules, reading columns only via pandas``: the same with only the reading's own columns
  (not its Kafka source, whose original bytes dead letters need, nor its validation, which
  Spark then prunes from the plan): the floor of a vectorised engine that evaluates a bucket's
  readings as arrays.
- ``no Python``: the readings parsed and counted per state bucket by a stateful aggregation in
  the JVM (no Python worker at all; a no-op sink): the floor of a design with the rules in
  Spark SQL.

Prints a table (readings per second of batch time, medians of the runs with their range, and
each floor's ratio to ``rules`` measured in the same run) and writes bench/FLOOR.md.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any
from unittest import mock

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery
from pyspark.sql.streaming.stateful_processor import (
    StatefulProcessor,
    StatefulProcessorHandle,
    TimerValues,
)
from pyspark.sql.types import LongType, StructField, StructType

from bench.capacity import one_run
from bench.harness import (
    REPO,
    bench_settings,
    earlier_runs,
    local_broker,
    machine,
    one_second_of_ward,
    publish_backlog,
    spread,
)
from vitalwatch.logs import configure_logging
from vitalwatch.rules.loader import load_rules
from vitalwatch.settings import Settings
from vitalwatch.stream import job
from vitalwatch.stream.parse import READING_COLUMNS, parse_readings
from vitalwatch.stream.processor import OUTPUT_SCHEMA
from vitalwatch.stream.session import start_spark


class NoRules(StatefulProcessor):
    """Stands in for ``RuleProcessor``: one state read and one update per bucket, as the rule
    processor makes, and every reading taken from Spark (as pandas DataFrames, or as rows under
    ``transformWithState``), but no rule run and nothing emitted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # the rule processor's arguments
        pass

    def init(self, handle: StatefulProcessorHandle) -> None:
        self._count = handle.getValueState("count", StructType([StructField("n", LongType())]))

    def handleInputRows(self, key: Any, rows: Iterator[Any], timerValues: TimerValues) -> Any:
        stored = self._count.get()
        taken = sum(len(item.iloc[:, -1].tolist()) if hasattr(item, "iloc") else 1 for item in rows)
        self._count.update(((stored[0] if stored else 0) + taken,))
        return iter(())

    def close(self) -> None:
        pass


def _without_rules(spark: SparkSession, settings: Settings) -> StreamingQuery:
    with mock.patch.object(job, "RuleProcessor", NoRules):
        return job.start_query(spark, load_rules(settings.rules.directory), settings)


def _without_rules_or_timers(spark: SparkSession, settings: Settings) -> StreamingQuery:
    build_outputs = job.build_outputs
    with mock.patch.object(job, "build_outputs", partial(build_outputs, live=False)):
        return _without_rules(spark, settings)


def _without_rules_via_pandas(
    spark: SparkSession, settings: Settings, columns: Sequence[str] | None = None
) -> StreamingQuery:
    """The readings' columns (all, or ``columns``) unpacked to ``transformWithStateInPandas``."""
    readings = parse_readings(job.read_kafka(spark, settings), settings.topics)
    grouped = readings.select(_bucket(settings), *(columns or readings.columns)).groupBy("bucket")
    return _to_kafka(
        grouped.transformWithStateInPandas(NoRules(), OUTPUT_SCHEMA, "Append", "None"), settings
    )


def _to_kafka(evaluated: DataFrame, settings: Settings) -> StreamingQuery:
    return (
        evaluated.withColumn("headers", job.dead_letter_headers())
        .select("topic", "key", "value", "headers")
        .writeStream.format("kafka")
        .options(**job.kafka_options(settings))
        .option("checkpointLocation", str(settings.checkpoint_dir / "floor"))
        .trigger(processingTime=f"{settings.spark.trigger} milliseconds")
        .start()
    )


def _bucket(settings: Settings) -> Any:
    """The product's state bucket (``spark.state_buckets``: the floor's checkpoints are new)."""
    return job.state_bucket(settings.spark.state_buckets).alias("bucket")


def _without_python(spark: SparkSession, settings: Settings) -> StreamingQuery:
    readings: DataFrame = parse_readings(job.read_kafka(spark, settings), settings.topics)
    counted = readings.groupBy(_bucket(settings)).agg(
        F.count("*").alias("readings"), F.max("event_ms").alias("newest")
    )
    return (
        counted.writeStream.format("noop")
        .outputMode("update")
        .option("checkpointLocation", str(settings.checkpoint_dir / "floor"))
        .trigger(processingTime=f"{settings.spark.trigger} milliseconds")
        .start()
    )


QUERIES: dict[str, Callable[[SparkSession, Settings], StreamingQuery] | None] = {
    "rules": None,  # the product's query
    "no rules": _without_rules,
    "no rules, no timers": _without_rules_or_timers,
    "no rules, columns via pandas": _without_rules_via_pandas,
    "no rules, reading columns and their validation via pandas": partial(
        _without_rules_via_pandas, columns=(*READING_COLUMNS, "reason")
    ),
    "no rules, reading columns only via pandas": partial(
        _without_rules_via_pandas, columns=READING_COLUMNS
    ),
    "no Python": _without_python,
}


def measure(patients: int, seconds: int, runs: int) -> dict[str, list[float]]:
    workdir = Path(tempfile.mkdtemp(prefix="vitalwatch-floor-"))
    try:
        with local_broker(workdir) as broker:
            settings = bench_settings(broker, workdir, spark={"starting_offsets": "earliest"})
            backlog = publish_backlog(settings, patients, seconds)
            settings.spark.max_offsets_per_trigger = one_second_of_ward(patients)
            spark = start_spark(settings)
            rates: dict[str, list[float]] = {name: [] for name in QUERIES}
            for run in range(runs):
                for name in QUERIES:  # alternating, so drift of the machine hits all alike
                    rates[name].append(one_run(spark, settings, backlog, QUERIES[name])["rate"])
                    print(f"{patients} patients, run {run + 1}, {name}: "
                          f"{rates[name][-1]:,.0f} readings/s", flush=True)  # fmt: skip
            spark.stop()
            return rates
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "FLOOR.md")
    args = parser.parse_args()
    configure_logging("console", "warning")
    rows = []
    for patients in args.patients:
        rates = measure(patients, args.seconds, args.runs)
        rules = rates["rules"]
        for name, values in rates.items():
            ratios = [v / r for v, r in zip(values, rules, strict=True)]
            rows.append(f"| {patients:,} | {name} | {spread(values, ',.0f')} | "
                        f"x{statistics.median(ratios):.2f} |")  # fmt: skip
    report = (
        f"# The stack's floor without the rules\n\n`python -m bench.floor --patients "
        f"{' '.join(map(str, args.patients))} --seconds {args.seconds} --runs {args.runs}` on "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n\nMachine: {machine()}.\n"
        "Readings per second of batch time at live-sized micro-batches (one heart-rate reading "
        "per patient a batch), second half of each drain; medians over runs with their range; "
        "the ratio to `rules` is the median of the per-run ratios (the queries alternate in one "
        "Spark session).\n\n| patients | query | readings/s | / rules |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )
    print(report)
    args.out.write_text(report + earlier_runs(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
