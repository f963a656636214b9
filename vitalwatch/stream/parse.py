"""Parse and validate Kafka records into readings, in Spark SQL expressions (they run in the JVM).

One function for both modes: it takes a DataFrame with the Kafka source's columns (``key``,
``value``, ``topic``, ``partition``, ``offset``, ``timestamp``), streaming or batch, and returns
one row per record with ``reason`` null for a valid reading or the dead-letter reason otherwise.
The first failing check gives the reason, in the order: encoding, JSON, key, fields, ranges.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from vitalwatch.contracts.readings import (
    PATIENT_ID_PATTERN,
    POSSIBLE_RANGE,
    DeadLetterReason,
    Signal,
)
from vitalwatch.settings import TopicSettings

# Every field is read as text so that a wrong JSON type is told apart from a missing field.
_FIELDS = ("patient_id", "ts", "bpm", "systolic", "diastolic", "mean", "device_id")
_JSON_SCHEMA = StructType(
    [StructField(name, StringType()) for name in _FIELDS] + [StructField("_corrupt", StringType())]
)
_REQUIRED = {
    Signal.HEART_RATE: ("patient_id", "ts", "bpm"),
    Signal.BLOOD_PRESSURE: ("patient_id", "ts", "systolic", "diastolic"),
}

READING_COLUMNS = (
    "patient_id", "signal", "event_ms", "bpm", "systolic", "diastolic", "mean", "device_id",
)  # fmt: skip
SOURCE_COLUMNS = ("raw_key", "raw_value", "source_topic", "source_partition", "source_offset")


def _reason(code: DeadLetterReason, detail: Column | str | None = None) -> Column:
    if detail is None:
        return F.lit(code.value)
    return F.concat(
        F.lit(code.value + ":"), detail if isinstance(detail, Column) else F.lit(detail)
    )


def _first(*checks: tuple[Column, Column]) -> Column:
    expr = F.lit(None).cast("string")
    for condition, reason in reversed(checks):
        expr = F.when(condition, reason).otherwise(expr)
    return expr


def parse_readings(records: DataFrame, topics: TopicSettings) -> DataFrame:
    signal = F.when(F.col("topic") == topics.heart_rate, F.lit(Signal.HEART_RATE.value)).when(
        F.col("topic") == topics.blood_pressure, F.lit(Signal.BLOOD_PRESSURE.value)
    )
    text = F.when(F.is_valid_utf8("value"), F.col("value").cast("string"))
    df = records.select(
        F.col("key").alias("raw_key"),
        F.col("value").alias("raw_value"),
        F.col("topic").alias("source_topic"),
        F.col("partition").alias("source_partition"),
        F.col("offset").alias("source_offset"),
        signal.alias("signal"),
        text.alias("text"),
        F.from_json(text, _JSON_SCHEMA, {"columnNameOfCorruptRecord": "_corrupt"}).alias("j"),
    )
    ts_text = F.trim(F.col("j.ts"))
    event_ms = F.when(ts_text.rlike(r"^[0-9]{1,15}$"), ts_text.cast("long")).otherwise(
        F.unix_millis(F.try_to_timestamp(ts_text))
    )
    numbers = {name: F.col(f"j.{name}").try_cast("double") for name in POSSIBLE_RANGE}
    mean = F.coalesce(numbers["mean"], (numbers["systolic"] + 2 * numbers["diastolic"]) / 3)
    df = df.select(
        *SOURCE_COLUMNS,
        "signal",
        "text",
        F.col("j._corrupt").alias("corrupt"),
        F.col("j").alias("j"),
        F.col("j.patient_id").alias("patient_id"),
        event_ms.alias("event_ms"),
        numbers["bpm"].alias("bpm"),
        numbers["systolic"].alias("systolic"),
        numbers["diastolic"].alias("diastolic"),
        F.when(F.col("signal") == Signal.BLOOD_PRESSURE.value, mean).alias("mean"),
        F.col("j.device_id").alias("device_id"),
    )
    return df.select(*READING_COLUMNS, *SOURCE_COLUMNS, _validation(df).alias("reason"))


def _validation(df: DataFrame) -> Column:
    is_hr = F.col("signal") == Signal.HEART_RATE.value
    checks: list[tuple[Column, Column]] = [
        (F.col("text").isNull(), _reason(DeadLetterReason.NOT_UTF8)),
        (
            F.col("corrupt").isNotNull() | F.col("j").isNull() | ~F.trim("text").startswith("{"),
            _reason(DeadLetterReason.NOT_JSON),
        ),
    ]
    for sig, required in _REQUIRED.items():
        for name in required:
            checks.append(
                (
                    (F.col("signal") == sig.value) & F.col(f"j.{name}").isNull(),
                    _reason(DeadLetterReason.MISSING_FIELD, name),
                )
            )
    checks += [
        (
            ~F.col("patient_id").rlike(PATIENT_ID_PATTERN),
            _reason(DeadLetterReason.BAD_PATIENT_ID),
        ),
        (
            F.col("raw_key").isNull() | (F.col("raw_key").cast("string") != F.col("patient_id")),
            _reason(DeadLetterReason.KEY_MISMATCH),
        ),
        (F.col("event_ms").isNull(), _reason(DeadLetterReason.WRONG_TYPE, "ts")),
    ]
    for name, (low, high) in POSSIBLE_RANGE.items():
        present = F.col(f"j.{name}").isNotNull()
        value = F.col(name)
        applies = is_hr if name == "bpm" else ~is_hr
        checks += [
            (applies & present & value.isNull(), _reason(DeadLetterReason.WRONG_TYPE, name)),
            (
                applies & value.isNotNull() & (F.isnan(value) | (value < low) | (value > high)),
                _reason(DeadLetterReason.OUT_OF_RANGE, name),
            ),
        ]
    checks.append(
        (
            ~is_hr & (F.col("diastolic") > F.col("systolic")),
            _reason(DeadLetterReason.OUT_OF_RANGE, "diastolic above systolic"),
        )
    )
    return _first(*checks)
