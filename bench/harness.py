"""What the benchmark scripts share: a broker of their own, figures as medians with ranges,
and what the machine's processes use (read from /proc, no extra dependency)."""

from __future__ import annotations

import itertools
import json
import os
import platform
import socket
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyspark
from confluent_kafka import Consumer, TopicPartition
from pyspark.sql.streaming import StreamingQuery

from vitalwatch.contracts.readings import Signal
from vitalwatch.infra.broker import LocalBroker
from vitalwatch.infra.jarsets import kafka_broker_jars
from vitalwatch.infra.java import find_java
from vitalwatch.kafka_clients import client_config, ensure_topics
from vitalwatch.rules.loader import load_rules
from vitalwatch.settings import Settings, load_settings
from vitalwatch.simulate.messages import Message, publish
from vitalwatch.simulate.synthetic import Episode, SyntheticWard, patient_id
from vitalwatch.stream.job import start_query

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Kafka's default: how long the coordinator waits, after a new group's first member joined, for
# others before it assigns the partitions. The project's local broker sets 0 (its tests start
# one consumer at a time); with 0, of processes started together the first is given every
# partition and reads alone until a rebalance (at its next heartbeat, up to 3 s) shares them.
KAFKA_GROUP_DELAY_MS = 3000


@dataclass(frozen=True)
class _Broker(LocalBroker):
    group_delay_ms: int = 0

    def _properties(self) -> str:
        properties = super()._properties()
        setting = "\ngroup.initial.rebalance.delay.ms="
        if f"{setting}0\n" not in properties:
            raise RuntimeError(f"the local broker's properties no longer set{setting}0")
        return properties.replace(f"{setting}0\n", f"{setting}{self.group_delay_ms}\n")


@contextmanager
def local_broker(workdir: Path, group_delay_ms: int = 0) -> Iterator[LocalBroker]:
    """The project's local broker, with ``group.initial.rebalance.delay.ms`` (0 as the project's,
    or ``KAFKA_GROUP_DELAY_MS``)."""
    java = find_java()
    base = load_settings()
    broker = _Broker(
        workdir / "kafka", free_port(), tuple(kafka_broker_jars(base.cache_dir, java)), java,
        group_delay_ms=group_delay_ms,
    )  # fmt: skip
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def bench_settings(broker: LocalBroker, workdir: Path, **overrides: object) -> Settings:
    """Settings on the bench broker, with topics of their own."""
    run = uuid.uuid4().hex[:6]
    fields: dict[str, object] = dict(
        state_dir=workdir / "state",
        kafka={"bootstrap_servers": broker.bootstrap_servers},
        topics={"heart_rate": f"b{run}.hr", "blood_pressure": f"b{run}.bp",
                "alerts": f"b{run}.alerts", "deadletter": f"b{run}.dead"},
        rules={"directory": REPO / "rules"},
        http={"port": free_port()},
    )  # fmt: skip
    fields.update(overrides)
    return load_settings(**fields)


def records_read(progress: dict[str, Any]) -> int:
    """Kafka records a micro-batch read, from its offsets (``numInputRows`` counts a record once
    per scan of the source in the plan)."""
    count = 0
    for source in progress["sources"]:
        start, end = (_offsets(source.get(k)) for k in ("startOffset", "endOffset"))
        for topic, partitions in end.items():
            for partition, offset in partitions.items():
                count += offset - start.get(topic, {}).get(partition, 0)
    return count


# After the backlog, one normal reading of each signal per patient with an episode, this far in
# event time: past the cuff's interval, so the evaluator's watermark (newest - allowed lateness)
# releases all their readings. Without them a patient's last readings stay held until a
# processing-time timer (or for good), and which alerts they decide would depend on timing. (The
# synthetic ward's other patients never alarm: their held readings decide nothing.)
CLOSING_AFTER_S = 61


def publish_backlog(
    settings: Settings, patients: int, seconds: float, episodes: tuple[Episode, ...] = ()
) -> int:
    """A ward (heart rate at 1 Hz, a cuff every minute; quiet unless ``episodes``) and its
    closing readings, published as fast as the producer goes, on the settings' topics; the
    number of readings."""
    ensure_topics(settings)
    ward = SyntheticWard(patients=patients, duration_s=seconds, bp_interval_s=60,
                         start_ms=int(time.time() * 1000), episodes=episodes)  # fmt: skip
    closing_ms = int((seconds + CLOSING_AFTER_S) * 1000)
    closing = (
        Message(closing_ms, signal, patient_id(p).encode(), json.dumps(
            {"patient_id": patient_id(p), "ts": ward.start_ms + closing_ms, **values}).encode(),
            timestamp_ms=ward.start_ms + closing_ms)
        for p in sorted({e.patient for e in episodes})
        for signal, values in ((Signal.HEART_RATE, {"bpm": 75}),
                               (Signal.BLOOD_PRESSURE, {"systolic": 120, "diastolic": 80}))
    )  # fmt: skip
    return publish(itertools.chain(ward.messages(), closing), settings, speed=0)


def end_offsets(settings: Settings, topics: list[str]) -> dict[str, dict[int, int]]:
    """Each partition of the topics with its end offset (the offset its next record will get)."""
    consumer = Consumer(client_config(settings, **{"group.id": f"bench-{uuid.uuid4().hex}"}))
    ends = {}
    for topic in topics:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends[topic] = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in sorted(partitions)
        }
    consumer.close()
    return ends


def drain(
    spark: Any,
    settings: Settings,
    expected: int,
    start: Callable[[Any, Settings], StreamingQuery] | None = None,
) -> list[dict[str, Any]]:
    """Run the query (the product's, or the one ``start`` starts) from a fresh checkpoint until
    it has read ``expected`` records; the progress of its batches that read any.

    Each run gets a state directory (whose ``checkpoints`` it uses) of its own, beside
    ``settings.state_dir``: the state store of a query just stopped may still be writing files
    into its checkpoint (at 50,000 patients a removed one came back, and the next query refused
    it as not empty)."""
    fresh = tempfile.mkdtemp(prefix="state-", dir=settings.state_dir.parent)
    settings = settings.model_copy(update={"state_dir": Path(fresh)})
    if start is None:
        query = start_query(spark, load_rules(settings.rules.directory), settings)
    else:
        query = start(spark, settings)
    seen: dict[int, dict[str, Any]] = {}
    while sum(records_read(p) for p in seen.values()) < expected:
        if query.exception():
            raise RuntimeError(query.exception())
        for progress in query.recentProgress:
            seen[progress["batchId"]] = progress
        time.sleep(0.2)
    query.stop()
    return [seen[b] for b in sorted(seen) if records_read(seen[b]) > 0]


def one_second_of_ward(patients: int) -> int:
    """Readings a ward sends in a second (a heart rate a patient, a cuff a minute): the size of a
    live micro-batch, as ``maxOffsetsPerTrigger`` when a backlog is drained at live sizes."""
    return patients + patients // 60


def batch_time_rate(batches: list[dict[str, Any]]) -> float:
    """Readings per second of batch time (the trigger's waits between batches left out)."""
    busy = sum(p["durationMs"]["triggerExecution"] for p in batches) / 1000
    return sum(records_read(p) for p in batches) / busy


def batch_end(progress: dict[str, Any]) -> float:
    """When a micro-batch ended (epoch seconds), from its progress report."""
    started = datetime.fromisoformat(progress["timestamp"].replace("Z", "+00:00")).timestamp()
    return float(started + progress["durationMs"]["triggerExecution"] / 1000)


def _offsets(value: Any) -> dict[str, dict[str, int]]:
    """A source's offsets as progress reports them: a JSON text, parsed or not, or null."""
    parsed = json.loads(value) if isinstance(value, str) else value
    return parsed or {}


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def spread(values: list[float], fmt: str) -> str:
    """Median and range of several runs."""
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}} to {max(values):{fmt}})"


def machine() -> str:
    java = find_java()
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"pyspark {pyspark.__version__}, Java {java.major}, Kafka broker from Maven Central"
    )


def earlier_runs(results: Path) -> str:
    """The previous results, kept below the new ones as the baseline later runs compare with."""
    if not results.exists():
        return ""
    previous = results.read_text().split("\n", 1)[1]  # without its title line
    return "\n## Earlier runs\n" + previous.replace("## Earlier runs\n", "")


def _parent(stat: str) -> int:
    return int(stat.rsplit(")", 1)[1].split()[1])  # after the command name, which may hold spaces


def _processes() -> Iterator[tuple[int, str]]:
    """This process's descendants (the Spark JVM it launched, that JVM's Python workers, ...),
    with their command lines: other processes on the machine (another Spark) are not ours."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = _parent((entry / "stat").read_text())
            except OSError:
                continue
            children.setdefault(parent, []).append(int(entry.name))
    pending = list(children.get(os.getpid(), []))
    while pending:
        pid = pending.pop()
        pending += children.get(pid, [])
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        yield pid, cmdline.replace(b"\0", b" ").decode(errors="replace")


def _proc_files(pattern: str, name: str) -> Iterator[str]:
    """``/proc/<pid>/<name>`` of this process's descendants whose command line contains
    ``pattern`` (those that are still there)."""
    for pid, cmdline in _processes():
        if pattern in cmdline:
            try:
                yield Path(f"/proc/{pid}/{name}").read_text()
            except OSError:
                continue


def rss_mib(pattern: str) -> float:
    """Resident memory of this process's descendants whose command line contains ``pattern``."""
    total = 0
    for status in _proc_files(pattern, "status"):
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pattern: str) -> float:
    """CPU time (user and system, with that of their exited children) of this process's
    descendants whose command line contains ``pattern``, so far; diff two."""
    total = 0
    for stat in _proc_files(pattern, "stat"):
        fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / _TICKS


class ProcessMeter:
    """Peak resident memory (sampled twice a second) and CPU seconds, over a phase, of the
    processes matching each pattern; use as a context manager around the phase."""

    def __init__(self, patterns: dict[str, str]) -> None:
        self.patterns = patterns
        self.peak_mib = dict.fromkeys(patterns, 0.0)
        self.cpu_s = dict.fromkeys(patterns, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> ProcessMeter:
        self.cpu_s = {name: cpu_seconds(p) for name, p in self.patterns.items()}
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu_s = {name: cpu_seconds(p) - self.cpu_s[name] for name, p in self.patterns.items()}

    def _sample(self) -> None:
        while True:
            for name, pattern in self.patterns.items():
                self.peak_mib[name] = max(self.peak_mib[name], rss_mib(pattern))
            if self._stop.wait(0.5):
                return


def cpu_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine so far; diff two to get a share."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)
