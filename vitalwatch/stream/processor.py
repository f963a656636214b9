"""The ``transformWithState`` processor: Spark's keyed state around the pure ``PatientEvaluator``.

Keyed by *state bucket*, not by patient: ``STATE_BUCKETS`` hash buckets of patients, one state
call per bucket and micro-batch. Spark's Python stateful operator costs a fixed amount per key
and batch before any rule runs - issue #3 quotes ~0.16 ms, and the two state calls
(get and update, each a round trip to the JVM) measured 1.6-2 ms together here on a loaded
machine - so one key per patient would cost seconds per batch at 10,000 patients. A bucket's
state is one JSON value holding its patients' evaluator states (~1.7 kB each), read and written
once per batch (decoding it is skipped when this Python worker wrote it last: ``_Decoded``); a
patient always hashes to the same bucket, so its readings are still
evaluated in order by one task. 64 buckets keep the per-key cost small (~0.1 s per batch when
all are active) while leaving room for a cluster's parallelism (up to 64 tasks).
``STATE_BUCKETS`` is part of the checkpoint's layout: changing it needs a new checkpoint.

Timers (processing time) drive what must happen without input: releasing held readings of a
feed that stopped (with a lateness), a cuff reading waiting for a quiet heart-rate feed,
``no_data`` alerts, and dropping patients silent for ``state_ttl``. One timer
per bucket, at the earliest deadline of its patients, registered lazily: only when none is
pending or the new deadline is earlier, so a steady feed costs few timer calls per batch. The
bucket's next deadline is stored beside its patients, so a timer that fires early (readings
arrived since it was set) is set again for the real deadline without decoding the bucket. When
readings arrive, the patients whose deadline has passed are ticked there and then, with the
batch's time, as the timer would have ticked them later in the same batch: a bucket that has
readings every batch (a live ward) is decoded and encoded once a batch, not twice.

Each alert carries ``released_ms``, the wall-clock time at which this call released its readings
to the rules (or its timer ticked them): the notifier turns it into the first stage of the
latency histograms, since metrics cannot leave Spark's Python workers by themselves.

Outputs are Kafka records (topic, key, value, headers) for the sink: alerts to the alerts topic,
invalid, late and future-stamped readings with their original bytes and reason to the
dead-letter topic.
"""

from __future__ import annotations

import base64
import gc
import time
import uuid
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import orjson
from pyspark import TaskContext
from pyspark.sql import Row
from pyspark.sql.streaming.stateful_processor import (
    ExpiredTimerInfo,
    StatefulProcessor,
    StatefulProcessorHandle,
    TimerValues,
)
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from vitalwatch.contracts.alerts import Alert
from vitalwatch.contracts.readings import (
    REASON_HEADER,
    SIGNAL_FIELDS,
    SOURCE_HEADERS,
    DeadLetterReason,
    Reading,
    Signal,
)
from vitalwatch.rules.evaluator import PatientEvaluator, PatientState
from vitalwatch.rules.kind import PatientContext, RuleKind

HEADERS_TYPE = ArrayType(
    StructType([StructField("key", StringType()), StructField("value", BinaryType())])
)
# Kafka sink columns, plus rule_id / alert_state / deadletter_reason / event_ms for metrics
# (dropped before the sink).
OUTPUT_SCHEMA = StructType(
    [
        StructField("topic", StringType()),
        StructField("key", BinaryType()),
        StructField("value", BinaryType()),
        StructField("headers", HEADERS_TYPE),
        StructField("rule_id", StringType()),
        StructField("alert_state", StringType()),
        StructField("deadletter_reason", StringType()),
        StructField("event_ms", LongType()),
    ]
)
# A bucket's state: its patients (JSON, with the version token of ``_Decoded``), the time of its
# pending timer and when something is next due (so a timer that fires early costs no decoding).
_STATE_SCHEMA = StructType(
    [
        StructField("version", StringType()),
        StructField("json", BinaryType()),
        StructField("timer", LongType()),
        StructField("due", LongType()),
    ]
)
STATE_BUCKETS = 64
# Dead-letter reasons decided here, in event time, rather than by the parser.
PROCESSOR_REASONS = (DeadLetterReason.LATE, DeadLetterReason.FUTURE)


# The processor's input: the state bucket (the grouping key) and the reading with its roster
# entry and Kafka source, packed by the query into one JSON column (``to_json``: binary fields as
# base64, null fields left out, so only an invalid reading has a ``reason``). PySpark's Row API
# converts every cell of every row on its own (pyarrow's ``as_py``, ~3 us a cell here): the 17
# columns unpacked cost 53 us a row, the one packed column 6 us (+1 us for orjson), which was a
# fifth of a live batch's Python time at 10,000 patients.
INPUT_COLUMNS = ("state_bucket", "reading")


def deadletter_headers(reason: str, fields: dict[str, Any]) -> list[tuple[str, bytes]]:
    source = (fields["source_topic"], fields["source_partition"], fields["source_offset"])
    return [(REASON_HEADER, reason.encode())] + [
        (name, str(value).encode()) for name, value in zip(SOURCE_HEADERS, source, strict=True)
    ]


def _reading(fields: dict[str, Any]) -> Reading:
    signal = Signal(fields["signal"])
    values = {name: fields[name] for name in SIGNAL_FIELDS[signal] if fields.get(name) is not None}
    return Reading(signal, fields["event_ms"], values)


def _patient(
    patient_id: str, fields: dict[str, Any], known: PatientContext | None
) -> PatientContext:
    """The patient's roster entry, as joined to its readings (the known one if unchanged)."""
    bed, ward = fields.get("bed") or "unknown", fields.get("ward") or "unknown"
    limits = {k: v for k, v in (fields.get("overrides") or {}).items() if v is not None}
    if known is not None and (known.bed, known.ward, known.overrides) == (bed, ward, limits):
        return known
    return PatientContext(patient_id, bed=bed, ward=ward, overrides=limits)


def _raw(fields: dict[str, Any], name: str) -> bytes | None:
    encoded = fields.get(name)
    return None if encoded is None else base64.b64decode(encoded)


class _Bucket:
    """One bucket's patients: each one's evaluator state and roster context. Stored as JSON
    (orjson: the encoding is on the hot path, once per bucket and batch, and the standard
    library's took most of a batch's time), deflated: the state goes to the JVM and into
    RocksDB and its changelog every batch, and deflating it (level 1, ~0.5 ms a bucket) cuts
    that ~10x (~170 kB to ~15 kB a bucket at 10,000 patients)."""

    def __init__(self, stored: bytes | None) -> None:
        decoded = orjson.loads(zlib.decompress(stored)) if stored else {}
        self.patients: dict[str, tuple[PatientState, PatientContext]] = {
            pid: (PatientState.from_json_obj(state), PatientContext(**context))
            for pid, (state, context) in decoded.items()
        }
        # Each patient's next deadline (processing time), worked out after its readings and
        # ticks; not stored with the state, so None for a bucket decoded afresh.
        self.due: dict[str, int | None] | None = None

    def encode(self) -> bytes:
        return zlib.compress(orjson.dumps(self.patients), 1)


class _Decoded:
    """The buckets this Python worker process last wrote, decoded, each with the random version
    token stored beside it in Spark's state.

    Spark keeps Python workers between micro-batches and hands a partition's next task to any
    idle one, so a worker often meets a bucket it wrote itself; decoding its state again
    (orjson and the evaluator's objects) was a third of the Python time per batch. The token
    says whether the state Spark holds is exactly what this worker wrote: after a failed batch,
    a restart from the checkpoint or another worker's write it differs, and the state is
    decoded. An entry is taken out while its bucket is processed (so a batch that fails half
    way leaves nothing behind) and put back with its new token. At most one entry per bucket
    is kept: memory of the order of the decoded state of the buckets this worker met.
    """

    def __init__(self) -> None:
        self._entries: dict[Any, tuple[str, _Bucket]] = {}

    def load(self, key: Any, version: str | None, encoded: bytes | None) -> _Bucket:
        entry = self._entries.pop(key, None)
        if entry is not None and entry[0] == version:
            return entry[1]
        return _Bucket(encoded)

    def save(self, key: Any, bucket: _Bucket) -> tuple[str, bytes]:
        version = uuid.uuid4().hex
        self._entries[key] = (version, bucket)
        return version, bucket.encode()


_DECODED = _Decoded()  # per Python worker process


class _Collector:
    """Garbage collection paced for a worker that keeps the decoded state of its buckets.

    PySpark's daemon runs a full ``gc.collect()`` after every task of a reused worker. A full
    collection walks every live object, here mostly the state ``_Decoded`` keeps (20-50 objects
    a patient): 0.32 s per task at 10,000 patients, measured, the largest single cost of a live
    batch. So at the end of each task everything alive is frozen (``gc.freeze``): later
    collections, the daemon's included, skip it, while reference counting still frees a
    bucket's state as soon as a newer one replaces it (the state holds no cycles). Collecting
    the task's own objects first cost 0.08 s a task at 10,000 patients (measured), to reclaim
    ~450 objects of cyclic garbage a task (PySpark's own), so that garbage is frozen with the
    rest and a full collection every ``FULL_EVERY`` tasks reclaims it: a bound of some 20,000
    objects, and of any state object frozen in use that later became cyclic garbage (in a 90 s
    run at 10,000 patients the frozen count grew only as the rules' state did).
    """

    FULL_EVERY = 50

    def __init__(self) -> None:
        self._tasks = 0

    def task_done(self) -> None:
        self._tasks += 1
        if self._tasks % self.FULL_EVERY == 0:
            gc.unfreeze()
            gc.collect()
        gc.freeze()


_COLLECTOR = _Collector()  # per Python worker process


def _wall_clock_ms() -> int:
    """This worker's clock (not the batch's processing time, which is fixed when the batch is
    planned): when readings are released to the rules, for the alert's ``released_ms``."""
    return int(time.time() * 1000)


class RuleProcessor(StatefulProcessor):
    def __init__(
        self,
        rules: Sequence[RuleKind[Any]],
        allowed_lateness_ms: int,
        alerts_topic: str,
        deadletter_topic: str,
        state_ttl_ms: int = 86_400_000,
        timers: bool = True,
        max_clock_skew_ms: int = 30_000,
        pairing_wait_ms: int = 2_000,
    ) -> None:
        """``timers``: run with processing-time timers (the live stream); without them (a batch
        over history) nothing happens between readings and the end flushes what is held.
        ``max_clock_skew_ms``: how far a reading may be stamped ahead of its Kafka record.
        ``pairing_wait_ms``: how long a rule pairing signals waits for a quiet feed."""
        self._rules = list(rules)
        self._allowed_lateness_ms = allowed_lateness_ms
        self._max_clock_skew_ms = max_clock_skew_ms
        self._pairing_wait_ms = pairing_wait_ms
        self._alerts_topic = alerts_topic
        self._deadletter_topic = deadletter_topic
        self._state_ttl_ms = state_ttl_ms
        self._timers = timers

    def init(self, handle: StatefulProcessorHandle) -> None:
        if TaskContext.get() is not None:  # in Spark's Python worker (not a driver or a test)
            # The rule state is trees of dicts and lists without cycles, freed by reference
            # counting; the cyclic collector's default thresholds made it walk the ~10^6 live
            # state objects so often that decoding a bucket took three times as long (measured).
            gc.set_threshold(50_000, 20, 100)
        self._handle = handle
        self._state = handle.getValueState("bucket", _STATE_SCHEMA)
        self._evaluator = PatientEvaluator(
            self._rules, self._allowed_lateness_ms, self._pairing_wait_ms
        )

    def handleInputRows(
        self, key: Any, rows: Iterator[Row], timerValues: TimerValues
    ) -> Iterator[Row]:
        now = timerValues.getCurrentProcessingTimeInMs() if self._timers else None
        stored = self._state.get()  # None when the bucket has no state yet
        bucket = self._load(key, stored)
        inputs_by_patient: dict[str, list[dict[str, Any]]] = {}
        dead: list[tuple[dict[str, Any], str]] = []
        for row in rows:
            fields = orjson.loads(row[1])  # INPUT_COLUMNS
            if "reason" in fields:  # invalid: dead-lettered as it came, with the parser's reason
                dead.append((fields, fields["reason"]))
            elif self._from_the_future(fields):
                dead.append((fields, DeadLetterReason.FUTURE.value))
            else:
                inputs_by_patient.setdefault(fields["patient_id"], []).append(fields)
        alerts: list[Alert] = []
        released_ms = _wall_clock_ms()
        for patient_id, inputs in inputs_by_patient.items():
            state, known = bucket.patients.get(patient_id, (PatientState(), None))
            context = _patient(patient_id, inputs[0], known)
            bucket.patients[patient_id] = (state, context)
            readings = [_reading(fields) for fields in inputs]
            evaluation = self._evaluator.process(state, context, readings, now)
            alerts += evaluation.alerts
            dead += [(inputs[index], DeadLetterReason.LATE.value) for index in evaluation.late]
            if now is None:  # over history a key's rows all come in one call: that is the end
                alerts += self._evaluator.flush(state, context)
        if now is not None:  # what the bucket's timer would do later in this batch, done now
            self._work_out_deadlines(bucket)
            alerts += self._tick(bucket, now)
        timer = stored[2] if stored else None
        self._save(key, bucket, now, timer)
        yield from self._alert_rows(alerts, now, released_ms)
        yield from self._dead_letter_rows(dead)

    def handleExpiredTimer(
        self, key: Any, timerValues: TimerValues, expiredTimerInfo: ExpiredTimerInfo
    ) -> Iterator[Row]:
        now = timerValues.getCurrentProcessingTimeInMs()
        stored = self._state.get()
        if stored is None:
            return
        version, encoded, _, due = stored  # Spark removed the timer that fired
        if due is not None and due > now:  # fired early: readings arrived since it was set
            timer = self._set_timer(None, due, now)
            self._state.update((version, encoded, timer, due))
            return
        bucket = self._load(key, stored)
        if bucket.due is None:  # decoded afresh: another Python worker wrote it last
            self._work_out_deadlines(bucket)
        released_ms = _wall_clock_ms()
        alerts = self._tick(bucket, now)
        self._save(key, bucket, now, None)
        yield from self._alert_rows(alerts, now, released_ms)

    def _tick(self, bucket: _Bucket, now: int) -> list[Alert]:
        """Tick the patients whose deadline (``bucket.due``, worked out) has passed, and work
        out their next one. The deadlines are worked out after a call's readings, in the bucket
        as decoded or reused: a bucket another Python worker wrote last (half of them with two
        workers) once knew none and left its due patients to the timer, which encoded it a
        second time (py-spy at 10,000 patients: 11-13% of the workers' samples)."""
        assert bucket.due is not None
        alerts: list[Alert] = []
        for patient_id, (state, context) in list(bucket.patients.items()):
            patient_due = bucket.due[patient_id]
            if patient_due is None or patient_due > now:
                continue  # nothing of this patient's is due (a cuff reading of another is)
            alerts += self._evaluator.tick(state, context, now)
            last = self._evaluator.last_arrival(state)
            if last is not None and now - last >= self._state_ttl_ms:
                del bucket.patients[patient_id]  # silent for a day: discharged or moved
                del bucket.due[patient_id]
            else:
                bucket.due[patient_id] = self._patient_due(state)
        return alerts

    def _from_the_future(self, fields: dict[str, Any]) -> bool:
        """Stamped further ahead of its Kafka record than clocks may be off: kept out of the
        rules, whose watermark it would move ahead (records without a timestamp, as in a
        backtest over files, are not judged)."""
        published = fields.get("source_timestamp")
        return published is not None and fields["event_ms"] > published + self._max_clock_skew_ms

    def _load(self, key: Any, stored: tuple[Any, ...] | None) -> _Bucket:
        return _DECODED.load(key, *(stored[:2] if stored else (None, None)))

    def _save(self, key: Any, bucket: _Bucket, now: int | None, timer: int | None) -> None:
        """Store the bucket; live, with a timer at the earliest deadline of its patients, set
        only when none is pending or the deadline is earlier (a steady feed costs no timer
        calls; a timer that fires early finds ``due`` later and is set again, cheaply)."""
        deadlines = bucket.due.values() if now is not None and bucket.due is not None else ()
        due = min((d for d in deadlines if d is not None), default=None)
        if now is not None and due is not None:
            timer = self._set_timer(timer, due, now)
        self._state.update((*_DECODED.save(key, bucket), timer, due))

    def _set_timer(self, pending: int | None, due: int, now: int) -> int:
        """The pending timer is kept if it fires no later than ``due``, unless it is expiring
        in this batch with nothing left due (the readings ticked what it was for)."""
        if pending is not None:
            expiring = pending <= now
            if (expiring and due <= now) or (not expiring and pending <= due):
                return pending
            self._handle.deleteTimer(pending)
        timer = max(due, now + 1)
        self._handle.registerTimer(timer)
        return timer

    def _work_out_deadlines(self, bucket: _Bucket) -> None:
        """Each patient's next deadline, kept in ``bucket.due`` so that a tick visits only the
        patients that are due and the timer is set at the earliest."""
        bucket.due = {pid: self._patient_due(state) for pid, (state, _) in bucket.patients.items()}

    def _patient_due(self, state: PatientState) -> int | None:
        """When the patient next needs a tick: a deadline of its rules, or its state's TTL."""
        deadlines = [self._evaluator.next_deadline(state)]
        last = self._evaluator.last_arrival(state)
        if last is not None:
            deadlines.append(last + self._state_ttl_ms)
        return min((d for d in deadlines if d is not None), default=None)

    def _alert_rows(self, alerts: list[Alert], now: int | None, released_ms: int) -> Iterator[Row]:
        emitted_ms = now if now is not None else released_ms
        for alert in alerts:
            yield Row(
                topic=self._alerts_topic,
                key=alert.patient_id.encode(),
                value=replace(alert, released_ms=released_ms).to_json(emitted_ms),
                headers=None,
                rule_id=alert.rule_id,
                alert_state=alert.state.value,
                deadletter_reason=None,
                event_ms=alert.detected_ms,
            )

    def _dead_letter_rows(self, dead: list[tuple[dict[str, Any], str]]) -> Iterator[Row]:
        for fields, reason in dead:
            yield Row(
                topic=self._deadletter_topic,
                key=_raw(fields, "raw_key"),
                value=_raw(fields, "raw_value"),
                headers=deadletter_headers(reason, fields),
                rule_id=None,
                alert_state=None,
                deadletter_reason=reason,
                event_ms=fields.get("event_ms"),
            )

    def close(self) -> None:
        if TaskContext.get() is not None:  # the end of a task in Spark's Python worker
            _COLLECTOR.task_done()
