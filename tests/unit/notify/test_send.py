"""The send stage: retries with backoff, counting, stopping during a backoff."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry

from vitalwatch.metrics import Metrics
from vitalwatch.notify.stages.send import Sender
from vitalwatch.testing import RecordingReceiver


def count(metrics: Metrics, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "vitalwatch_notifications_total", {"receiver": "ward", "outcome": outcome}
    )
    return value or 0.0


def test_a_transient_failure_is_retried_then_sent() -> None:
    metrics, target = Metrics(CollectorRegistry()), RecordingReceiver(failures=2)
    assert Sender(metrics, 3, 1).send("ward", target, "t", "b", threading.Event()) is True
    assert target.attempts == 3 and target.sent == [("t", "b")]
    assert (count(metrics, "retried"), count(metrics, "sent"), count(metrics, "failed")) == (
        2, 1, 0,
    )  # fmt: skip


def test_a_target_that_stays_down_fails_after_max_attempts() -> None:
    metrics, target = Metrics(CollectorRegistry()), RecordingReceiver(failures=-1)
    assert Sender(metrics, 3, 1).send("ward", target, "t", "b", threading.Event()) is False
    assert target.attempts == 3 and count(metrics, "failed") == 1


def test_a_plugin_exception_counts_as_a_failed_attempt() -> None:
    class Broken(RecordingReceiver):
        def send(self, title: str, body: str) -> bool:
            raise RuntimeError("bug")

    metrics = Metrics(CollectorRegistry())
    assert Sender(metrics, 2, 1).send("ward", Broken(), "t", "b", threading.Event()) is False


def test_stopping_during_backoff_leaves_the_delivery_for_later() -> None:
    metrics, target, stop = (
        Metrics(CollectorRegistry()),
        RecordingReceiver(failures=-1),
        (threading.Event()),
    )
    stop.set()
    assert Sender(metrics, 3, 1000).send("ward", target, "t", "b", stop) is None
    assert target.attempts == 1 and count(metrics, "failed") == 0
