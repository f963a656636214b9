"""Parse and validate Kafka records into readings, in Spark SQL expressions (they run in the JVM).

One function for both modes: it takes a DataFrame with the Kafka source's columns (``key``,
``value``, ``topic``, ``partition``, ``offset``, ``timestamp``), streaming or batch, and returns
one row per record with ``reason`` null for a valid reading or the dead-letter reason otherwise.
The first failing check gives the reason, in the order: encoding, JSON, key, fields, ranges.

JSON is read strictly (no single quotes, no NaN or Infinity literals, one object and nothing
after it: text after the closing brace, or a second object, is ``not_json`` instead of being
ignored with the readings it holds). Fields are read as text, so a number sent as a JSON string
is read as that number; of duplicate keys the last one counts, as in most JSON parsers.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from vitalwatch.contracts.readings import (
    ACVPU_FIELD,
    ACVPU_LEVELS,
    EPOCH_MS_PATTERN,
    EVENT_TIME_RANGE_MS,
    ISO_TIME_PATTERN,
    JSON_NUMBER_PATTERN,
    ON_OXYGEN_FIELD,
    PATIENT_ID_PATTERN,
    POSSIBLE_RANGE,
    REQUIRED_FIELDS,
    SIGNAL_FIELDS,
    DeadLetterReason,
    Signal,
)
from vitalwatch.rules.kernel import VALUE_FIELDS
from vitalwatch.settings import TopicSettings

# Every field is read as text so that a wrong JSON type is told apart from a missing field.
_FIELDS = ("patient_id", "ts", *VALUE_FIELDS, "device_id")
_JSON_SCHEMA = StructType(
    [StructField(name, StringType()) for name in _FIELDS] + [StructField("_corrupt", StringType())]
)
_JSON_OPTIONS = {
    "columnNameOfCorruptRecord": "_corrupt",
    "allowSingleQuotes": "false",
    "allowNonNumericNumbers": "false",
}
# from_json reads the first value and ignores what follows it, so the text must be one object:
# a brace first and last (JSON whitespace around), and where a "}" is followed by "," or "{"
# (a second object may follow the first), one value when read as a JSON array's content. Only
# such texts are parsed twice, not every reading. Checked with string functions, and the regex
# only where a "}" comes before the last character: as two regexes on every record they were
# about half of the regex matching at run time (JFR at 10,000 patients: 6.0% of the JVM's
# samples in regexes run by the query before, 3.3% after).
_JSON_WHITESPACE = " \t\n\r"
_MAYBE_MORE_OBJECTS = r"\}[ \t\n\r]*[,{]"
# The signal whose readings carry each numeric field (a field of another signal is ignored).
_OWNER = {name: signal for signal, names in SIGNAL_FIELDS.items() for name in names}

READING_COLUMNS = ("patient_id", "signal", "event_ms", *VALUE_FIELDS, "device_id")
# Where the record came from; ``source_timestamp``: the Kafka record's time (epoch ms, null when
# the records have none, as in a backtest over files).
SOURCE_COLUMNS = (
    "raw_key", "raw_value", "source_topic", "source_partition", "source_offset", "source_timestamp",
)  # fmt: skip


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
    signal = F.lit(None).cast("string")
    for each in reversed(Signal):
        signal = F.when(F.col("topic") == getattr(topics, each.value), each.value).otherwise(signal)
    text = F.when(F.is_valid_utf8("value"), F.col("value").cast("string"))
    df = records.select(
        F.col("key").alias("raw_key"),
        F.col("value").alias("raw_value"),
        F.col("topic").alias("source_topic"),
        F.col("partition").alias("source_partition"),
        F.col("offset").alias("source_offset"),
        F.unix_millis(F.col("timestamp")).alias("source_timestamp"),
        signal.alias("signal"),
        text.alias("text"),
        F.from_json(text, _JSON_SCHEMA, _JSON_OPTIONS).alias("j"),
    )
    ts_text = F.col("j.ts")
    event_ms = F.when(ts_text.rlike(EPOCH_MS_PATTERN), ts_text.cast("long")).when(
        ts_text.rlike(ISO_TIME_PATTERN), F.unix_millis(F.try_to_timestamp(ts_text))
    )
    numbers = {
        name: F.when(
            F.col(f"j.{name}").rlike(JSON_NUMBER_PATTERN), F.col(f"j.{name}").try_cast("double")
        )
        for name in POSSIBLE_RANGE
    }
    # Computed only when absent: a mean that is there but not a number is a wrong type.
    mean = F.when(F.col("j.mean").isNotNull(), numbers["mean"]).otherwise(
        (numbers["systolic"] + 2 * numbers["diastolic"]) / 3
    )
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
        *[numbers[name].alias(name) for name in ("spo2", "rate", "celsius")],
        # A JSON boolean read as text is "true" or "false"; anything else is not a flag.
        F.when(F.col(f"j.{ON_OXYGEN_FIELD}") == "true", 1.0)
        .when(F.col(f"j.{ON_OXYGEN_FIELD}") == "false", 0.0)
        .alias(ON_OXYGEN_FIELD),
        (F.array_position(F.array(*map(F.lit, ACVPU_LEVELS)), F.col(f"j.{ACVPU_FIELD}")) - 1)
        .cast("double")
        .alias(ACVPU_FIELD),
        F.col("j.device_id").alias("device_id"),
    )
    return df.select(*READING_COLUMNS, *SOURCE_COLUMNS, _validation(df).alias("reason"))


def _one_json_value(text: Column) -> Column:
    values = F.json_array_length(F.concat(F.lit("["), text, F.lit("]")))
    return F.coalesce(values == 1, F.lit(False))


def _not_one_object(text: Column) -> Column:
    trimmed = F.btrim(text, F.lit(_JSON_WHITESPACE))
    braced = trimmed.startswith("{") & trimmed.endswith("}")
    brace_inside = F.instr(trimmed, "}") < F.length(trimmed)
    return ~braced | (brace_inside & text.rlike(_MAYBE_MORE_OBJECTS) & ~_one_json_value(text))


def _validation(df: DataFrame) -> Column:
    def of(signal: Signal) -> Column:
        return F.col("signal") == signal.value

    checks: list[tuple[Column, Column]] = [
        (F.col("text").isNull(), _reason(DeadLetterReason.NOT_UTF8)),
        (
            F.col("corrupt").isNotNull() | F.col("j").isNull() | _not_one_object(F.col("text")),
            _reason(DeadLetterReason.NOT_JSON),
        ),
    ]
    for sig, required in REQUIRED_FIELDS.items():
        for name in ("patient_id", "ts", *required):
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
        (
            ~F.col("event_ms").between(*EVENT_TIME_RANGE_MS),
            _reason(DeadLetterReason.OUT_OF_RANGE, "ts"),
        ),
    ]
    for name, (low, high) in POSSIBLE_RANGE.items():
        present = F.col(f"j.{name}").isNotNull()
        value = F.col(name)
        applies = of(_OWNER[name])
        checks += [
            (applies & present & value.isNull(), _reason(DeadLetterReason.WRONG_TYPE, name)),
            (
                applies & value.isNotNull() & ((value < low) | (value > high)),
                _reason(DeadLetterReason.OUT_OF_RANGE, name),
            ),
        ]
    flag = F.col(f"j.{ON_OXYGEN_FIELD}")
    checks += [
        (
            of(Signal.BLOOD_PRESSURE) & (F.col("diastolic") > F.col("systolic")),
            _reason(DeadLetterReason.OUT_OF_RANGE, "diastolic above systolic"),
        ),
        (
            of(Signal.SPO2) & flag.isNotNull() & F.col(ON_OXYGEN_FIELD).isNull(),
            _reason(DeadLetterReason.WRONG_TYPE, ON_OXYGEN_FIELD),
        ),
        (
            of(Signal.CONSCIOUSNESS) & (F.col(ACVPU_FIELD) < 0),
            _reason(DeadLetterReason.OUT_OF_RANGE, ACVPU_FIELD),
        ),
    ]
    return _first(*checks)
