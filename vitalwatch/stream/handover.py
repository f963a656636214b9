"""How a micro-batch's readings reach the rule processor in a Python worker: Arrow batches,
cut into one pandas frame per state bucket by slicing, not row by row.

PySpark 4.2's ``transformWithStateInPandas`` reads the Arrow batches the JVM sends (rows of
several grouping keys packed together, each key's rows in a run) and regroups them by key in
Python, row by row: every row becomes a named tuple (``DataFrame.itertuples``), its key a tuple of
Python values, and each key's tuples a new DataFrame (``pd.DataFrame(rows)``). The processor
then takes the columns back out as arrays. ``load_stream`` here gives the processor the same
(key, frames) groups, with the same values, by finding where the key changes in each batch and
slicing the converted batch there. The grouping contract is PySpark's: a key's rows come in one
run, and a key's frames hold at most ``arrow_max_records_per_batch`` rows (and its byte limit).
A run that spans Arrow batches is cut there too (PySpark's rebuilt frames join it): its frames
follow each other in the key's group, which the processor joins.

Upstream refactors this regrouping into ``worker.py`` (SPARK-57400, not in 4.2.0), so the
replacement is installed only for the PySpark it was written against (``install``, which the
processor calls when a Python worker imports it); ``tests/unit/stream/test_handover.py``
compares its groups with PySpark's own over generated batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyspark
from pyspark.sql.conversion import ArrowBatchTransformer
from pyspark.sql.pandas.serializers import (
    ArrowStreamPandasSerializer,
    TransformWithStateInPandasSerializer,
)

PYSPARK_VERSION = "4.2.0"  # the version whose serializer ``load_stream`` replaces
_original_load_stream = TransformWithStateInPandasSerializer.load_stream


def install() -> bool:
    """Replace PySpark's row-by-row regrouping in this process (once); False if this PySpark
    is not the one it was written against (PySpark's own then stays)."""
    if pyspark.__version__ != PYSPARK_VERSION:
        return False
    TransformWithStateInPandasSerializer.load_stream = load_stream  # type: ignore[method-assign]
    return True


def load_stream(self: TransformWithStateInPandasSerializer, stream: Any) -> Iterator[Any]:
    """``TransformWithStateInPandasSerializer.load_stream``: (mode, key, frames) per key, then
    the timer and completion markers."""
    from pyspark.sql.streaming.stateful_processor_util import TransformWithStateInPandasFuncMode

    batches = super(ArrowStreamPandasSerializer, self).load_stream(stream)
    for key, frames in groupby(_frames_by_key(self, batches), key=lambda item: item[0]):
        yield (TransformWithStateInPandasFuncMode.PROCESS_DATA, key, frames)
    yield (TransformWithStateInPandasFuncMode.PROCESS_TIMER, None, None)
    yield (TransformWithStateInPandasFuncMode.COMPLETE, None, None)


def _frames_by_key(
    self: TransformWithStateInPandasSerializer, batches: Iterator[pa.RecordBatch]
) -> Iterator[tuple[tuple[Any, ...], pd.DataFrame]]:
    offsets: list[int] = list(self.key_offsets or ())
    for batch in batches:
        self._update_batch_size_stats(batch)
        if batch.num_rows == 0:
            continue
        columns = ArrowBatchTransformer.to_pandas(
            batch,
            timezone=self._timezone,
            schema=self._input_type,
            struct_in_pandas=self._struct_in_pandas,
            ndarray_as_list=self._ndarray_as_list,
            prefer_int_ext_dtype=self._prefer_int_ext_dtype,
            df_for_struct=self._df_for_struct,
        )
        frame = pd.concat(columns, axis=1)
        keys = [frame.iloc[:, offset] for offset in offsets]
        starts = _runs(keys)
        ends = [*starts[1:], len(frame)]
        step = _rows_per_frame(self)  # the batch's size statistics are updated above
        for start, end in zip(starts, ends, strict=True):
            key = tuple(column.iloc[start : start + 1].tolist()[0] for column in keys)
            for first in range(start, end, step):
                yield key, frame.iloc[first : min(end, first + step)].reset_index(drop=True)


def _runs(keys: list[pd.Series]) -> list[int]:
    """Where each run of equal keys starts."""
    size = len(keys[0])
    changed = np.zeros(size, dtype=bool)
    changed[0] = True
    for column in keys:
        values = column.to_numpy()
        changed[1:] |= values[1:] != values[:-1]
    return np.flatnonzero(changed).tolist()


def _rows_per_frame(self: TransformWithStateInPandasSerializer) -> int:
    """PySpark's limits on a frame: ``arrow_max_records_per_batch`` rows and, when set,
    ``arrow_max_bytes_per_batch`` at the average row size seen so far."""
    rows = int(self.arrow_max_records_per_batch)
    if self.arrow_max_bytes_per_batch != 2**31 - 1 and self.average_arrow_row_size > 0:
        rows = min(rows, max(1, int(self.arrow_max_bytes_per_batch // self.average_arrow_row_size)))
    return rows
