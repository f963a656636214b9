"""Read the patient roster as a static DataFrame for the stream-static join.

Spark re-runs the static side of a stream-static join in every micro-batch, so an edit to the
roster file reaches the next batch without a restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from vitalwatch.errors import ConfigError
from vitalwatch.roster import REQUIRED_COLUMNS, override_columns
from vitalwatch.rules.kind import RuleKind


def read_roster(spark: SparkSession, path: Path, rules: Sequence[RuleKind[Any]]) -> DataFrame:
    if not path.is_file():
        raise ConfigError(
            f"roster {path} does not exist; set VITALWATCH_ROSTER to a CSV or Parquet file"
        )
    if path.suffix == ".parquet":
        table = spark.read.parquet(str(path))
    else:
        table = spark.read.option("header", True).csv(str(path))
    overrides = override_columns(table.columns, rules)
    names = (
        F.array(*[F.lit(c) for c in overrides]) if overrides else F.array().cast("array<string>")
    )
    values = (
        F.array(*[F.col(f"`{c}`").cast("double") for c in overrides])
        if overrides
        else F.array().cast("array<double>")
    )
    return table.select(
        *[F.col(c).cast("string").alias(c) for c in REQUIRED_COLUMNS],
        F.map_from_arrays(names, values).alias("overrides"),
    ).dropDuplicates(["patient_id"])
