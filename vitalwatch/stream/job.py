"""The streaming query: Kafka -> parse -> per-patient rules -> Kafka (alerts and dead letters).

One query, one checkpoint, one pass over the records: every parsed record, valid or not, goes
to the stateful processor, whose output (alerts, and dead letters: invalid or late readings)
is one Kafka sink that routes each row by its ``topic`` column, so a micro-batch's dead letters
and alerts are committed together with the source offsets and the RocksDB state.

Two ``observe()`` points count what passes (readings by signal and outcome, the newest event
time by signal, dead letters by reason, readings of patients whose roster row has a spoilt
override cell, alerts by rule and state); the listener turns them into Prometheus metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming.query import StreamingQuery

from vitalwatch.contracts.alerts import AlertState
from vitalwatch.contracts.readings import REASON_HEADER, SOURCE_HEADERS, DeadLetterReason, Signal
from vitalwatch.errors import ConfigError
from vitalwatch.kafka_security import java_client_properties
from vitalwatch.rules.kernel import SIGNALS, VALUE_FIELDS
from vitalwatch.rules.kind import RuleKind
from vitalwatch.settings import Settings
from vitalwatch.stream.parse import parse_readings
from vitalwatch.stream.processor import (
    INPUT_COLUMNS,
    OUTPUT_SCHEMA,
    PROCESSOR_REASONS,
    RuleProcessor,
)
from vitalwatch.stream.roster import ROSTER_SPOILT, read_roster

log = structlog.get_logger(__name__)

INPUT_OBSERVATION = "vitalwatch_input"
OUTPUT_OBSERVATION = "vitalwatch_output"
QUERY_NAME = "vitalwatch-rules"
# Readings evaluated with a rule's own limit because their roster override cell is spoilt.
ROSTER_SPOILT_METRIC = "roster_spoilt"


def readings_metric_name(signal: str, outcome: str) -> str:
    return f"readings|{signal}|{outcome}"


def newest_event_metric_name(signal: str) -> str:
    """The batch's newest event time (epoch ms) of a signal's valid readings (null: none)."""
    return f"newest_event_ms|{signal}"


def deadletter_metric_name(reason: str) -> str:
    return f"deadletter|{reason}"


def alerts_metric_name(rule_id: str, state: str) -> str:
    return f"alerts|{rule_id}|{state}"


def _count_if(condition: Column, name: str) -> Column:
    return F.count_if(condition).alias(name)


def kafka_options(settings: Settings) -> dict[str, str]:
    """The Java Kafka client's properties (brokers, TLS/SASL) as source and sink options."""
    return {f"kafka.{k}": v for k, v in java_client_properties(settings.kafka).items()}


# How long the broker may hold a fetch of the source's consumers that finds no new records (the
# Java client's default: 500 ms). A task reads only offsets that exist, but the consumer, cached
# between micro-batches, pipelines a fetch past the last record it returned; the next batch's
# task seeks and then waits for that fetch to come back empty before it can send its own. Live,
# that was ~500 ms of every batch's Kafka read (stage wall 340-530 ms for 45 ms of CPU at 1,000
# patients; with 10 ms, 75-130 ms; bench/LATENCY.md). An operator's
# ``kafka.java_client_properties`` may still set it.
SOURCE_FETCH_MAX_WAIT_MS = 10


def source_options(settings: Settings) -> dict[str, str]:
    """The Kafka source's client options: ``kafka_options``, over the source's fetch wait."""
    return {"kafka.fetch.max.wait.ms": str(SOURCE_FETCH_MAX_WAIT_MS), **kafka_options(settings)}


def read_kafka(spark: SparkSession, settings: Settings) -> DataFrame:
    """The reading topics, and the heartbeat topic whose ticks make batches run (dropped in
    ``build_outputs``; see ``vitalwatch.stream.heartbeat``)."""
    topics = settings.topics
    subscribed = [*topics.readings(), topics.heartbeat]
    reader = (
        spark.readStream.format("kafka")
        .options(**source_options(settings))
        .option("subscribe", ",".join(subscribed))
        .option("startingOffsets", settings.spark.starting_offsets)
    )
    if settings.spark.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(settings.spark.max_offsets_per_trigger))
    return reader.load()


def build_outputs(
    records: DataFrame,
    rules: Sequence[RuleKind[Any]],
    settings: Settings,
    roster: DataFrame | None = None,
    live: bool = True,
    buckets: int | None = None,
    alert_messages: bool = True,
) -> DataFrame:
    """Kafka records to Kafka records; used for the live stream and for batch over history.

    ``roster`` (static) is broadcast-joined to the readings: a stream-static join that gives
    each patient's rules its bed, ward and limit overrides. ``live``: with processing-time
    timers (the stream); a batch over history runs without them. ``buckets``: the state
    buckets (the checkpoint's; ``spark.state_buckets`` when none is given). ``alert_messages``:
    False leaves the alerts' ``value`` null (``RuleProcessor``), for a report over history.
    """
    records = records.where(F.col("topic") != settings.topics.heartbeat)
    parsed = parse_readings(records, settings.topics)
    readings = parsed if roster is None else parsed.join(F.broadcast(roster), "patient_id", "left")
    reason = F.col("reason")
    readings = readings.observe(
        INPUT_OBSERVATION,
        *[
            _count_if(
                (F.col("signal") == s.value)
                & (reason.isNull() if outcome == "ok" else reason.isNotNull()),
                readings_metric_name(s.value, outcome),
            )
            for s in Signal
            for outcome in ("ok", "invalid")
        ],
        *[
            F.max(F.when((F.col("signal") == s.value) & reason.isNull(), F.col("event_ms"))).alias(
                newest_event_metric_name(s.value)
            )
            for s in Signal
        ],
        *[
            _count_if(reason.startswith(r.value), deadletter_metric_name(r.value))
            for r in DeadLetterReason
            if r not in PROCESSOR_REASONS
        ],
        *([] if roster is None else [_count_if(F.col(ROSTER_SPOILT), ROSTER_SPOILT_METRIC)]),
    )
    # Valid and invalid readings go on together: one scan of the Kafka records and one parse per
    # micro-batch (a separate dead-letter branch read and parsed every record twice). The
    # processor dead-letters the invalid ones (rare) as they came, with the parser's reason.
    evaluated = (
        readings.select(
            *_processor_input(readings, roster is not None, buckets or settings.spark.state_buckets)
        )
        .groupBy(INPUT_COLUMNS[0])
        .transformWithStateInPandas(
            statefulProcessor=RuleProcessor(
                rules,
                settings.rules.allowed_lateness,
                settings.topics.alerts,
                settings.topics.deadletter,
                settings.rules.state_ttl,
                timers=live,
                max_clock_skew_ms=settings.rules.max_clock_skew,
                pairing_wait_ms=settings.rules.pairing_wait,
                alert_messages=alert_messages,
            ),
            outputStructType=OUTPUT_SCHEMA,
            outputMode="Append",
            timeMode="ProcessingTime" if live else "None",
        )
    )
    evaluated = evaluated.observe(
        OUTPUT_OBSERVATION,
        *[
            _count_if(F.col("deadletter_reason") == r.value, deadletter_metric_name(r.value))
            for r in PROCESSOR_REASONS
        ],
        *[
            _count_if(
                (F.col("rule_id") == rule.spec.id) & (F.col("alert_state") == state.value),
                alerts_metric_name(rule.spec.id, state.value),
            )
            for rule in rules
            for state in (AlertState.FIRING, AlertState.RESOLVED)
        ],
    )
    return evaluated.withColumn("headers", dead_letter_headers())


def _processor_input(readings: DataFrame, with_roster: bool, buckets: int) -> list[Column | str]:
    """``INPUT_COLUMNS``: the reading's own columns as they are (numbers cross to Python as
    arrays), and the roster entry and the dead letter's source each packed into one text
    column, decoded in Python only where needed."""
    signal = F.col("signal")
    index = F.lit(None).cast("tinyint")
    for position, sig in reversed(list(enumerate(SIGNALS))):
        index = F.when(signal == sig.value, F.lit(position).cast("tinyint")).otherwise(index)
    context = (
        F.to_json(F.struct("bed", "ward", "overrides"))
        if with_roster
        else F.lit(None).cast("string")
    )
    return [
        state_bucket(buckets).alias(INPUT_COLUMNS[0]),
        "patient_id",
        index.alias("signal"),
        "event_ms",
        *VALUE_FIELDS,
        "source_timestamp",
        context.alias("context"),
        F.to_json(
            F.struct("raw_key", "raw_value", "source_topic", "source_partition", "source_offset")
        ).alias("source"),
        "reason",
    ]


def state_bucket(buckets: int) -> Column:
    """A patient's state bucket: the same for all its readings, whichever topic they came on."""
    return F.pmod(F.xxhash64("patient_id"), F.lit(buckets))


def dead_letter_headers() -> Column:
    """A dead letter's Kafka headers: its reason and the record it came from (alerts: none)."""
    reason = F.col("deadletter_reason")
    headers = F.array(
        F.struct(F.lit(REASON_HEADER).alias("key"), reason.cast("binary").alias("value")),
        *[
            F.struct(
                F.lit(name).alias("key"), F.col(column).cast("string").cast("binary").alias("value")
            )
            for name, column in zip(
                SOURCE_HEADERS, ("source_topic", "source_partition", "source_offset"), strict=True
            )
        ],
    )
    return F.when(reason.isNotNull(), headers)


# What the checkpoint's state was written as: the processor's state layout and bucket count.
# Spark cannot read state of another layout back, and a patient's state stays in the bucket it
# hashed to, so a checkpoint of another layout is refused at start with what to do, instead of a
# query that fails on its first batch and restarts forever; its bucket count is kept.
STATE_LAYOUT = "state=columns-1"
LAYOUT_FILE = "vitalwatch-layout"


def checkpoint_buckets(checkpoint: Path, wanted: int) -> int:
    """The state buckets of the checkpoint: those it was made with, or ``wanted`` for a new one
    (which is marked with them). A checkpoint of another state layout is refused."""
    marker = checkpoint / LAYOUT_FILE
    if marker.exists():
        found = marker.read_text(encoding="utf-8").strip()
        layout, _, count = found.partition(" buckets=")
        buckets = int(count) if count.isdigit() else 0
        if layout == STATE_LAYOUT and buckets > 0:
            if buckets != wanted:
                log.warning(
                    "checkpoint.buckets_kept", checkpoint=str(checkpoint), buckets=buckets,
                    configured=wanted,
                    hint="spark.state_buckets applies to a new checkpoint: move this one "
                    "aside to use it (windows and alarm delays then start afresh)",
                )  # fmt: skip
            return buckets
    elif not (checkpoint / "offsets").exists():  # a new checkpoint
        checkpoint.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"{STATE_LAYOUT} buckets={wanted}\n", encoding="utf-8")
        return wanted
    else:
        found = "per-patient JSON state (before the columnar engine)"
    raise ConfigError(
        f"checkpoint {checkpoint}: written with {found}, this version keeps {STATE_LAYOUT}, "
        "and Spark cannot read that state back. Stop here, move the directory aside (the query "
        "then starts from spark.starting_offsets, and rules with windows or alarm delays start "
        "afresh), and start again"
    )


def start_query(
    spark: SparkSession, rules: Sequence[RuleKind[Any]], settings: Settings
) -> StreamingQuery:
    roster = read_roster(spark, settings.roster, rules) if settings.roster else None
    checkpoint = settings.checkpoint_dir / QUERY_NAME
    buckets = checkpoint_buckets(checkpoint, settings.spark.state_buckets)
    outputs = build_outputs(read_kafka(spark, settings), rules, settings, roster, buckets=buckets)
    return (
        outputs.select("topic", "key", "value", "headers")
        .writeStream.format("kafka")
        .queryName(QUERY_NAME)
        .options(**kafka_options(settings))
        .option("checkpointLocation", str(checkpoint))
        .trigger(processingTime=f"{settings.spark.trigger} milliseconds")
        .outputMode("append")
        .start()
    )
