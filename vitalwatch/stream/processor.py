"""The ``transformWithState`` processor: Spark's keyed state around the pure ``PatientEvaluator``.

One call per patient per micro-batch. The patient's evaluator state is one JSON value in the
RocksDB state store; outputs are Kafka records (topic, key, value, headers) for the sink, alerts
to the alerts topic and late readings, with their original bytes, to the dead-letter topic.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

from pyspark.sql import Row
from pyspark.sql.streaming.stateful_processor import (
    StatefulProcessor,
    StatefulProcessorHandle,
    TimerValues,
)
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from vitalwatch.contracts.readings import (
    REASON_HEADER,
    SIGNAL_FIELDS,
    SOURCE_HEADERS,
    DeadLetterReason,
    Reading,
    Signal,
)
from vitalwatch.rules.evaluator import PatientEvaluator, PatientState
from vitalwatch.rules.kind import PatientContext, RuleKind

HEADERS_TYPE = ArrayType(
    StructType([StructField("key", StringType()), StructField("value", BinaryType())])
)
# Kafka sink columns, plus rule_id / alert_state / event_ms for metrics (dropped before the sink).
OUTPUT_SCHEMA = StructType(
    [
        StructField("topic", StringType()),
        StructField("key", BinaryType()),
        StructField("value", BinaryType()),
        StructField("headers", HEADERS_TYPE),
        StructField("rule_id", StringType()),
        StructField("alert_state", StringType()),
        StructField("event_ms", LongType()),
    ]
)
_STATE_SCHEMA = StructType([StructField("json", StringType())])


def deadletter_headers(reason: str, row: Any) -> list[tuple[str, bytes]]:
    source = (row.source_topic, row.source_partition, row.source_offset)
    return [(REASON_HEADER, reason.encode())] + [
        (name, str(value).encode()) for name, value in zip(SOURCE_HEADERS, source, strict=True)
    ]


def _patient(patient_id: str, row: Row) -> PatientContext:
    """The patient's roster entry, as joined to every one of its rows."""
    # A map column reaches the Row API as a list of (key, value) pairs.
    overrides = {k: v for k, v in dict(row.overrides or ()).items() if v is not None}
    return PatientContext(
        patient_id, bed=row.bed or "unknown", ward=row.ward or "unknown", overrides=overrides
    )


class RuleProcessor(StatefulProcessor):
    def __init__(
        self,
        rules: Sequence[RuleKind[Any]],
        allowed_lateness_ms: int,
        alerts_topic: str,
        deadletter_topic: str,
    ) -> None:
        self._rules = list(rules)
        self._allowed_lateness_ms = allowed_lateness_ms
        self._alerts_topic = alerts_topic
        self._deadletter_topic = deadletter_topic

    def init(self, handle: StatefulProcessorHandle) -> None:
        self._state = handle.getValueState("patient", _STATE_SCHEMA)
        self._evaluator = PatientEvaluator(self._rules, self._allowed_lateness_ms)

    def handleInputRows(
        self, key: Any, rows: Iterator[Row], timerValues: TimerValues
    ) -> Iterator[Row]:
        patient_id = key[0]
        stored = self._state.get() if self._state.exists() else None
        state = PatientState.from_json_obj(json.loads(stored[0])) if stored else PatientState()
        inputs = list(rows)
        readings = []
        for row in inputs:
            signal = Signal(row.signal)
            values = {
                f: getattr(row, f) for f in SIGNAL_FIELDS[signal] if getattr(row, f) is not None
            }
            readings.append(Reading(signal, row.event_ms, values))
        evaluation = self._evaluator.process(state, _patient(patient_id, inputs[0]), readings)
        self._state.update((json.dumps(state.to_json_obj(), separators=(",", ":")),))
        emitted_ms = int(time.time() * 1000)
        key_bytes = patient_id.encode()
        for alert in evaluation.alerts:
            yield Row(
                topic=self._alerts_topic,
                key=key_bytes,
                value=alert.to_json(emitted_ms),
                headers=None,
                rule_id=alert.rule_id,
                alert_state=alert.state.value,
                event_ms=alert.detected_ms,
            )
        for index in evaluation.late:
            row = inputs[index]
            yield Row(
                topic=self._deadletter_topic,
                key=row.raw_key,
                value=row.raw_value,
                headers=deadletter_headers(DeadLetterReason.LATE.value, row),
                rule_id=None,
                alert_state=None,
                event_ms=row.event_ms,
            )

    def close(self) -> None:
        pass
