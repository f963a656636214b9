"""One run of a backlog scenario: the same readings read by a bare consumer (the ceiling), the
Spark job and the Quix Streams peer run two ways (one process, and one process per core in one
consumer group: ``PEERS``), one after the other, each from the start of the topics."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, NamedTuple

from confluent_kafka import Consumer

from bench.alert_match import AlertComparison, compare_alerts, read_alerts
from bench.harness import ProcessMeter, batch_end, drain, end_offsets, records_read
from bench.quix_venv import start_peers
from vitalwatch.kafka_clients import client_config, ensure_topics
from vitalwatch.settings import Settings
from vitalwatch.simulate.synthetic import Episode

DRIVER, WORKERS = "org.apache.spark.deploy.SparkSubmit", "pyspark.daemon"
CORES = os.cpu_count() or 1


class Peer(NamedTuple):
    name: str  # its figures' key and prefix, and its output topics' suffix
    processes: int
    label: str


# The Quix Streams peer as one process, and as a user would run it on this machine: one process
# per core, in one consumer group (the bench's topics have at least as many partitions).
PEERS = (
    Peer("quix", 1, "Quix peer, one process"),
    Peer("quix_cores", CORES, f"Quix peer, {CORES} processes (one per core)"),
)


def episodes(patients: int, seconds: float) -> tuple[Episode, ...]:
    """One patient in 50 hypotensive from the start (the cuff rules and the derived ones fire at
    the first reading) and one in 50 tachycardic from the first seconds (the heart-rate rule
    fires after its 60 s, when the history is that long): alerts of every kind of rule for the
    two processors to agree on, in a ward that stays mostly quiet."""
    return tuple(
        Episode(kind, patient=p, start_s=start + p % 10, duration_s=seconds)
        for first, kind, start in ((1, "tachycardia", 1), (26, "hypotension", 0))
        for p in range(first, patients + 1, 50)
    )


def bare_consumer_rate(settings: Settings, expected: int) -> float:
    """Readings per second a confluent-kafka consumer reads the topics at, doing nothing else:
    records after its first batch / time from that batch to the last (like the job's rate, the
    group's join and the first fetch left out)."""
    group = {"group.id": f"bench-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
    consumer = Consumer(client_config(settings, **group))
    consumer.subscribe([settings.topics.heart_rate, settings.topics.blood_pressure])
    count = first = 0
    started = 0.0
    while count < expected:
        batch = consumer.consume(1000, timeout=1.0)
        count += sum(1 for m in batch if not m.error())
        if count and not first:
            first, started = count, time.perf_counter()
    elapsed = time.perf_counter() - started
    consumer.close()
    return (count - first) / elapsed


def job_run(spark: Any, settings: Settings, expected: int) -> dict[str, float]:
    """The query drains the backlog from a fresh checkpoint; sustained rate = records after the
    first batch / time from its end to the last batch's end; start-up = from the query's start
    to its first batch's end (planning, code generation, the Python workers' first call)."""
    ensure_topics(settings)
    started = time.time()
    with ProcessMeter({"driver": DRIVER, "workers": WORKERS}) as meter:
        batches = drain(spark, settings, expected)
    warm = sum(records_read(p) for p in batches[1:])
    return {
        "rate": warm / (batch_end(batches[-1]) - batch_end(batches[0])),
        "startup_s": batch_end(batches[0]) - started,
        "batches": len(batches),
        "driver_mib": meter.peak_mib["driver"],
        "workers_mib": meter.peak_mib["workers"],
        "driver_cpu_s": meter.cpu_s["driver"],
        "workers_cpu_s": meter.cpu_s["workers"],
    }


def peer_run(settings: Settings, processes: int, expected: int, workdir: Path) -> dict[str, float]:
    """The Quix Streams peer reads the backlog in ``processes`` processes of a fresh consumer
    group, with fresh state; its figures from theirs (``combine_peer``). Memory and CPU from the
    kernel's account of each exited process (its peak RSS; CPU including start-up)."""
    ensure_topics(settings)
    ends = end_offsets(settings, [settings.topics.heart_rate, settings.topics.blood_pressure])
    few = {topic: len(partitions) for topic, partitions in ends.items()
           if len(partitions) < processes}  # fmt: skip
    if few:
        raise RuntimeError(f"{processes} peer processes in one group need as many partitions "
                           f"per topic; these have fewer: {few}")  # fmt: skip
    if sum(sum(partitions.values()) for partitions in ends.values()) != expected:
        raise RuntimeError(f"the reading topics do not hold the {expected:,} readings: {ends}")
    started = time.time()
    peers = start_peers(settings, ends, processes, workdir)
    usages = _wait_all(peers)
    return combine_peer(
        [{**json.loads((workdir / str(index) / "stats").read_text()),
          "mib": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime}
         for index, usage in enumerate(usages)],
        expected,
        started,
    )  # fmt: skip


def _wait_all(peers: list[subprocess.Popen[bytes]]) -> list[resource.struct_rusage]:
    """Each process's resource usage once all have exited; if one fails, the others are killed
    (they would wait for its partitions for ever)."""
    usages: dict[int, resource.struct_rusage] = {}
    while len(usages) < len(peers):
        time.sleep(0.2)
        for index, peer in enumerate(peers):
            if index in usages:
                continue
            pid, status, usage = os.wait4(peer.pid, os.WNOHANG)
            if not pid:
                continue
            peer.returncode = os.waitstatus_to_exitcode(status)
            if peer.returncode:
                for other in peers:
                    if other.returncode is None:
                        other.kill()
                        other.wait()
                raise RuntimeError(f"Quix Streams peer process {index} exited with "
                                   f"{peer.returncode}")  # fmt: skip
            usages[index] = usage
    return [usages[index] for index in range(len(peers))]


def combine_peer(
    processes: list[dict[str, float]], expected: int, started: float
) -> dict[str, float]:
    """A peer's figures from those of its processes (``count``, ``first_s``, ``last_s`` of the
    records each read, its ``mib`` and ``cpu_s``): the rate over the drain, the backlog's
    readings from the first record any of them read to the last any read (one that read none
    left out; records read again after a rebalance not counted twice); its start-up, from
    ``started`` (when the processes were launched) to the first record any read; peak memory
    and CPU summed (they run side by side: the sum of the peaks bounds the peak of the sum); how
    many records were read more than once, and the busiest process's share of the records
    read."""
    reading = [p for p in processes if p["count"]]
    read = sum(p["count"] for p in processes)
    if read < expected:
        raise ValueError(f"the peer's processes read {read:,} records of {expected:,}")
    first, last = min(p["first_s"] for p in reading), max(p["last_s"] for p in reading)
    return {
        "rate": (expected - 1) / (last - first),
        "startup_s": first - started,
        "mib": sum(p["mib"] for p in processes),
        "cpu_s": sum(p["cpu_s"] for p in processes),
        "read_twice": read - expected,
        "busiest": max(p["count"] for p in processes) / read,
    }


def one_run(
    spark: Any, settings: Settings, expected: int, workdir: Path, run: int
) -> tuple[dict[str, float], dict[str, AlertComparison]]:
    """Ceiling, job and each of ``PEERS`` on the same backlog, each writing alerts to topics of
    its own; their figures and ratios, and how each peer's alerts compare with the job's (the
    union of its processes')."""
    job_settings = _with_outputs(settings, f"-job{run}")
    ceiling = bare_consumer_rate(settings, expected)
    job = job_run(spark, job_settings, expected)
    job_alerts = read_alerts(settings, job_settings.topics.alerts)
    figures = {"ceiling": ceiling, "job": job.pop("rate"), **job}
    figures["job/ceiling"] = figures["job"] / ceiling
    thousands = expected / 1000
    figures["job_cpu_per_k"] = (figures["driver_cpu_s"] + figures["workers_cpu_s"]) / thousands
    comparisons = {}
    for peer in PEERS:
        peer_settings = _with_outputs(settings, f"-{peer.name}{run}")
        result = peer_run(peer_settings, peer.processes, expected, workdir / f"{peer.name}{run}")
        figures[peer.name] = result["rate"]
        figures[f"job/{peer.name}"] = figures["job"] / result["rate"]
        figures[f"{peer.name}_startup_s"] = result["startup_s"]
        figures[f"{peer.name}_mib"] = result["mib"]
        figures[f"{peer.name}_cpu_s"] = result["cpu_s"]
        figures[f"{peer.name}_cpu_per_k"] = result["cpu_s"] / thousands
        figures[f"{peer.name}_read_twice"] = result["read_twice"]
        figures[f"{peer.name}_busiest"] = result["busiest"]
        comparisons[peer.name] = compare_alerts(
            job_alerts, read_alerts(settings, peer_settings.topics.alerts)
        )
    return figures, comparisons


def _with_outputs(settings: Settings, suffix: str) -> Settings:
    """The settings with alert and dead-letter topics of their own."""
    topics = settings.topics.model_copy(
        update={"alerts": settings.topics.alerts + suffix,
                "deadletter": settings.topics.deadletter + suffix}
    )  # fmt: skip
    return settings.model_copy(update={"topics": topics})
