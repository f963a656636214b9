"""First benchmark harness: job throughput vs. a bare consumer, and event-to-notification latency.

    python -m bench.throughput [--runs 3] [--patients 500] [--seconds 120]

Starts its own broker (project tooling) on a free port. Per run, on the same backlog:
- ceiling: a bare confluent-kafka consumer reads every message of both topics;
- job: the streaming query (parse, rules, sinks) drains the backlog from a fresh checkpoint;
  sustained rate = rows after the first (warm-up) batch / time from its end to the last end.
Then a live phase: the daemon runs with a real local webhook while patients are published in real
time at 1 Hz; latency = webhook receipt - event time of the reading that decided the alert.
Prints a table and writes bench/RESULTS.md. Figures are medians over runs with their range.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from confluent_kafka import Consumer

from bench.harness import (
    REPO,
    bench_settings,
    drain,
    earlier_runs,
    local_broker,
    machine,
    publish_backlog,
    quantile,
    records_read,
    spread,
)
from vitalwatch.daemon import run_daemon
from vitalwatch.kafka_clients import client_config
from vitalwatch.logs import configure_logging
from vitalwatch.rules.loader import load_rules
from vitalwatch.settings import Settings
from vitalwatch.simulate.messages import publish
from vitalwatch.simulate.synthetic import Episode, SyntheticWard
from vitalwatch.stream.session import start_spark


def bare_consumer_rate(settings: Settings, expected: int) -> float:
    consumer = Consumer(
        client_config(
            settings,
            **{"group.id": f"bench-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"},
        )
    )
    consumer.subscribe([settings.topics.heart_rate, settings.topics.blood_pressure])
    count, started = 0, None
    while count < expected:
        batch = consumer.consume(10_000, timeout=1.0)
        if batch and started is None:
            started = time.perf_counter()
        count += sum(1 for m in batch if not m.error())
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return count / elapsed


def job_rate(spark, settings: Settings, expected: int) -> tuple[float, int]:
    batches = drain(spark, settings, expected)

    def end(p: dict) -> float:
        started = datetime.fromisoformat(p["timestamp"].replace("Z", "+00:00")).timestamp()
        return started + p["durationMs"]["triggerExecution"] / 1000

    warm_rows = sum(records_read(p) for p in batches[1:])
    return warm_rows / (end(batches[-1]) - end(batches[0])), len(batches)


class Webhook:
    def __init__(self) -> None:
        self.received: list[tuple[float, str]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hook.received.append((time.time(), body["message"]))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def latencies(self) -> list[float]:
        out = []
        for received_at, message in self.received:
            detected = re.search(r"detected (\S+);", message).group(1)  # type: ignore[union-attr]
            at = datetime.fromisoformat(detected.replace("Z", "+00:00")).timestamp()
            out.append(received_at - at)
        return out


def live_latency(settings: Settings, patients: int, seconds: float) -> list[float]:
    webhook = Webhook()
    live = settings.model_copy(update={"notify": settings.notify.model_copy(
        update={"urls": [], "urls_file": None}
    )})  # fmt: skip
    from pydantic import SecretStr

    live.notify.urls = [SecretStr(webhook.url)]
    shutil.rmtree(live.checkpoint_dir, ignore_errors=True)
    stop = threading.Event()
    daemon = threading.Thread(target=run_daemon, args=(live, stop), daemon=True)
    daemon.start()
    time.sleep(25)  # Spark start-up; the query starts at the end of the topics ("latest")
    tachycardic = max(1, patients // 5)
    episodes = tuple(
        Episode("tachycardia", patient=p, start_s=5 + (p * 7) % 30, duration_s=seconds)
        for p in range(1, tachycardic + 1)
    )
    ward = SyntheticWard(
        patients=patients, duration_s=seconds, start_ms=int(time.time() * 1000),
        bp_interval_s=60, episodes=episodes, seed=3,
    )  # fmt: skip
    publish(ward.messages(), live, speed=1.0)
    deadline = time.time() + 30
    while len(webhook.received) < tachycardic and time.time() < deadline:
        time.sleep(0.5)
    stop.set()
    daemon.join(60)
    webhook.server.shutdown()
    return webhook.latencies()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=120, help="simulated seconds of backlog")
    parser.add_argument("--live-patients", type=int, default=300)
    parser.add_argument("--live-seconds", type=float, default=100)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS.md")
    args = parser.parse_args()
    configure_logging("console", "warning")

    workdir = Path(tempfile.mkdtemp(prefix="vitalwatch-bench-"))
    backlog_rows = 0
    try:
        with local_broker(workdir) as broker:
            settings = bench_settings(broker, workdir, spark={"starting_offsets": "earliest"})
            t0 = time.perf_counter()
            backlog_rows = publish_backlog(settings, args.patients, args.seconds)
            produce_rate = backlog_rows / (time.perf_counter() - t0)
            settings.spark.max_offsets_per_trigger = max(1000, backlog_rows // 12)
            spark = start_spark(settings)
            ceilings, jobs, ratios = [], [], []
            for i in range(args.runs):
                ceiling = bare_consumer_rate(settings, backlog_rows)
                rate, batches = job_rate(spark, settings, backlog_rows)
                ceilings.append(ceiling)
                jobs.append(rate)
                ratios.append(rate / ceiling)
                print(f"run {i + 1}: bare consumer {ceiling:,.0f}/s, job {rate:,.0f}/s over "
                      f"{batches} batches, ratio {rate / ceiling:.3f}", flush=True)  # fmt: skip
            live_settings = settings.model_copy(
                update={"spark": settings.spark.model_copy(
                    update={"starting_offsets": "latest", "max_offsets_per_trigger": None}
                )}
            )  # fmt: skip
            latencies = live_latency(live_settings, args.live_patients, args.live_seconds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    rule_ids = [rule.spec.id for rule in load_rules(settings.rules.directory)]
    rows = [
        ("rules", f"{len(rule_ids)}: {', '.join(rule_ids)}"),
        ("backlog", f"{backlog_rows:,} readings ({args.patients} patients x {args.seconds:.0f} s)"),
        ("producer rate (setup)", f"{produce_rate:,.0f} readings/s"),
        ("bare consumer (ceiling)", spread(ceilings, ",.0f") + " readings/s"),
        ("job sustained", spread(jobs, ",.0f") + " readings/s"),
        ("job / ceiling (same run)", spread(ratios, ".3f")),
        (
            "live",
            f"{args.live_patients} patients at 1 Hz for {args.live_seconds:.0f} s, "
            f"{len(latencies)} alerts",
        ),
        (
            "event -> notification p50",
            f"{statistics.median(latencies):.2f} s" if latencies else "n/a",
        ),
        ("event -> notification p99", f"{quantile(latencies, 0.99):.2f} s" if latencies else "n/a"),
        ("event -> notification max", f"{max(latencies):.2f} s" if latencies else "n/a"),
    ]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    report = (
        f"# Benchmark results\n\n`python -m bench.throughput --runs {args.runs} --patients "
        f"{args.patients} --seconds {args.seconds:.0f}` on "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n\nMachine: {machine()}.\n"
        f"Medians over {args.runs} runs, range in brackets; the ratio is per run.\n"
        "The latency includes the rule's allowed lateness "
        f"({settings.rules.allowed_lateness} ms of event time, see README).\n\n"
        f"| figure | value |\n|---|---|\n{table}\n"
    )
    print("\n" + report)
    args.out.write_text(report + earlier_runs(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
