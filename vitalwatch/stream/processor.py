"""The ``transformWithStateInPandas`` processor: Spark's keyed state around the columnar rule
engine (``vitalwatch.rules.engine``).

Keyed by *state bucket*, not by patient: ``spark.state_buckets`` hash buckets of patients (16
by default), one state call per bucket and micro-batch. Spark's Python stateful operator costs a
fixed amount per key and batch before any rule runs (the two state calls, each a round trip to
the JVM, the Arrow hand-over and the timer calls: ~6 ms a key live at 1,000 patients), so one key
per patient would cost seconds per batch at 10,000 patients. A bucket's readings arrive as
columns (Arrow batches as pandas DataFrames, no per-cell conversion: ``bench/floor.py`` measured
this hand-over at 1.3-1.8x the rows of ``transformWithState``), only the columns the rules need,
with what a dead letter needs packed into one text column that is decoded only for the rare
reading dead-lettered here. The bucket's state is one binary value (``rules.bucket``: arrays per
patient slot, no per-patient JSON), read and written once per batch; decoding it is skipped when
this Python worker wrote it last (``_Decoded``). A patient always hashes to the same bucket, so
its readings are still evaluated in order by one task. The bucket count and the state's layout
are part of the checkpoint (``stream.job.checkpoint_buckets``).

Timers (processing time) drive what must happen without input: releasing held readings of a
feed that stopped (with a lateness), a cuff reading waiting for a quiet heart-rate feed,
``no_data`` alerts, and dropping patients silent for ``state_ttl``. One timer per bucket, at the
earliest deadline of its patients, registered lazily: only when none is pending or the new
deadline is earlier, so a steady feed costs few timer calls per batch. Deadlines worked out
after a tick leave out holds that tick released (``ColumnarEngine.deadlines(after=)``): a NEWS2
queue waiting on one signal kept the others' holds due for good, and the bucket's timer fired
in every batch to tick nothing and store the whole state again. The bucket's next
deadline is stored beside its state, so a timer that fires early (readings arrived since it was
set) is set again for the real deadline without decoding the bucket. When readings arrive, the
patients whose deadline has passed are ticked there and then, with the batch's time, as the
timer would have ticked them later in the same batch: a bucket that has readings every batch
(a live ward) is decoded and encoded once a batch, not twice.

Each alert carries ``released_ms``, the wall-clock time at which this call released its readings
to the rules (or its timer ticked them): the notifier turns it into the first stage of the
latency histograms, since metrics cannot leave Spark's Python workers by themselves.

Outputs are Kafka records for the sink (topic, key, value; the query adds the dead letters'
headers from their reason and source columns): alerts to the alerts topic, and invalid, late and
future-stamped readings with their original bytes and reason to the dead-letter topic. A report
over history (``backtest``) reads only an alert's columns: without ``alert_messages`` its value
is left null (writing the 2012 set's 492,618 messages and reading them back in the JVM was
about a sixth of its backtest, bench/CAPACITY.md).
"""

from __future__ import annotations

import base64
import gc
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import orjson
import pandas as pd
from pyspark import TaskContext
from pyspark.sql.streaming.stateful_processor import (
    ExpiredTimerInfo,
    StatefulProcessor,
    StatefulProcessorHandle,
    TimerValues,
)
from pyspark.sql.types import (
    BinaryType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from vitalwatch.contracts.alerts import Alert
from vitalwatch.contracts.readings import PAIRING_WAIT_MS, DeadLetterReason
from vitalwatch.rules.bucket import Bucket
from vitalwatch.rules.engine import ColumnarEngine
from vitalwatch.rules.kernel import NO_TIME, VALUE_FIELDS
from vitalwatch.rules.kind import PatientContext, RuleKind
from vitalwatch.stream import handover

# A Python worker imports this module when it unpickles the processor, before it reads the
# micro-batch's rows: their regrouping by state bucket is then done by slicing (``handover``).
handover.install()

# The processor's output: the Kafka sink's topic, key and value; rule_id / alert_state /
# deadletter_reason / event_ms for metrics (an alert's ``detected_ms``); an alert's onset_ms, for
# a backtest's report; the dead letter's source, for its headers (the query builds them, and
# drops all but the sink's columns).
OUTPUT_SCHEMA = StructType(
    [
        StructField("topic", StringType()),
        StructField("key", BinaryType()),
        StructField("value", BinaryType()),
        StructField("rule_id", StringType()),
        StructField("alert_state", StringType()),
        StructField("deadletter_reason", StringType()),
        StructField("event_ms", LongType()),
        StructField("onset_ms", LongType()),
        StructField("source_topic", StringType()),
        StructField("source_partition", IntegerType()),
        StructField("source_offset", LongType()),
    ]
)
_OUTPUT_COLUMNS = OUTPUT_SCHEMA.fieldNames()
# A bucket's state: its patients and rules (``Bucket.encode``, with the version token of
# ``_Decoded``), the time of its pending timer and when something is next due (so a timer that
# fires early costs no decoding).
_STATE_SCHEMA = StructType(
    [
        StructField("version", StringType()),
        StructField("state", BinaryType()),
        StructField("timer", LongType()),
        StructField("due", LongType()),
    ]
)
# Dead-letter reasons decided here, in event time, rather than by the parser.
PROCESSOR_REASONS = (DeadLetterReason.LATE, DeadLetterReason.FUTURE)

# The processor's input columns, as the query selects them: the state bucket (the grouping key);
# the reading (its signal as an index into ``rules.kernel.SIGNALS``, its values as
# ``VALUE_FIELDS``); the Kafka record's timestamp; the patient's roster entry packed as JSON
# (``context``: bed, ward, overrides; null without a roster); what a dead letter needs, packed
# as JSON (``source``: the original key and value as base64, topic, partition, offset); and the
# parser's dead-letter reason (null for a valid reading).
INPUT_COLUMNS = (
    "state_bucket", "patient_id", "signal", "event_ms", *VALUE_FIELDS, "source_timestamp",
    "context", "source", "reason",
)  # fmt: skip


class _Decoded:
    """The buckets this Python worker process last wrote, decoded, each with the random version
    token stored beside it in Spark's state.

    Spark keeps Python workers between micro-batches and hands a partition's next task to any
    idle one, so a worker often meets a bucket it wrote itself; decoding its state again is
    then wasted. The token says whether the state Spark holds is exactly what this worker
    wrote: after a failed batch, a restart from the checkpoint or another worker's write it
    differs, and the state is decoded. An entry is taken out while its bucket is processed (so
    a batch that fails half way leaves nothing behind) and put back with its new token. At most
    one entry per bucket is kept: memory of the order of the state of the buckets this worker
    met.
    """

    def __init__(self) -> None:
        self._entries: dict[Any, tuple[str, Bucket]] = {}

    def load(self, key: Any, version: str | None, encoded: bytes | None) -> Bucket:
        entry = self._entries.pop(key, None)
        if entry is not None and entry[0] == version:
            return entry[1]
        return Bucket.decode(encoded)

    def save(self, key: Any, bucket: Bucket) -> tuple[str, bytes]:
        version = uuid.uuid4().hex
        self._entries[key] = (version, bucket)
        return version, bucket.encode()


_DECODED = _Decoded()  # per Python worker process


class _Collector:
    """Garbage collection paced for a worker that keeps the decoded state of its buckets.

    PySpark's daemon runs a full ``gc.collect()`` after every task of a reused worker, which
    walks every live object, the state ``_Decoded`` keeps included. So at the end of each task
    everything alive is frozen (``gc.freeze``): later collections skip it, while reference
    counting still frees a bucket's state as soon as a newer one replaces it. The task's own
    cyclic garbage (PySpark's) is frozen with the rest, and a full collection every
    ``FULL_EVERY`` tasks reclaims it.
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


def _context(patient_id: str, packed: str | None) -> PatientContext:
    """The patient's roster entry, as joined to its readings."""
    if packed is None:
        return PatientContext(patient_id)
    entry = orjson.loads(packed)
    limits = {k: v for k, v in (entry.get("overrides") or {}).items() if v is not None}
    return PatientContext(
        patient_id,
        bed=entry.get("bed") or "unknown",
        ward=entry.get("ward") or "unknown",
        overrides=limits,
    )


def _dead_letters(frame: pd.DataFrame, reasons: Sequence[str] | str, topic: str) -> pd.DataFrame:
    """Dead letters of these readings, as they came (``reasons``: each one's, or one for all)."""
    if isinstance(reasons, str):
        reasons = [reasons] * len(frame)
    sources = [orjson.loads(packed) for packed in frame["source"].tolist()]
    event_ms = frame["event_ms"].tolist()
    return pd.DataFrame(
        {
            "topic": topic,
            "key": [_raw(source, "raw_key") for source in sources],
            "value": [_raw(source, "raw_value") for source in sources],
            "rule_id": None,
            "alert_state": None,
            "deadletter_reason": list(reasons),
            "event_ms": [None if ms != ms else int(ms) for ms in event_ms],  # NaN: none
            "onset_ms": None,
            "source_topic": [source["source_topic"] for source in sources],
            "source_partition": [source["source_partition"] for source in sources],
            "source_offset": [source["source_offset"] for source in sources],
        },
        columns=_OUTPUT_COLUMNS,
    )


def _raw(source: dict[str, Any], name: str) -> bytes | None:
    encoded = source.get(name)
    return None if encoded is None else base64.b64decode(encoded)


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
        pairing_wait_ms: int = PAIRING_WAIT_MS,
        alert_messages: bool = True,
    ) -> None:
        """``timers``: run with processing-time timers (the live stream); without them (a batch
        over history) nothing happens between readings and the end flushes what is held.
        ``max_clock_skew_ms``: how far a reading may be stamped ahead of its Kafka record.
        ``pairing_wait_ms``: how long a rule pairing signals waits for a quiet feed.
        ``alert_messages``: write each alert's message (the Kafka value); without, an alert is
        only its columns (rule, patient as key, state, onset and detection time), all that a
        backtest's report reads."""
        self._rules = list(rules)
        self._allowed_lateness_ms = allowed_lateness_ms
        self._max_clock_skew_ms = max_clock_skew_ms
        self._pairing_wait_ms = pairing_wait_ms
        self._alerts_topic = alerts_topic
        self._deadletter_topic = deadletter_topic
        self._state_ttl_ms = state_ttl_ms
        self._timers = timers
        self._alert_messages = alert_messages

    def init(self, handle: StatefulProcessorHandle) -> None:
        if TaskContext.get() is not None:  # in Spark's Python worker (not a driver or a test)
            # Few live objects are cyclic garbage here. The default thresholds made the
            # collector walk the per-patient JSON state of old so often that decoding took 3x
            # as long (measured then); the columnar state is a few objects a patient, and this
            # pacing, kept, has not been measured again.
            gc.set_threshold(50_000, 20, 100)
        self._handle = handle
        self._state = handle.getValueState("bucket", _STATE_SCHEMA)
        self._engine = ColumnarEngine(
            self._rules, self._allowed_lateness_ms, self._pairing_wait_ms, self._state_ttl_ms
        )

    def handleInputRows(
        self, key: Any, rows: Iterator[pd.DataFrame], timerValues: TimerValues
    ) -> Iterator[pd.DataFrame]:
        now = timerValues.getCurrentProcessingTimeInMs() if self._timers else None
        frames = list(rows)
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        stored = self._state.get()  # None when the bucket has no state yet
        bucket = self._load(key, stored)
        invalid = frame["reason"].notna().to_numpy()
        published = frame["source_timestamp"].to_numpy(np.float64)
        event_ms = frame["event_ms"].to_numpy(np.float64)
        # Stamped further ahead of its Kafka record than clocks may be off: kept out of the
        # rules, whose watermark it would move ahead (records without a timestamp, as in a
        # backtest over files, are not judged).
        future = ~invalid & (event_ms > published + self._max_clock_skew_ms)
        valid = frame if not (invalid.any() or future.any()) else frame[~invalid & ~future]
        dead: list[pd.DataFrame] = []
        if invalid.any():
            dead.append(self._dead_letters(frame[invalid], frame["reason"][invalid].tolist()))
        if future.any():
            dead.append(self._dead_letters(frame[future], DeadLetterReason.FUTURE.value))
        alerts: list[Alert] = []
        released_ms = _wall_clock_ms()
        slots = np.empty(0, np.int64)
        if len(valid):
            codes, ids = pd.factorize(valid["patient_id"], sort=False)
            firsts = np.unique(codes, return_index=True)[1]
            packed = valid["context"].to_numpy(object)[firsts].tolist()
            contexts = [_context(pid, c) for pid, c in zip(ids.tolist(), packed, strict=True)]
            slots = bucket.admit(ids.tolist(), contexts)[codes]
            fired, late = self._engine.process(
                bucket,
                slots,
                valid["signal"].to_numpy(np.int8),
                valid["event_ms"].to_numpy(np.int64),
                valid[list(VALUE_FIELDS)].to_numpy(np.float64),
                now,
            )
            alerts += fired
            if late.any():
                dead.append(self._dead_letters(valid[late], DeadLetterReason.LATE.value))
        if now is None:  # over history a key's rows all come in one call: that is the end
            if len(slots):
                alerts += self._engine.flush(bucket, np.unique(slots))
        else:  # what the bucket's timer would do later in this batch, done now
            bucket.due = self._engine.deadlines(bucket)
            alerts += self._tick(bucket, now)
        timer = stored[2] if stored else None
        self._save(key, bucket, now, timer)
        yield from self._alert_frames(alerts, now, released_ms)
        yield from dead

    def handleExpiredTimer(
        self, key: Any, timerValues: TimerValues, expiredTimerInfo: ExpiredTimerInfo
    ) -> Iterator[pd.DataFrame]:
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
            bucket.due = self._engine.deadlines(bucket)
        released_ms = _wall_clock_ms()
        alerts = self._tick(bucket, now)
        self._save(key, bucket, now, None)
        yield from self._alert_frames(alerts, now, released_ms)

    def _tick(self, bucket: Bucket, now: int) -> list[Alert]:
        """Tick the patients whose deadline (``bucket.due``, worked out) has passed, forget
        those silent for the state's TTL, and work out the others' next deadline."""
        assert bucket.due is not None
        slots = np.flatnonzero((bucket.due != NO_TIME) & (bucket.due <= now))
        if not len(slots):
            return []
        alerts = self._engine.tick(bucket, slots, now)
        gone = self._engine.expired(bucket, slots, now)
        if len(gone):  # silent for a day: discharged or moved
            bucket.drop(gone)
        bucket.due = self._engine.deadlines(bucket, after=now)
        return alerts

    def _load(self, key: Any, stored: tuple[Any, ...] | None) -> Bucket:
        return _DECODED.load(key, *(stored[:2] if stored else (None, None)))

    def _save(self, key: Any, bucket: Bucket, now: int | None, timer: int | None) -> None:
        """Store the bucket; live, with a timer at the earliest deadline of its patients, set
        only when none is pending or the deadline is earlier (a steady feed costs no timer
        calls; a timer that fires early finds ``due`` later and is set again, cheaply)."""
        bucket.keep_rules(self._engine.kernels)
        due = None
        if now is not None and bucket.due is not None:
            pending = bucket.due[bucket.due != NO_TIME]
            due = int(pending.min()) if len(pending) else None
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

    def _dead_letters(self, frame: pd.DataFrame, reasons: Sequence[str] | str) -> pd.DataFrame:
        return _dead_letters(frame, reasons, self._deadletter_topic)

    def _alert_frames(
        self, alerts: list[Alert], now: int | None, released_ms: int
    ) -> Iterator[pd.DataFrame]:
        if not alerts:
            return
        emitted_ms = now if now is not None else released_ms
        yield pd.DataFrame(
            {
                "topic": self._alerts_topic,
                "key": [alert.patient_id.encode() for alert in alerts],
                "value": (
                    [alert.to_json(emitted_ms, released_ms) for alert in alerts]
                    if self._alert_messages
                    else None
                ),
                "rule_id": [alert.rule_id for alert in alerts],
                "alert_state": [alert.state.value for alert in alerts],
                "deadletter_reason": None,
                "event_ms": [alert.detected_ms for alert in alerts],
                "onset_ms": [alert.onset_ms for alert in alerts],
                "source_topic": None,
                "source_partition": None,
                "source_offset": None,
            },
            columns=_OUTPUT_COLUMNS,
        )

    def close(self) -> None:
        if TaskContext.get() is not None:  # the end of a task in Spark's Python worker
            _COLLECTOR.task_done()
