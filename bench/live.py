"""Live event-to-notification latency: the whole daemon (query, notifier, apprise) with a real
local webhook receiver, fed in real time by a publisher process.

The daemon starts at the end of the topics; once it is ready (``/readyz``), a publisher process
sends every patient's heart rate at 1 Hz and blood pressure every minute for ``seconds``, one
patient in ten becoming tachycardic at staggered times in the second half (the first half warms
the JVM's JIT up: on 2 cores it compiles Spark's code for minutes). Latency = the webhook's
receipt of the tachycardia notification - the event time of the reading that decided the alert,
so it includes the rule's allowed lateness, the trigger, the batch, Kafka both ways and the
notifier's grouping. The publisher, broker, Spark and the receiver share the machine: how far
the publisher ended behind its schedule says whether the load was really offered in real time;
how many seconds of readings the query had not yet counted (``vitalwatch_readings_total``) when
the publisher ended says whether it was absorbed (a query that keeps up is a trigger and a batch
behind); and the readings counted when the wait for the expected notifications ended (at most a
minute after the publisher), whether it caught up at all. At the end, the daemon's ``/metrics``
give where the time went, stage by stage (``bench.stages``).
"""

from __future__ import annotations

import json
import multiprocessing
import re
import shutil
import statistics
import threading
import time
import urllib.request
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pydantic import SecretStr

from bench.harness import ProcessMeter, cpu_busy, quantile
from bench.latency import publish_ward
from bench.scenario import DRIVER, WORKERS
from bench.stages import scrape, stage_breakdown
from vitalwatch.daemon import run_daemon
from vitalwatch.kafka_clients import ensure_topics
from vitalwatch.metrics import Metrics
from vitalwatch.settings import Settings

_DETECTED = re.compile(r"detected (\S+);")


class Webhook:
    """A local HTTP receiver for apprise's ``json://``: when each notification arrived, and its
    message."""

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
        """Receipt minus the deciding reading's event time, from the rendered ``detected``."""
        out = []
        for received_at, message in self.received:
            match = _DETECTED.search(message)
            if match is None:
                raise ValueError(f"a notification without its detection time: {message!r}")
            detected = datetime.fromisoformat(match.group(1).replace("Z", "+00:00"))
            out.append(received_at - detected.timestamp())
        return out


def _processed(metrics: Metrics) -> float:
    """Readings the query has counted (``vitalwatch_readings_total``, all signals and outcomes)."""
    return sum(
        s.value for m in metrics.readings.collect() for s in m.samples if s.name.endswith("_total")
    )


def _wait_ready(settings: Settings, timeout_s: float) -> None:
    url = f"http://{settings.http.host}:{settings.http.port}/readyz"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise TimeoutError(f"the daemon was not ready within {timeout_s:.0f} s ({url})")


def live_latency(settings: Settings, patients: int, seconds: float) -> dict[str, float]:
    webhook = Webhook()
    notify = settings.notify.model_copy(
        update={"urls": [SecretStr(webhook.url)], "urls_file": None}
    )
    spark = settings.spark.model_copy(
        update={"starting_offsets": "latest", "max_offsets_per_trigger": None}
    )
    live = settings.model_copy(update={"notify": notify, "spark": spark})
    ensure_topics(live)
    shutil.rmtree(live.checkpoint_dir, ignore_errors=True)
    stop, metrics = threading.Event(), Metrics()
    daemon = threading.Thread(target=run_daemon, args=(live, stop, metrics), daemon=True)
    daemon.start()
    _wait_ready(live, 180)
    expected = len(range(1, patients + 1, 10))  # bench.latency.ward: one patient in ten
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    busy0, total0 = cpu_busy()
    publisher = context.Process(
        target=publish_ward, args=(live.model_dump_json(), patients, seconds, results)
    )
    with ProcessMeter({"driver": DRIVER, "workers": WORKERS}) as meter:
        publisher.start()
        sent, behind_s = results.get(timeout=seconds + 600)
        publisher.join()
        busy1, total1 = cpu_busy()
        unread_s = (sent - _processed(metrics)) / (sent / seconds)
        deadline = time.time() + 60
        while len(webhook.received) < expected and time.time() < deadline:
            time.sleep(0.5)
    processed = _processed(metrics)
    stages = stage_breakdown(scrape(live.http.host, live.http.port))
    stop.set()
    daemon.join(120)
    webhook.server.shutdown()
    latencies = webhook.latencies()
    nan = float("nan")
    return {
        "sent": sent,
        "processed": processed,
        "unread_at_end_s": unread_s,
        "publisher_behind_s": behind_s,
        "notified": len(latencies),
        "expected": expected,
        "p50": statistics.median(latencies) if latencies else nan,
        "p99": quantile(latencies, 0.99) if latencies else nan,
        "max": max(latencies, default=nan),
        "driver_mib": meter.peak_mib["driver"],
        "workers_mib": meter.peak_mib["workers"],
        "machine_cpu": (busy1 - busy0) / max(1, total1 - total0),
        **stages,
    }
