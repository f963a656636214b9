"""Capacity of the query at live-sized micro-batches: how many readings per second it sustains.

    python -m bench.capacity [--patients 10000] [--seconds 60] [--runs 3]

A backlog of `--seconds` of a ward (heart rate at 1 Hz, a cuff every minute, no episodes) is
drained with `maxOffsetsPerTrigger` set to one second of it, so every micro-batch looks like a
live one at that size (one heart-rate reading per patient), but back to back, without waiting
for the trigger. Per run (a fresh checkpoint, the same Spark session): the median batch duration
and the readings per second of batch time, over the second half of the batches (the first half
warms the JVM's JIT up). Readings are counted from the Kafka offsets each batch read, not from
`numInputRows` (which counts a record once per scan of the source in the plan). Live at 1 Hz, a
query keeps up with as many patients as it sustains readings per second (less the cuff's 1/60).
Prints a table and writes bench/CAPACITY.md.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pyspark.sql.streaming import StreamingQuery

from bench.harness import (
    REPO,
    batch_time_rate,
    bench_settings,
    drain,
    earlier_runs,
    local_broker,
    machine,
    one_second_of_ward,
    publish_backlog,
    records_read,
    spread,
)
from vitalwatch.logs import configure_logging
from vitalwatch.rules.loader import load_rules
from vitalwatch.settings import Settings
from vitalwatch.stream.session import start_spark


def one_run(
    spark: Any,
    settings: Settings,
    backlog: int,
    start: Callable[[Any, Settings], StreamingQuery] | None = None,
) -> dict[str, float]:
    """One drain of the backlog by the product's query (or the one ``start`` starts)."""
    batches = drain(spark, settings, backlog, start)
    steady = batches[len(batches) // 2 :]
    durations = [p["durationMs"]["triggerExecution"] / 1000 for p in steady]
    return {
        "batches": len(steady),
        "readings_per_batch": statistics.median(records_read(p) for p in steady),
        "batch_s": statistics.median(durations),
        "rate": batch_time_rate(steady),
        **{
            f"{phase}_s": statistics.median(p["durationMs"].get(phase, 0) / 1000 for p in steady)
            for phase in PHASES
        },
    }


# Where a batch's time goes, from Spark's progress (``durationMs``): the offsets and the plan
# (driver), the batch itself (``addBatch``: Kafka, parse, shuffle, the Python workers, the state
# store's commit, the sink), and the offset log's and commit log's writes (checkpoint).
PHASES = ("latestOffset", "queryPlanning", "addBatch", "walCommit", "commitOffsets")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "CAPACITY.md")
    args = parser.parse_args()
    configure_logging("console", "warning")
    workdir = Path(tempfile.mkdtemp(prefix="vitalwatch-capacity-"))
    try:
        with local_broker(workdir) as broker:
            settings = bench_settings(broker, workdir, spark={"starting_offsets": "earliest"})
            backlog = publish_backlog(settings, args.patients, args.seconds)
            settings.spark.max_offsets_per_trigger = one_second_of_ward(args.patients)
            spark = start_spark(settings)
            runs = []
            for i in range(args.runs):
                run = one_run(spark, settings, backlog)
                runs.append(run)
                print(f"run {i + 1}: " + ", ".join(f"{k} {v:,.3g}" for k, v in run.items()),
                      flush=True)  # fmt: skip
            spark.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rules = [r.spec.id for r in load_rules(REPO / "rules")]
    table = [
        ("readings per batch", spread([r["readings_per_batch"] for r in runs], ",.0f")),
        ("batch duration (median)", spread([r["batch_s"] for r in runs], ".2f") + " s"),
        ("sustained", spread([r["rate"] for r in runs], ",.0f") + " readings/s of batch time"),
        *[
            (f"of a batch: {phase}", spread([r[f"{phase}_s"] for r in runs], ".3f") + " s")
            for phase in PHASES
        ],
    ]
    lines = "\n".join(f"| {name} | {value} |" for name, value in table)
    report = (
        f"# Capacity at live-sized batches\n\n`python -m bench.capacity --patients {args.patients}"
        f" --seconds {args.seconds} --runs {args.runs}` on "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n\nMachine: {machine()}.\n"
        f"Rules ({len(rules)}): {', '.join(rules)}. Medians over runs, with their range; "
        f"second half of each run's batches.\n\n| figure | value |\n|---|---|\n{lines}\n"
    )
    print(report)
    args.out.write_text(report + earlier_runs(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
