"""Event-to-alert latency and sustained rate of the live query, at ward-to-hospital sizes.

    python -m bench.latency [--patients 1000 10000] [--runs 3] [--seconds 240] [--lateness MS]

Per size and run, on its own broker topics and a fresh checkpoint: the streaming query runs the
full default rule set (in this process's Spark, `local[*]`); a publisher process sends every
patient's heart rate at 1 Hz and blood pressure every minute, in real time, with 10 % of the
patients becoming tachycardic at staggered times in the second half of the run (the first half
warms the JVM up: on 2 cores its JIT compiles Spark's code for minutes, taking up to half the
CPU); a consumer of the alerts topic records, for each tachycardia alert, its arrival minus the
event time of the reading that decided it (so the figure includes the allowed lateness, the
trigger, the batch and Kafka both ways - but not the notifier's grouping). Also, over the
second half: batch durations, the rate the query sustained, memory of the driver JVM and the
Python workers, the machine's CPU. Prints a table and writes bench/LATENCY.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer

from bench.harness import (
    REPO,
    bench_settings,
    cpu_busy,
    earlier_runs,
    local_broker,
    machine,
    quantile,
    records_read,
    rss_mib,
    spread,
)
from vitalwatch.kafka_clients import client_config, ensure_topics
from vitalwatch.logs import configure_logging
from vitalwatch.rules.loader import load_rules
from vitalwatch.settings import Settings
from vitalwatch.simulate.messages import publish
from vitalwatch.simulate.synthetic import Episode, SyntheticWard
from vitalwatch.stream.job import start_query
from vitalwatch.stream.session import start_spark

TACHYCARDIA = "tachycardia-sustained"


# The second of the 30 that an episode starts in, spread evenly over them. Until 2026-12-07 it
# was ``(patient * 7919) % 30`` over patients 1, 11, 21, ...: a step of 10 patients is a step of
# 20 seconds modulo 30, so every episode started at one of three seconds, and a 10,000-patient
# ward sent ~333 notifications to one webhook at once, three times (bench/LATENCY.md).
_SPREAD_S = 30


def ward(patients: int, seconds: float, start_ms: int) -> SyntheticWard:
    """One patient in ten tachycardic from a second of the second half's first 30, as many
    starting in each second."""
    episodes = tuple(
        Episode("tachycardia", patient=p, start_s=seconds / 2 + n % _SPREAD_S, duration_s=seconds)
        for n, p in enumerate(range(1, patients + 1, 10))
    )
    return SyntheticWard(patients=patients, duration_s=seconds, start_ms=start_ms,
                         bp_interval_s=60, episodes=episodes, seed=11)  # fmt: skip


def publish_ward(settings_json: str, patients: int, seconds: float, out: Any) -> None:
    """A publisher process: ``ward`` in real time; puts (readings sent, seconds behind schedule
    at the end) on ``out``.

    The readings' event times start here, as the publisher's schedule does: stamped from a time
    taken before the process was spawned, every reading went out ~1-2 s after its event time
    (the spawned interpreter's start-up and imports, longer on a loaded machine), which every
    latency then included, differing from run to run."""
    settings = Settings.model_validate_json(settings_json)
    started = time.monotonic()
    start_ms = int(time.time() * 1000)
    count = publish(ward(patients, seconds, start_ms).messages(), settings, speed=1.0)
    out.put((count, time.monotonic() - started - seconds))


class AlertClock:
    """Consumes the alerts topic; latency of each tachycardia firing from its deciding reading."""

    def __init__(self, settings: Settings) -> None:
        self.latencies: list[float] = []
        self._stop = threading.Event()
        config = client_config(settings, **{"group.id": f"bench-{uuid.uuid4().hex}",
                                            "auto.offset.reset": "earliest"})  # fmt: skip
        self._consumer = Consumer(config)
        self._consumer.subscribe([settings.topics.alerts])
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for message in self._consumer.consume(500, timeout=0.2):
                if message.error():
                    continue
                received = time.time()
                alert = json.loads(message.value())
                if alert["rule_id"] == TACHYCARDIA and alert["state"] == "firing":
                    self.latencies.append(received - alert["detected_ms"] / 1000)
        self._consumer.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def one_run(spark: Any, settings: Settings, patients: int, seconds: float) -> dict[str, float]:
    ensure_topics(settings)
    shutil.rmtree(settings.checkpoint_dir, ignore_errors=True)
    query = start_query(spark, load_rules(settings.rules.directory), settings)
    while not query.recentProgress:  # the first (empty) batch: the query is running
        time.sleep(0.2)
    clock = AlertClock(settings)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    busy0, total0 = cpu_busy()
    publisher = context.Process(
        target=publish_ward, args=(settings.model_dump_json(), patients, seconds, results)
    )
    publisher.start()
    memory: list[tuple[float, float]] = []
    while publisher.is_alive():
        time.sleep(5)
        memory.append((rss_mib("org.apache.spark.deploy.SparkSubmit"), rss_mib("pyspark.daemon")))
    sent, publisher_lag_s = results.get(timeout=30)
    busy1, total1 = cpu_busy()
    expected = len(range(1, patients + 1, 10))
    deadline = time.time() + 60
    while len(clock.latencies) < expected and time.time() < deadline:
        time.sleep(0.5)
    progress = [p for p in query.recentProgress if records_read(p) > 0]
    query.stop()
    clock.stop()
    steady = progress[len(progress) // 2 :]  # the JVM's JIT takes minutes to warm up here
    durations = [p["durationMs"]["triggerExecution"] / 1000 for p in steady]
    rows = sum(records_read(p) for p in steady)
    return {
        "sent": sent,
        "publisher_lag_s": publisher_lag_s,
        "alerts": len(clock.latencies),
        "expected_alerts": expected,
        "p50": statistics.median(clock.latencies) if clock.latencies else float("nan"),
        "p99": quantile(clock.latencies, 0.99) if clock.latencies else float("nan"),
        "max": max(clock.latencies, default=float("nan")),
        "batch_p50": statistics.median(durations),
        "batch_max": max(durations),
        "rate": rows / sum(durations) if durations else 0.0,
        "driver_mib": max(m[0] for m in memory),
        "workers_mib": max(m[1] for m in memory),
        "cpu": (busy1 - busy0) / max(1, total1 - total0),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=240)
    parser.add_argument("--lateness", type=int, help="allowed lateness, ms (default: the setting)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "LATENCY.md")
    args = parser.parse_args()
    configure_logging("console", "warning")
    workdir = Path(tempfile.mkdtemp(prefix="vitalwatch-latency-"))
    table: list[tuple[str, str]] = []
    try:
        with local_broker(workdir) as broker:
            lateness: dict[str, object] = {}
            if args.lateness is not None:
                # a bare number in a duration setting means seconds
                lateness["rules"] = {
                    "directory": REPO / "rules",
                    "allowed_lateness": f"{args.lateness}ms",
                }
            base = bench_settings(broker, workdir, **lateness)
            spark = start_spark(base)
            for patients in args.patients:
                runs = []
                for i in range(args.runs):
                    settings = bench_settings(broker, workdir / f"{patients}-{i}", **lateness)
                    run = one_run(spark, settings, patients, args.seconds)
                    runs.append(run)
                    print(f"{patients} patients, run {i + 1}: " + ", ".join(
                        f"{k} {v:.3g}" for k, v in run.items()), flush=True)  # fmt: skip

                def fig(key: str, fmt: str, runs: list[dict[str, float]] = runs) -> str:
                    return spread([r[key] for r in runs], fmt)

                table += [
                    (f"**{patients:,} patients**", f"{args.runs} runs of {args.seconds:.0f} s"),
                    ("alerts received / expected", fig("alerts", ".0f") + " / "
                     f"{runs[0]['expected_alerts']:.0f}"),
                    ("event -> alert p50", fig("p50", ".2f") + " s"),
                    ("event -> alert p99", fig("p99", ".2f") + " s"),
                    ("event -> alert max", fig("max", ".2f") + " s"),
                    ("batch duration p50 / max", fig("batch_p50", ".2f") + " s / "
                     + fig("batch_max", ".2f") + " s"),
                    ("sustained by the query", fig("rate", ",.0f") + " readings/s of batch time"),
                    ("publisher behind schedule at the end", fig("publisher_lag_s", ".1f") + " s"),
                    ("driver JVM RSS (peak)", fig("driver_mib", ",.0f") + " MiB"),
                    ("Python workers RSS (peak)", fig("workers_mib", ",.0f") + " MiB"),
                    ("machine CPU busy", fig("cpu", ".0%")),
                ]  # fmt: skip
            spark.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rules = [r.spec.id for r in load_rules(REPO / "rules")]
    report = (
        f"# Live latency\n\n`python -m bench.latency --patients {' '.join(map(str, args.patients))}"
        f" --runs {args.runs} --seconds {args.seconds:.0f}` on "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n\nMachine: {machine()}.\n"
        f"Rules ({len(rules)}): {', '.join(rules)}. Allowed lateness "
        f"{base.rules.allowed_lateness} ms, trigger {base.spark.trigger} ms. Medians over runs, "
        "range in brackets. The publisher, broker, Spark and this harness share the 2 cores.\n\n"
        "| figure | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in table) + "\n"
    )
    print("\n" + report)
    args.out.write_text(report + earlier_runs(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
