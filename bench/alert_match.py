"""Do two processors produce the same alerts? The Spark job's and the Quix Streams peer's, read
from their alert topics and compared message by message."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from vitalwatch.kafka_clients import client_config
from vitalwatch.settings import Settings

# What an alert message says about the patient and the episode; the rest (``emitted``, the
# processing time of its writing) differs from run to run by nature.
DECIDED = ("rule_id", "patient_id", "severity", "onset_ms", "detected_ms", "values", "summary",
           "labels", "latching")  # fmt: skip

AlertKey = tuple[str, str, int]  # alert_id, state, repeat


@dataclass(frozen=True)
class AlertComparison:
    matched: int
    only_job: list[AlertKey]
    only_peer: list[AlertKey]
    differing: list[AlertKey]  # in both, but not deciding the same (another value, time, ...)
    duplicates: int  # messages repeated within one side (at-least-once redelivery)
    rules: dict[str, int]  # the job's alert messages by rule

    @property
    def same(self) -> bool:
        return not (self.only_job or self.only_peer or self.differing)

    def summary(self) -> str:
        rules = ", ".join(f"{rule} {n}" for rule, n in sorted(self.rules.items()))
        if self.same:
            return f"same {self.matched} alert messages ({rules})"
        return (
            f"{self.matched} same, {len(self.only_job)} only from the job, "
            f"{len(self.only_peer)} only from the peer, {len(self.differing)} differing "
            f"(the job's: {rules})"
        )


def _by_key(messages: list[dict[str, Any]]) -> tuple[dict[AlertKey, dict[str, Any]], int]:
    keys = Counter((m["alert_id"], m["state"], m.get("repeat", 0)) for m in messages)
    decided = {
        (m["alert_id"], m["state"], m.get("repeat", 0)): {f: m.get(f) for f in DECIDED}
        for m in messages
    }
    return decided, sum(n - 1 for n in keys.values())


def compare_alerts(job: list[dict[str, Any]], peer: list[dict[str, Any]]) -> AlertComparison:
    """Alert messages keyed by (alert id, state, repeat): an episode's firing, re-notifications
    and resolve each appear once on each side, deciding the same."""
    job_alerts, job_dups = _by_key(job)
    peer_alerts, peer_dups = _by_key(peer)
    common = job_alerts.keys() & peer_alerts.keys()
    differing = sorted(k for k in common if job_alerts[k] != peer_alerts[k])
    return AlertComparison(
        matched=len(common) - len(differing),
        only_job=sorted(job_alerts.keys() - peer_alerts.keys()),
        only_peer=sorted(peer_alerts.keys() - job_alerts.keys()),
        differing=differing,
        duplicates=job_dups + peer_dups,
        rules=dict(Counter(m["rule_id"] for m in job)),
    )


def read_alerts(settings: Settings, topic: str) -> list[dict[str, Any]]:
    """Every message on ``topic`` now, decoded."""
    config = client_config(settings, **{"group.id": f"bench-{uuid.uuid4().hex}",
                                        "enable.partition.eof": True})  # fmt: skip
    consumer = Consumer(config)
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    pending, messages = set(partitions), []
    while pending:
        for message in consumer.consume(1000, timeout=1.0):
            error = message.error()
            if error is not None and error.code() == KafkaError._PARTITION_EOF:
                pending.discard(message.partition())
            elif error is not None:
                raise KafkaException(error)
            else:
                messages.append(json.loads(message.value()))
    consumer.close()
    return messages
