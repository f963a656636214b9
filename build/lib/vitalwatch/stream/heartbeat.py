"""A clock tick for the query: one small record per trigger on the heartbeat topic.

The query's processing-time timers (held readings of a quiet feed, ``no_data``, the state TTL)
fire only when a micro-batch runs, and PySpark 4.2's Python stateful operator runs a batch only
when some source has new records (measured: no batch in the seconds after every feed stopped,
timers pending). Without this, a ward whose gateway goes down entirely - the case ``no_data``
exists for - would raise nothing until data came back. The daemon therefore writes a tick per
trigger to ``topics.heartbeat``, which the query subscribes to and drops before parsing; every
tick makes a batch, and every batch runs the timers that are due.
"""

from __future__ import annotations

import threading

import structlog

from vitalwatch.kafka_clients import make_producer
from vitalwatch.metrics import Metrics
from vitalwatch.settings import Settings

log = structlog.get_logger(__name__)


def run_heartbeat(settings: Settings, metrics: Metrics, stop: threading.Event) -> None:
    """Produce a tick every trigger interval until ``stop``; failures are logged and counted
    (a missing tick delays timers by a trigger, it loses nothing)."""
    producer = make_producer(settings)
    interval_s = settings.spark.trigger / 1000
    while not stop.wait(interval_s):
        try:
            producer.produce(settings.topics.heartbeat, value=b"")
            producer.poll(0)
        except Exception as exc:  # BufferError, KafkaException: both transient here
            metrics.errors.labels("heartbeat", type(exc).__name__).inc()
            log.warning("heartbeat.failed", error=str(exc))
    producer.flush(5)
