"""Read the patient roster as a static DataFrame for the stream-static join.

Spark re-runs the static side of a stream-static join in every micro-batch, so an edit to the
roster file reaches the next batch without a restart, whole: rows appended, the file rewritten
longer or shorter, or replaced by a rename (the CSV is read whole, see ``read_roster``).
Override cells are checked at start-up: a cell that is not a finite number stops it, naming the
column, bed and ward (a typo must not silently leave a patient on the default limit, and a NaN
limit would never fire). A bad cell written later, while running, counts as empty: the rule's own
limit applies (before, Spark's ANSI cast failed the query in every batch until the cell was fixed),
and the patient's row says so in ``ROSTER_SPOILT``, which the query counts (the listener raises a
technical alarm).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from functools import reduce
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from vitalwatch.errors import ConfigError
from vitalwatch.roster import REQUIRED_COLUMNS, override_columns
from vitalwatch.rules.kind import RuleKind

# A roster row's flag: one of its override cells is not a finite number (counted as empty).
ROSTER_SPOILT = "roster_spoilt"


def read_roster(spark: SparkSession, path: Path, rules: Sequence[RuleKind[Any]]) -> DataFrame:
    if not path.is_file():
        raise ConfigError(
            f"roster {path} does not exist; set VITALWATCH_ROSTER to a CSV or Parquet file"
        )
    if path.suffix == ".parquet":
        table = spark.read.parquet(str(path))
    else:
        # multiLine: the file is read whole in every micro-batch. Spark lists the file once,
        # when this DataFrame is made, and its file index keeps that listing, length included,
        # for the life of the query. CSV's default line reader reads the file as a split of
        # that old length: a line starting after it is dropped, so of two rows appended only
        # the first was seen (tests/spark/test_roster_edits.py). The multi-line reader opens the
        # path and parses the stream to its end, whatever length was listed. (Parquet is read
        # correctly either way on Spark 4.2; the same test pins it.)
        table = spark.read.option("header", True).option("multiLine", True).csv(str(path))
    overrides = override_columns(table.columns, rules)
    _check_override_values(path, table, overrides)
    names = (
        F.array(*[F.lit(c) for c in overrides]) if overrides else F.array().cast("array<string>")
    )
    values = (
        F.array(*[_number(c) for c in overrides]) if overrides else F.array().cast("array<double>")
    )
    spoilt = reduce(operator.or_, [_spoilt(c) for c in overrides], F.lit(False))
    return table.select(
        *[F.col(c).cast("string").alias(c) for c in REQUIRED_COLUMNS],
        F.map_from_arrays(names, values).alias("overrides"),
        spoilt.alias(ROSTER_SPOILT),
    ).dropDuplicates(["patient_id"])


def _text(column: str) -> Column:
    return F.trim(F.col(f"`{column}`").cast("string"))


def _number(column: str) -> Column:
    """The cell's number, or null (the rule's own limit) when it is empty, not a number, NaN or
    infinite."""
    value = _text(column).try_cast("double")
    return F.when(~F.isnan(value) & (F.abs(value) != F.lit(float("inf"))), value)


def _spoilt(column: str) -> Column:
    """Written, but not a finite number."""
    return F.coalesce((_text(column) != "") & _number(column).isNull(), F.lit(False))


def _check_override_values(path: Path, table: DataFrame, overrides: Sequence[str]) -> None:
    for column in overrides:
        bad = table.where(_spoilt(column))
        first = bad.select("bed", "ward", _text(column).alias("value")).first()
        if first is not None:
            raise ConfigError(
                f"roster {path}: column {column!r} has {bad.count()} cell(s) that are not a "
                f"finite number, the first {first['value']!r} (bed {first['bed']}, ward "
                f"{first['ward']}); write a number, or leave the cell empty for the rule's own "
                "limit"
            )
