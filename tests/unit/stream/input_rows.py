"""Input rows of the stream processor, as the query selects them (``INPUT_COLUMNS``), and a
``TwsTester`` that hands them over as pandas DataFrames (``transformWithStateInPandas``) and
gives the output back as rows."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

import pandas as pd
from pyspark.sql.streaming.stateful_processor import StatefulProcessor
from pyspark.sql.streaming.tws_tester import TwsTester

from vitalwatch.contracts.readings import Signal, mean_arterial_pressure
from vitalwatch.rules.kernel import SIGNAL_INDEX, VALUE_FIELDS
from vitalwatch.stream.processor import INPUT_COLUMNS


def heart_rate_row(
    patient: str,
    ts: int,
    bpm: float,
    raw_value: bytes = b"{}",
    bucket: int = 0,
    published_ms: int | None = None,
) -> dict[str, Any]:
    """``published_ms``: the Kafka record's timestamp (None, as in a backtest over files)."""
    return _reading_row(
        patient, Signal.HEART_RATE, ts, {"bpm": bpm}, raw_value, "hr", bucket, published_ms
    )


def blood_pressure_row(
    patient: str,
    ts: int,
    systolic: float,
    diastolic: float,
    mean: float | None = None,
    raw_value: bytes = b"{}",
    bucket: int = 0,
    published_ms: int | None = None,
) -> dict[str, Any]:
    """A cuff reading as the parser gives it: ``mean`` None (absent from the message) becomes
    (systolic + 2 x diastolic) / 3, as ``stream.parse`` computes it."""
    values = {
        "systolic": systolic,
        "diastolic": diastolic,
        "mean": mean_arterial_pressure(systolic, diastolic) if mean is None else mean,
    }
    return _reading_row(
        patient, Signal.BLOOD_PRESSURE, ts, values, raw_value, "bp", bucket, published_ms
    )


def observation_row(
    patient: str, signal: Signal, ts: int, values: dict[str, float], raw_value: bytes = b"{}"
) -> dict[str, Any]:
    """A reading of any signal, its values as the parser gives them (``VALUE_FIELDS``)."""
    return _reading_row(patient, signal, ts, values, raw_value, signal.value, 0, None)


def _reading_row(
    patient: str,
    signal: Signal,
    ts: int,
    reading_values: dict[str, float],
    raw_value: bytes,
    topic: str,
    bucket: int,
    published_ms: int | None,
) -> dict[str, Any]:
    source = {
        "raw_key": base64.b64encode(patient.encode()).decode(),
        "raw_value": base64.b64encode(raw_value).decode(),
        "source_topic": topic, "source_partition": 0, "source_offset": 0,
    }  # fmt: skip
    values = dict.fromkeys(VALUE_FIELDS, None) | reading_values
    return {
        "state_bucket": bucket, "patient_id": patient,
        "signal": SIGNAL_INDEX[signal], "event_ms": ts, **values,
        "source_timestamp": published_ms, "context": None, "source": json.dumps(source),
        "reason": None,
    }  # fmt: skip


def input_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Rows as Spark's Arrow hand-over gives them: longs with nulls as float64, like it."""
    frame = pd.DataFrame(list(rows), columns=list(INPUT_COLUMNS))
    for column in ("event_ms", "source_timestamp", *VALUE_FIELDS):
        frame[column] = frame[column].astype("float64")
    frame["signal"] = frame["signal"].astype("int8")
    return frame


def output_rows(output: pd.DataFrame | list[Any]) -> list[Any]:
    """The processor's output (a frame, or the frames it yielded) as rows (attribute access,
    like Spark's ``Row``)."""
    frames = [output] if isinstance(output, pd.DataFrame) else output
    return [row for frame in frames for row in frame.itertuples(index=False)]


class PandasTester:
    """PySpark's in-memory ``TwsTester`` in pandas mode, taking and giving rows."""

    def __init__(self, processor: StatefulProcessor, timeMode: str = "None") -> None:
        self.tester = TwsTester(processor, timeMode=timeMode)
        self.processor = processor
        self.handle = self.tester.handle

    def test(self, key: Any, rows: list[dict[str, Any]]) -> list[Any]:
        return output_rows(self.tester.testInPandas(key, input_frame(rows)))

    def setProcessingTime(self, ms: int) -> list[Any]:
        return output_rows(self.tester.setProcessingTime(ms))

    def peekValueState(self, name: str, key: Any) -> tuple[Any, ...] | None:
        return self.tester.peekValueState(name, key)

    def updateValueState(self, name: str, key: Any, value: tuple[Any, ...]) -> None:
        self.tester.updateValueState(name, key, value)
