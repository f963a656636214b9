"""Target lanes: a target that hangs or keeps failing delays only its own messages."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from vitalwatch.metrics import Metrics
from vitalwatch.notify.stages.deliver import TargetLanes


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_blocked_lane_does_not_hold_up_another_and_one_lane_keeps_order() -> None:
    lanes, release, done = TargetLanes(Metrics(CollectorRegistry())), threading.Event(), []
    lanes.submit("email", lambda: (release.wait(5), done.append("email-1")))
    lanes.submit("email", lambda: done.append("email-2"))
    lanes.submit("pager", lambda: done.append("pager-1"))
    wait_until(lambda: "pager-1" in done)
    assert done == ["pager-1"]
    release.set()
    wait_until(lambda: len(done) == 3)
    assert done == ["pager-1", "email-1", "email-2"]
    lanes.close(timeout=5)


def test_closing_lets_the_running_job_finish_and_drops_the_queued_ones() -> None:
    lanes, started, done = TargetLanes(Metrics(CollectorRegistry())), threading.Event(), []
    lanes.submit("a", lambda: (started.set(), time.sleep(0.2), done.append(1)))
    lanes.submit("a", lambda: done.append(2))
    started.wait(5)
    lanes.close(timeout=5)
    assert done == [1]


def test_an_error_in_a_job_is_counted_and_the_lane_goes_on() -> None:
    metrics = Metrics(CollectorRegistry())
    lanes, done = TargetLanes(metrics), []

    def broken() -> None:
        raise RuntimeError("bug")

    lanes.submit("a", broken)
    lanes.submit("a", lambda: done.append("after"))
    wait_until(lambda: done == ["after"])
    lanes.close(timeout=5)
    assert done == ["after"]
    assert (
        metrics.registry.get_sample_value(
            "vitalwatch_technical_alerts_total", {"component": "notifier"}
        )
        == 1
    )
