"""Input rows of the stream processor, packed as the query packs them (``to_json`` of the
reading's columns: nulls left out, binary as base64)."""

from __future__ import annotations

import base64
import json

from pyspark.sql import Row

from vitalwatch.stream.processor import INPUT_COLUMNS


def heart_rate_row(
    patient: str,
    ts: int,
    bpm: float,
    raw_value: bytes = b"{}",
    bucket: int = 0,
    published_ms: int | None = None,
) -> Row:
    """``published_ms``: the Kafka record's timestamp (left out, as ``to_json`` leaves a null)."""
    fields = {
        "patient_id": patient, "signal": "heart_rate", "event_ms": ts, "bpm": bpm,
        "raw_key": base64.b64encode(patient.encode()).decode(),
        "raw_value": base64.b64encode(raw_value).decode(),
        "source_topic": "hr", "source_partition": 0, "source_offset": 0,
    }  # fmt: skip
    if published_ms is not None:
        fields["source_timestamp"] = published_ms
    return Row(**dict(zip(INPUT_COLUMNS, (bucket, json.dumps(fields)), strict=True)))
