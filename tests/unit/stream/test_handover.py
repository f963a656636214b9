"""The hand-over's regrouping by slicing gives the processor the groups PySpark's own row-by-row
regrouping gives: the same keys (as the same Python values), in the same order, and the same
rows in each, in frames of at most ``arrow_max_records_per_batch`` rows, whatever the Arrow
batch boundaries. (PySpark's frames also join a key's rows across Arrow batches; these are cut
there too, which the processor, joining a key's frames, does not see.)"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyspark
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql.pandas.serializers import TransformWithStateInPandasSerializer

from vitalwatch.stream import handover

pytestmark = pytest.mark.skipif(
    pyspark.__version__ != handover.PYSPARK_VERSION,
    reason="the hand-over replaces the regrouping of one PySpark version only",
)


def serializer(max_records: int) -> TransformWithStateInPandasSerializer:
    ser = TransformWithStateInPandasSerializer(
        timezone="UTC", safecheck=False, assign_cols_by_name=True, prefer_int_ext_dtype=False,
        arrow_max_records_per_batch=max_records, arrow_max_bytes_per_batch=2**31 - 1,
        int_to_decimal_coercion_enabled=False,
    )  # fmt: skip
    ser.key_offsets = [0]
    return ser


def stream(runs: list[tuple[int, int]], batch_rows: int) -> bytes:
    """Rows of the processor's input shape: runs of (bucket, rows), cut into Arrow batches."""
    buckets = np.concatenate([np.full(n, b, np.int32) for b, n in runs])
    size = len(buckets)
    rng = np.random.default_rng(size)
    table = pa.RecordBatch.from_pydict(
        {
            "state_bucket": pa.array(buckets),
            "patient_id": pa.array([f"P-{i % 7}" for i in range(size)]),
            "signal": pa.array(rng.integers(0, 4, size).astype(np.int8)),
            "event_ms": pa.array(rng.integers(0, 10**12, size)),
            "bpm": pa.array(np.where(rng.random(size) < 0.5, rng.normal(80, 5, size), np.nan)),
            "context": pa.array([None if i % 3 else '{"bed":"1"}' for i in range(size)]),
            "reason": pa.array([None if i % 5 else "bad_json" for i in range(size)], pa.string()),
        }
    )
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for start in range(0, size, batch_rows):
            writer.write_batch(table.slice(start, batch_rows))
    return sink.getvalue()


def groups(load: Any, ser: TransformWithStateInPandasSerializer, data: bytes) -> list[Any]:
    limit = ser.arrow_max_records_per_batch
    out = []
    for mode, key, frames in load(ser, io.BytesIO(data)):
        if frames is None:
            out.append((mode, key, None))
            continue
        chunks = [frame for _, frame in frames]
        rows = pd.concat(chunks, ignore_index=True)
        values = {c: rows[c].astype(object).where(rows[c].notna(), None).tolist() for c in rows}
        assert all(0 < len(chunk) <= limit for chunk in chunks)
        out.append((mode, key, [type(k) for k in key], values))
    return out


@settings(max_examples=60, deadline=None)
@given(
    runs=st.lists(st.tuples(st.integers(0, 15), st.integers(1, 40)), min_size=1, max_size=8).map(
        lambda runs: [r for i, r in enumerate(runs) if i == 0 or r[0] != runs[i - 1][0]]
    ),
    batch_rows=st.integers(1, 50),
    max_records=st.integers(1, 60),
)
def test_the_same_groups_as_pysparks_own(
    runs: list[tuple[int, int]], batch_rows: int, max_records: int
) -> None:
    data = stream(runs, batch_rows)
    ours = groups(handover.load_stream, serializer(max_records), data)
    theirs = groups(handover._original_load_stream, serializer(max_records), data)
    assert ours == theirs


def test_install_replaces_the_load_of_this_pyspark_only(monkeypatch: pytest.MonkeyPatch) -> None:
    original = handover._original_load_stream
    monkeypatch.setattr(TransformWithStateInPandasSerializer, "load_stream", original)
    monkeypatch.setattr(handover.pyspark, "__version__", "4.3.0")
    assert handover.install() is False
    assert TransformWithStateInPandasSerializer.load_stream is original
    monkeypatch.setattr(handover.pyspark, "__version__", handover.PYSPARK_VERSION)
    assert handover.install() is True
    assert TransformWithStateInPandasSerializer.load_stream is handover.load_stream
