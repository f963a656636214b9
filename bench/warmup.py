"""The driver JVM warmed up before anything is timed, and what its cold start costs.

On 2 cores the JVM's JIT compiler runs for minutes after the session starts. Measured at 10,000
patients (the query draining 1 s of the ward per micro-batch, back to back; its CPU per thread
from /proc every 20 s, 2026-12-06, bench/CAPACITY.md): the compiler threads used 13.5 s of CPU
in the first 20 s, 12.5 in the next, 5.9 in the third, then 4.3, 3.5, 2.5 and 1.9 s by the
third minute, of a JVM using 26 s then 11 s per 20 s. A scenario run straight after start-up
measures that warm-up as much as the job. So the bench first drains ``WARMUP_PATIENTS`` patients'
ward for ``--warmup-seconds`` of history on topics of its own, and reports its first and last
thirds apart: what a freshly started service sustains (cold), and the steady state (warm) that
the scenarios after it then measure.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.harness import (
    ProcessMeter,
    batch_end,
    batch_time_rate,
    bench_settings,
    drain,
    one_second_of_ward,
    publish_backlog,
)
from bench.scenario import DRIVER, WORKERS
from vitalwatch.infra.broker import LocalBroker

WARMUP_PATIENTS = 10_000


def warm_up(spark: Any, broker: LocalBroker, workdir: Path, seconds: int) -> dict[str, float]:
    """Drain ``seconds`` of a ``WARMUP_PATIENTS`` ward, 1 s of it per micro-batch, back to back;
    the query's start-up, the rates of its first and last thirds of batches (readings per second
    of batch time), and the driver's and workers' CPU over it."""
    settings = bench_settings(broker, workdir, spark={"starting_offsets": "earliest"})
    backlog = publish_backlog(settings, WARMUP_PATIENTS, seconds)
    settings.spark.max_offsets_per_trigger = one_second_of_ward(WARMUP_PATIENTS)
    settings.spark.trigger = 0  # behind, as a backlog is drained: each batch right after the last
    started = time.time()
    with ProcessMeter({"driver": DRIVER, "workers": WORKERS}) as meter:
        batches = drain(spark, settings, backlog)
    third = max(1, len(batches) // 3)
    return {
        "patients": WARMUP_PATIENTS,
        "seconds": seconds,
        "batches": len(batches),
        "first_batch_s": batch_end(batches[0]) - started,
        "cold_rate": batch_time_rate(batches[:third]),
        "warm_rate": batch_time_rate(batches[-third:]),
        "wall_s": batch_end(batches[-1]) - started,
        "driver_cpu_s": meter.cpu_s["driver"],
        "workers_cpu_s": meter.cpu_s["workers"],
    }


def warmup_rows(figures: dict[str, float], session_s: float) -> list[tuple[str, str]]:
    third = round(figures["batches"] / 3)
    return [
        (f"**start-up and warm-up of the Spark job** ({figures['patients']:,} patients, "
         f"{figures['seconds']:.0f} s of history, 1 s of it per micro-batch, back to back)",
         f"{figures['batches']:.0f} batches in {figures['wall_s']:.0f} s"),
        ("Spark session start (driver JVM, connector, Python workers not yet started)",
         f"{session_s:.1f} s"),
        ("query start to its first batch done (cold: planning, code generation, the Python "
         "workers and their rule kernels loaded)", f"{figures['first_batch_s']:.1f} s"),
        (f"sustained, first {third} batches (cold JVM)",
         f"{figures['cold_rate']:,.0f} readings/s of batch time"),
        (f"sustained, last {third} batches (warm)",
         f"{figures['warm_rate']:,.0f} readings/s of batch time"),
        ("driver JVM / Python workers CPU over the warm-up",
         f"{figures['driver_cpu_s']:,.0f} / {figures['workers_cpu_s']:,.0f} s"),
    ]  # fmt: skip
