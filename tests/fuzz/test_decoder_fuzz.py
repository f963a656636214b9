"""Fuzz of the message decoder (``parse_readings``) on real Spark: 100,000 generated Kafka records
(``reading_records``: valid readings mixed with every kind of bad input) through one batch
DataFrame, each judged against an independent pure-Python oracle (``readings_oracle``); then
2,000 of them, with every oversized one, through the whole batch job (``build_outputs``, what
the backtest runs) to see that what the decoder refuses comes out as a dead letter.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from typing import Any

import pytest

from tests.fuzz.reading_records import Record, kafka_records
from tests.fuzz.readings_oracle import BLOOD_PRESSURE_TOPIC, HEART_RATE_TOPIC, Verdict, judge
from vitalwatch.backtest.run import records_frame
from vitalwatch.contracts.readings import (
    PATIENT_ID_PATTERN,
    POSSIBLE_RANGE,
    REASON_HEADER,
    SIGNAL_FIELDS,
    DeadLetterReason,
    Signal,
)
from vitalwatch.rules.loader import load_rules
from vitalwatch.stream.job import build_outputs
from vitalwatch.stream.parse import parse_readings

pytestmark = [pytest.mark.fuzz, pytest.mark.spark]

RECORDS = 100_000
SEED = 20261126
JOB_SAMPLE = 2_000
OVERSIZED = 512 * 1024
# The reasons the decoder gives (the stream processor adds ``late`` and ``future``).
PARSER_REASONS = {r.value for r in DeadLetterReason} - {"late", "future"}
SIGNAL_OF_TOPIC = {HEART_RATE_TOPIC: Signal.HEART_RATE, BLOOD_PRESSURE_TOPIC: Signal.BLOOD_PRESSURE}


@pytest.fixture(scope="module")
def records(base_settings) -> list[Record]:
    topics = base_settings.topics
    assert (topics.heart_rate, topics.blood_pressure) == (HEART_RATE_TOPIC, BLOOD_PRESSURE_TOPIC)
    return list(kafka_records(RECORDS, SEED))


def kafka_frame(spark: Any, records: list[Record], offsets: list[int]) -> Any:
    """Records shaped like the Kafka source's, the offset telling each apart (through Arrow, as
    a backtest hands them over: 100,000 rows of up to 1.3 MB each cross to the JVM in seconds)."""
    rows = [(*record, 0, offset, None) for record, offset in zip(records, offsets, strict=True)]
    return records_frame(spark, rows)


def _contract_problems(row: dict[str, Any], topic: str) -> list[str]:
    """What a valid reading breaks of the contract (nothing, for a correct decoder)."""
    signal = SIGNAL_OF_TOPIC[topic]
    problems = []
    if row["signal"] != signal.value:
        problems.append(f"signal {row['signal']!r} on {topic}")
    if row["patient_id"] is None or not re.match(PATIENT_ID_PATTERN, row["patient_id"]):
        problems.append(f"patient id {row['patient_id']!r}")
    if row["event_ms"] is None:
        problems.append("no event time")
    for name in SIGNAL_FIELDS[signal]:
        value, (low, high) = row[name], POSSIBLE_RANGE[name]
        if value is None or not math.isfinite(value) or not low <= value <= high:
            problems.append(f"{name} {value!r}")
    if signal is Signal.BLOOD_PRESSURE and not row["diastolic"] <= row["systolic"]:
        problems.append("diastolic above systolic")
    return problems


def _disagreement(row: dict[str, Any], verdict: Verdict) -> str | None:
    """How decoder and oracle differ on a record (None: they agree)."""
    if (row["reason"] is None) != (verdict.problem is None):
        return f"decoder {row['reason'] or 'valid'}, oracle {verdict.problem or 'valid'}"
    if verdict.problem is not None:
        return None
    if (row["patient_id"], row["event_ms"]) != (verdict.patient_id, verdict.event_ms):
        return "decoder and oracle read another patient or time"
    for name, expected in verdict.values:
        if not math.isclose(row[name], expected, rel_tol=1e-12, abs_tol=1e-12):
            return f"decoder and oracle read another {name}"
    return None


def _example(record: Record, what: str) -> str:
    key, value, topic = record
    shown = value if value is None or len(value) <= 160 else value[:160] + b"..."
    return f"{what}: key={key!r} topic={topic} value={shown!r}"


def _examples(found: dict[str, list[Record]], per_kind: int = 2) -> str:
    """A few records of each kind of finding, most frequent kind first."""
    kinds = sorted(found.items(), key=lambda item: -len(item[1]))
    return "\n".join(
        f"[{len(records)}x] " + _example(record, kind)
        for kind, records in kinds
        for record in records[:per_kind]
    )


def test_every_record_is_one_valid_reading_or_refused_with_a_reason(
    spark, base_settings, records
) -> None:
    """100,000 records: none lost or doubled, each a valid reading within the contract or a
    reason from ``DeadLetterReason``, and valid exactly when the oracle says so (with the same
    patient, event time and values)."""
    frame = kafka_frame(spark, records, list(range(len(records))))
    columns = ["source_offset", "reason", "signal", "patient_id", "event_ms", *POSSIBLE_RANGE]
    rows = parse_readings(frame, base_settings.topics).select(*columns).toArrow().to_pylist()

    offsets = Counter(row["source_offset"] for row in rows)
    assert len(rows) == len(records) and set(offsets) == set(range(len(records)))
    broken: dict[str, list[Record]] = defaultdict(list)
    disagreements: dict[str, list[Record]] = defaultdict(list)
    reasons: Counter[str] = Counter()
    for row in rows:
        record = records[row["source_offset"]]
        if row["reason"] is None:
            for problem in _contract_problems(row, record[2]):
                broken[problem].append(record)
        else:
            reasons[row["reason"].split(":")[0]] += 1
            if row["reason"].split(":")[0] not in PARSER_REASONS:
                broken[f"reason {row['reason']!r}"].append(record)
        disagreement = _disagreement(row, judge(*record))
        if disagreement:
            disagreements[disagreement].append(record)
    assert not broken, "valid readings that break the contract:\n" + _examples(broken)
    assert not disagreements, "records decoder and oracle judge differently:\n" + _examples(
        disagreements
    )
    # The mix reaches every reason the decoder gives, and valid readings are not a rarity.
    assert set(reasons) == PARSER_REASONS and min(reasons.values()) >= 100, reasons
    assert sum(reasons.values()) < 0.6 * len(records)


def test_the_batch_job_dead_letters_what_the_decoder_refuses(spark, base_settings, records):
    """2,000 records and every oversized one through ``build_outputs`` in batch (the backtest's
    path, with the shipped rules): every refused record comes out once on the dead-letter topic
    with its original key, bytes, offset and the decoder's reason, and nothing else does."""
    chosen = sorted(
        set(range(JOB_SAMPLE))
        | {i for i, (_, value, _) in enumerate(records) if value and len(value) > OVERSIZED}
    )
    assert len(chosen) > JOB_SAMPLE, "the sample holds no oversized record"
    frame = kafka_frame(spark, [records[i] for i in chosen], chosen)
    batch = base_settings.model_copy(
        update={"rules": base_settings.rules.model_copy(update={"allowed_lateness": 0})}
    )
    rules = load_rules(batch.rules.directory)
    outputs = build_outputs(frame, rules, batch, live=False).collect()

    refused = {
        row.source_offset: row.reason
        for row in parse_readings(frame, batch.topics).select("source_offset", "reason").collect()
        if row.reason is not None
    }
    dead = [row for row in outputs if row.topic == batch.topics.deadletter]
    got: dict[int, str] = {}
    for row in dead:
        headers = {name: value.decode() for name, value in row.headers}
        offset = int(headers["source.offset"])
        assert offset not in got, f"offset {offset} dead-lettered twice"
        got[offset] = headers[REASON_HEADER]
        key, value, topic = records[offset]
        assert (row.key, row.value, headers["source.topic"]) == (key, value, topic)
    assert got == refused
    assert 0.3 * len(chosen) < len(refused) < 0.7 * len(chosen)
    alerts = [row for row in outputs if row.topic == batch.topics.alerts]
    assert {row.rule_id for row in alerts} <= {rule.spec.id for rule in rules}
