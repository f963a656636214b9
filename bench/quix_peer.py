"""The default rules as a Quix Streams application: the peer a user might pick instead of Spark.

    <venv>/bin/python -m bench.quix_peer --bootstrap HOST:PORT --heart-rate T --blood-pressure T
        --alerts T --deadletter T --group G --rules DIR --lateness MS --state-dir DIR
        --shared DIR --processes N --index I --stats FILE

Runs in its own virtual environment (``bench.quix_venv``: quixstreams pins an older
confluent-kafka and pydantic than vitalwatch's). The same rules by construction: each message
goes through vitalwatch's own ``PatientEvaluator`` and rule kinds, the code the Spark processor
drives, with the patient's ``PatientState`` kept in Quix's state (RocksDB, one entry per message
key = patient, with its changelog topic; Quix's default at-least-once checkpoints). Both reading
topics are one ``StreamingDataFrame`` (``concat``: same keys, co-partitioned). Records are parsed
and validated like the query does (``bench.peer_parse``); invalid and late readings go to the
dead-letter topic with the reason header.

Quix Streams has event-time windows but no per-key processing-time timers, which the evaluator's
``tick`` needs (releasing held readings of a feed that went quiet, ``no_data``). Emulated
minimally: before a patient's message is evaluated, if the evaluator's ``next_deadline`` for that
patient has passed (wall clock), ``tick`` runs first. A deadline is thus served at the patient's
next message instead of on time, which changes nothing while readings keep arriving (the bench)
but would delay a ``no_data`` alert for a feed that stopped for good. Patients are never dropped
for silence (the query's ``state_ttl``, a day).

One process, or ``--processes`` of them in one consumer group (each started with its own
``--index`` and ``--state-dir``), as a user runs a Quix application on several cores: Kafka
shares the partitions among them. They coordinate through files in ``--shared`` (``Drain``):
each waits for the others before it subscribes, so that they join the group together (and,
with the broker's group delay, are given their partitions at once), and all stop when every
input partition's last record has been processed, by whichever of them. Each then writes its
count, the wall time of its first and last record and what it wrote, as JSON, to its
``--stats``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.peer_parse import Invalid, parse_reading
from vitalwatch.contracts.readings import REASON_HEADER, Signal
from vitalwatch.rules.evaluator import PatientEvaluator, PatientState
from vitalwatch.rules.kind import PatientContext
from vitalwatch.rules.loader import load_rules

if TYPE_CHECKING:
    from quixstreams import State

_STATE_KEY = "patient"


def _stored(state: PatientState) -> dict[str, Any]:
    """The patient's state as plain JSON data (Quix's state serialises with orjson, dataclasses
    passed through)."""
    return {
        "signals": {
            name: {"watermark_ms": b.watermark_ms, "pending": b.pending, "arrived_ms": b.arrived_ms}
            for name, b in state.signals.items()
        },
        "rules": state.rules,
    }


class PeerEvaluator:
    """The per-message step: parse, serve a passed deadline, evaluate; output records as
    (kind, value, reason), kind "alert" or "dead". (quixstreams is imported only to run the
    application, so that this step is unit-tested in vitalwatch's own environment.)"""

    def __init__(self, evaluator: PatientEvaluator, clock: Callable[[], float] = time.time) -> None:
        self._evaluator = evaluator
        self._clock = clock
        self.count = 0
        self.first_s = self.last_s = 0.0
        self.alerts = self.dead = 0

    def __call__(
        self, item: tuple[Signal, bytes], key: bytes | None, _ts: int, _headers: Any, state: State
    ) -> list[tuple[str, bytes, str | None]]:
        now_s = self._clock()
        if not self.count:
            self.first_s = now_s
        self.count += 1
        self.last_s = now_s
        return self._evaluate(item, key, state, int(now_s * 1000))

    def _evaluate(
        self, item: tuple[Signal, bytes], key: bytes | None, state: State, now_ms: int
    ) -> list[tuple[str, bytes, str | None]]:
        signal, value = item
        try:
            patient_id, reading = parse_reading(signal, key, value)
        except Invalid as invalid:
            return self._dead([(value, invalid.reason)])
        stored = state.get(_STATE_KEY)
        patient_state = PatientState() if stored is None else PatientState.from_json_obj(stored)
        context = PatientContext(patient_id, bed="unknown", ward="unknown", overrides={})
        alerts = []
        deadline = self._evaluator.next_deadline(patient_state)
        if deadline is not None and deadline <= now_ms:  # the emulated timer
            alerts += self._evaluator.tick(patient_state, context, now_ms)
        evaluation = self._evaluator.process(patient_state, context, [reading], now_ms)
        alerts += evaluation.alerts
        state.set(_STATE_KEY, _stored(patient_state))
        self.alerts += len(alerts)
        out: list[tuple[str, bytes, str | None]] = [
            ("alert", alert.to_json(now_ms), None) for alert in alerts
        ]
        return out + self._dead([(value, "late")] if evaluation.late else [])

    def _dead(self, records: list[tuple[bytes, str]]) -> list[tuple[str, bytes, str | None]]:
        self.dead += len(records)
        return [("dead", value, reason) for value, reason in records]


class Drain:
    """What the peer processes of one run share, as files in one directory: the input's end
    offsets (``ends.json``, {topic: {partition: end offset}}, written by ``Drain.prepare``
    before they start), a start line (``ready/<index>``: each process waits there for the
    others) and, per input partition whose last record one of them has processed, a marker
    (``done/<partition>.<topic>``). The backlog is drained when every partition has its
    marker, whichever process read it (Kafka may move partitions between them)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        ends = json.loads((directory / "ends.json").read_text())
        self._last = {(topic, int(partition)): end - 1
                      for topic, partitions in ends.items()
                      for partition, end in partitions.items()}  # fmt: skip

    @staticmethod
    def prepare(directory: Path, ends: dict[str, dict[int, int]]) -> None:
        """The shared directory of a run, for processes yet to start."""
        for sub in ("ready", "done"):
            (directory / sub).mkdir(parents=True)
        (directory / "ends.json").write_text(json.dumps(ends))

    def _marker(self, topic: str, partition: int) -> Path:
        return self._directory / "done" / f"{partition}.{topic}"

    def start_together(self, index: int, processes: int, poll_s: float = 0.02) -> None:
        """Mark this process ready and wait until ``processes`` are."""
        ready = self._directory / "ready"
        (ready / str(index)).touch()
        while sum(1 for _ in ready.iterdir()) < processes:
            time.sleep(poll_s)

    def processed(self, topic: str, partition: int, offset: int) -> None:
        """Quix's ``on_message_processed``: marks the partition if this was its last record."""
        last = self._last.get((topic, partition))
        if last is not None and offset >= last:
            self._marker(topic, partition).touch()

    def drained(self) -> bool:
        return all(last < 0 or self._marker(*tp).exists() for tp, last in self._last.items())

    def stop_when_drained(self, stop: Callable[[], None], poll_s: float = 0.02) -> None:
        """Call ``stop`` once the backlog is drained, and again until the process ends (in a
        daemon thread): a stop before the application's loop has started would be lost."""
        while True:
            if self.drained():
                stop()
            time.sleep(poll_s)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("bootstrap", "heart-rate", "blood-pressure", "alerts", "deadletter", "group"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--rules", type=Path, required=True)
    parser.add_argument("--lateness", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--shared", type=Path, required=True)
    parser.add_argument("--processes", type=int, required=True)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--stats", type=Path, required=True)
    args = parser.parse_args()
    from quixstreams import Application

    drain = Drain(args.shared)
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        loglevel="WARNING",
        on_message_processed=drain.processed,
    )
    step = PeerEvaluator(PatientEvaluator(load_rules(args.rules), args.lateness))
    streams = []
    for signal, name in ((Signal.HEART_RATE, args.heart_rate),
                         (Signal.BLOOD_PRESSURE, args.blood_pressure)):  # fmt: skip
        topic = app.topic(name, key_deserializer="bytes", value_deserializer="bytes")
        streams.append(app.dataframe(topic).apply(lambda value, s=signal: (s, value)))
    sdf = streams[0].concat(streams[1]).apply(step, stateful=True, expand=True, metadata=True)
    alerts_topic = app.topic(args.alerts, key_serializer="bytes", value_serializer="bytes")
    dead_topic = app.topic(args.deadletter, key_serializer="bytes", value_serializer="bytes")
    sdf[sdf.apply(lambda out: out[0] == "alert")].apply(lambda out: out[1]).to_topic(alerts_topic)
    dead = sdf[sdf.apply(lambda out: out[0] == "dead")]
    dead = dead.set_headers(lambda out, _key, _ts, _headers: [(REASON_HEADER, out[2].encode())])
    dead.apply(lambda out: out[1]).to_topic(dead_topic)
    drain.start_together(args.index, args.processes)
    threading.Thread(target=drain.stop_when_drained, args=(app.stop,), daemon=True).start()
    app.run()
    stats = {"count": step.count, "first_s": step.first_s, "last_s": step.last_s,
             "alerts": step.alerts, "dead": step.dead}  # fmt: skip
    args.stats.write_text(json.dumps(stats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
