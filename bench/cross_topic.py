"""How far apart in time a patient's signals become readable across topics (issue #19).

The rules that pair signals (``derived``, ``news2_aggregate``) score a time once every other signal
the patient sends has come past it, or has been quiet for ``rules.pairing_wait``: the signals come
on different topics, and Kafka orders records within a partition, not across topics. Measured here
with the project's publisher on the project's local broker, on topics of their own whose record
timestamps are the broker's append times (``message.timestamp.type=LogAppendTime``): a
micro-batch reads every partition up to the offsets it finds when it starts, so a record appended
by then is in that batch or an earlier one.

- *Later by*: how much later than a reading a reading of another of the patient's signals,
  stamped at or before it, was appended (where positive). A time is scored at the earliest the
  pairing wait after the batch its reading came in: a reading of another signal appended less
  than that later is in by then.
- *Across the wait*: readings appended before a reading of another of the patient's signals
  stamped the pairing wait or more before them. Such a reading releases the times before it
  without waiting for the other, so there must be none. Only for a live feed, stamped when
  measured: a replay published as fast as the producer goes spans hours of event time in
  milliseconds.

    python -m bench.cross_topic [--patients 1000] [--seconds 120] [--stays 300]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from bench.harness import bench_settings, local_broker, quantile
from bench.out_of_order import physionet
from vitalwatch.contracts.readings import PAIRING_WAIT_MS, Signal
from vitalwatch.infra.broker import LocalBroker
from vitalwatch.kafka_clients import client_config, make_consumer
from vitalwatch.settings import Settings
from vitalwatch.simulate.messages import Message, publish
from vitalwatch.simulate.synthetic import SyntheticWard


@dataclass
class Inversions:
    readings: int = 0
    later_ms: list[int] = field(default_factory=list)  # per reading overtaken: by how much
    # Overtaken by one of another signal stamped the wait or more before: their append times.
    across_wait_ms: list[int] = field(default_factory=list)
    first_append_ms: int | None = None

    def row(self, source: str, live: bool) -> str:
        later = [float(x) for x in sorted(self.later_ms)]
        spread = f"{quantile(later, 0.99):.0f} ms | {later[-1]:.0f} ms" if later else "- | -"
        across = "n/a"
        if live and self.across_wait_ms and self.first_append_ms is not None:
            last = max(self.across_wait_ms) - self.first_append_ms
            across = f"{len(self.across_wait_ms):,}, the last {last:,} ms after the first record"
        elif live:
            across = "none"
        return f"| {source} | {self.readings:,} | {len(later):,} | {spread} | {across} |"


def inversions(
    records: Iterable[tuple[str, str, int, int]], wait_ms: int = PAIRING_WAIT_MS
) -> Inversions:
    """``records``: (patient, signal, event time, append time)."""
    by_patient: dict[str, list[tuple[int, str, int]]] = defaultdict(list)
    found = Inversions()
    for patient, signal, event_ms, append_ms in records:
        by_patient[patient].append((event_ms, signal, append_ms))
        found.readings += 1
        first = found.first_append_ms
        found.first_append_ms = append_ms if first is None else min(first, append_ms)
    for readings in by_patient.values():
        readings.sort()
        # Per signal, the latest append time of the readings stamped up to the current one, and
        # of those stamped at least ``wait_ms`` before it.
        latest: dict[str, int] = {}
        latest_before: dict[str, int] = {}
        start = behind = 0
        while start < len(readings):
            end = start
            while end < len(readings) and readings[end][0] == readings[start][0]:
                end += 1
            same_time = readings[start:end]  # stamped together: paired with each other too
            for _, signal, append_ms in same_time:
                latest[signal] = max(latest.get(signal, append_ms), append_ms)
            while readings[behind][0] <= readings[start][0] - wait_ms:
                _, signal, append_ms = readings[behind]
                latest_before[signal] = max(latest_before.get(signal, append_ms), append_ms)
                behind += 1
            for _, signal, append_ms in same_time:
                later = max((t for s, t in latest.items() if s != signal), default=append_ms)
                if later > append_ms:
                    found.later_ms.append(later - append_ms)
                if any(t > append_ms for s, t in latest_before.items() if s != signal):
                    found.across_wait_ms.append(append_ms)
            start = end
    return found


def _topics(broker: LocalBroker, workdir: Path) -> Settings:
    """Settings with reading topics of their own, stamped with the broker's append time."""
    run = uuid.uuid4().hex[:6]
    settings = bench_settings(
        broker, workdir, topics={s.value: f"x{run}.{s.value}" for s in Signal}
    )
    admin = AdminClient(client_config(settings))
    futures = admin.create_topics(
        [
            NewTopic(
                topic,
                settings.topics.partitions,
                settings.topics.replication_factor,
                config={"message.timestamp.type": "LogAppendTime"},
            )
            for topic in settings.topics.readings()
        ]
    )
    for future in futures.values():
        future.result(30)
    return settings


def _read(settings: Settings, expected: int) -> list[tuple[str, str, int, int]]:
    """Every reading on the settings' topics: (patient, signal, event time, append time)."""
    signal_of = {settings.topics.reading(s): s.value for s in Signal}
    consumer = make_consumer(settings, f"cross-topic-{uuid.uuid4().hex[:6]}")
    consumer.assign(
        [
            TopicPartition(topic, p, OFFSET_BEGINNING)
            for topic in signal_of
            for p in range(settings.topics.partitions)
        ]
    )
    out: list[tuple[str, str, int, int]] = []
    seen, idle_since = 0, time.monotonic()
    while seen < expected and time.monotonic() - idle_since < 30:
        for record in consumer.consume(10_000, 1.0):
            if record.error():
                continue
            seen, idle_since = seen + 1, time.monotonic()
            try:
                body = orjson.loads(record.value())
                event_ms = int(body["ts"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue  # malformed on purpose: dead-lettered by the parser
            key = record.key()
            patient = key.decode(errors="replace") if key else ""
            out.append((patient, signal_of[record.topic()], event_ms, record.timestamp()[1]))
    consumer.close()
    if seen < expected:
        raise RuntimeError(f"read {seen} of {expected} records")
    return out


def measure(
    broker: LocalBroker, workdir: Path, messages: list[Message], speed: float
) -> Inversions:
    settings = _topics(broker, workdir)
    produced = publish(messages, settings, speed=speed, stop=threading.Event())
    return inversions(_read(settings, produced))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--stays", type=int, default=300, help="PhysioNet 2012 stays to replay")
    args = parser.parse_args()
    # The ward as ``vitalwatch demo`` runs it (SpO2 and respiration every 5 s, a cuff every
    # minute, an hourly temperature), at this many patients.
    ward = SyntheticWard(
        patients=args.patients,
        duration_s=args.seconds,
        start_ms=int(time.time() * 1000),
        bp_interval_s=60,
        observation_interval_s=5.0,
        malformed_share=0.01,
    )
    messages = list(ward.messages())
    stays = list(physionet(args.stays))
    with (
        tempfile.TemporaryDirectory(prefix="vw-cross-topic-") as tmp,
        local_broker(Path(tmp)) as broker,
    ):
        rows = [
            (
                f"simulator, {args.patients:,} patients, {args.seconds:g} s in real time",
                True,
                measure(broker, Path(tmp), messages, speed=1.0),
            ),
            (
                "the same ward, published as fast as the producer goes",
                False,
                measure(broker, Path(tmp), messages, speed=0),
            ),
            (
                f"PhysioNet 2012 set-a, {args.stays:,} stays, as fast as the producer goes",
                False,
                measure(broker, Path(tmp), stays, speed=0),
            ),
        ]
    print(
        "| source | readings | overtaken | later by, p99 | most | "
        f"across the wait ({PAIRING_WAIT_MS} ms) |"
    )
    print("|---|---|---|---|---|---|")
    for source, live, found in rows:
        print(found.row(source, live))


if __name__ == "__main__":
    main()
