"""The query supervisor's decisions, with a stand-in query handle (pure logic, no Spark)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import structlog.testing

from tests.unit.service.test_http_health import Clock
from vitalwatch.metrics import Metrics
from vitalwatch.service.health import Check
from vitalwatch.service.progress import ProgressTracker, Throughput
from vitalwatch.service.query import QuerySupervisor, error_summary, failure_causes
from vitalwatch.service.restart import RestartPolicy
from vitalwatch.service.technical_alarm import TechnicalAlarm


class FakeQuery:
    name = "q"

    def __init__(self) -> None:
        self.isActive = True
        self.error: str | None = None
        self.status = {"isTriggerActive": False}

    def exception(self) -> str | None:
        return self.error

    def stop(self) -> None:
        self.isActive = False


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def build(
    max_failures: int = 3, failing: list[Check] | None = None
) -> tuple[QuerySupervisor, list[FakeQuery], Clock, Metrics, list]:
    clock, metrics, started = Clock(), Metrics(), []
    failing = failing if failing is not None else []
    published: list = []

    def start() -> FakeQuery:
        started.append(FakeQuery())
        return started[-1]

    supervisor = QuerySupervisor(
        start,  # type: ignore[arg-type]
        RestartPolicy(1, 4, max_failures, 600),
        ProgressTracker(clock),
        metrics,
        TechnicalAlarm(metrics, lambda k, v, h: published.append((k, v, h))),
        clock,
        lambda: list(failing),
    )
    return supervisor, started, clock, metrics, published


def test_a_failed_query_restarts_after_its_backoff_and_is_counted() -> None:
    supervisor, started, clock, metrics, published = build()
    supervisor.start()
    started[0].isActive = False
    started[0].error = (
        "[STREAM_FAILED] Query terminated\n"
        "org.apache.spark.api.python.PythonException: Traceback (most recent call last):\n"
        '  File "rule.py", line 3, in step\n'
        "RuntimeError: P-0042 boom"
    )
    with structlog.testing.capture_logs() as logs:
        assert supervisor.tick()
    assert not supervisor.running()
    assert logs[0]["event"] == "query.failed"
    assert logs[0]["error"] == "STREAM_FAILED/PythonException/RuntimeError"
    assert "P-0042" not in str(logs) + str(published)
    assert value(metrics, "vitalwatch_technical_alerts_total", component="query") == 1
    assert published[0][2] == [("reason", b"technical:query")]
    clock.now += 0.9
    assert supervisor.tick() and len(started) == 1
    clock.now += 0.2
    assert supervisor.tick() and len(started) == 2
    assert supervisor.running()
    assert value(metrics, "vitalwatch_query_restarts_total") == 1


def test_too_many_failures_in_the_window_give_up() -> None:
    supervisor, started, clock, metrics, _ = build(max_failures=2)
    supervisor.start()
    started[-1].isActive = False  # stopped from outside, no exception: still a failure
    assert supervisor.tick()
    clock.now += 1
    assert supervisor.tick()
    started[-1].isActive = False
    with structlog.testing.capture_logs() as logs:
        assert not supervisor.tick()
    assert [e["event"] for e in logs] == ["query.gave_up"]
    assert value(metrics, "vitalwatch_technical_alerts_total", component="query") == 2


def test_a_restart_that_raises_counts_as_another_failure() -> None:
    supervisor, started, clock, metrics, _ = build()
    supervisor.start()
    supervisor._start = lambda: (_ for _ in ()).throw(ConnectionError("broker down"))  # type: ignore[assignment]
    started[0].isActive = False
    assert supervisor.tick()
    clock.now += 1
    assert supervisor.tick()  # restart raised: failure 2, backoff 2 s
    assert value(metrics, "vitalwatch_technical_alerts_total", component="query") == 2
    assert value(metrics, "vitalwatch_query_restarts_total") == 0


def test_a_failure_while_a_dependency_fails_waits_for_it_and_is_not_counted() -> None:
    failing = [Check("checkpoint", False, "cannot write in /var/cp/offsets: Read-only")]
    supervisor, started, clock, metrics, _ = build(max_failures=2, failing=failing)
    supervisor.start()
    for _ in range(3):  # more failures than max_failures: none counted, never gives up
        started[-1].isActive = False
        with structlog.testing.capture_logs() as logs:
            assert supervisor.tick()
        assert logs[0]["event"] == "query.failed"
        assert logs[0]["waiting_for"] == {"checkpoint": failing[0].detail}
        clock.now += 60
        assert supervisor.tick() and not supervisor.running()  # still waiting
        failing.clear()
        assert supervisor.tick() and supervisor.running()  # restarted at once
        failing.append(Check("checkpoint", False, "cannot write in /var/cp/offsets: Read-only"))
    assert len(started) == 4
    assert supervisor._policy.recent_failures == 0
    assert value(metrics, "vitalwatch_query_restarts_total") == 3
    assert value(metrics, "vitalwatch_technical_alerts_total", component="query") == 3


def test_drain_is_bounded_when_the_running_batch_never_finishes() -> None:
    supervisor, started, _, _, _ = build()
    supervisor.start()
    started[0].status["isTriggerActive"] = True
    assert 0.2 <= supervisor.drain(0.2) < 1
    assert not started[0].isActive


def test_drain_stops_once_the_running_batch_completes_not_the_backlog() -> None:
    supervisor, started, _, _, _ = build()
    progress = supervisor._progress
    supervisor.start()
    started[0].status["isTriggerActive"] = True  # stays active: the next batch starts at once
    threading.Timer(0.3, progress.progressed, args=(Throughput(batch_id=7),)).start()
    assert 0.3 <= supervisor.drain(10) < 2
    assert not started[0].isActive


def test_error_summary_keeps_names_only() -> None:
    assert error_summary("nothing recognisable") == "unknown"
    assert error_summary("java.lang.IllegalStateException: x") == "IllegalStateException"
    # Spark's job abort names the task's exception in mid-line, after text that may quote data.
    crash = (
        "Job aborted due to stage failure: Task 1 in stage 7.0 failed 1 times, most recent "
        "failure: Lost task 1.0 (TID 9): org.apache.spark.SparkException: Python worker exited "
        "unexpectedly (crashed). P-0042"
    )
    assert error_summary(crash) == "SparkException"


class _JavaClass:
    """Stands in for a py4j handle on a Java exception (only ``getClass().getName()``)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def getClass(self) -> _JavaClass:
        return self

    def getName(self) -> str:
        return self._name


def test_failure_causes_name_what_the_message_does_not() -> None:
    # As PySpark builds them: a Java exception it has no class for keeps its toString() as
    # ``_desc`` (UnknownException), one it knows keeps the Java object as ``_origin``.
    failure = Exception("/ckpt/commits/.1.tmp (Operation not permitted)")
    failure._cause = SimpleNamespace(  # type: ignore[attr-defined]
        _origin=None,
        _desc="java.io.FileNotFoundException: /ckpt/commits/.1.tmp (Operation not permitted)",
        _cause=SimpleNamespace(_origin=_JavaClass("org.apache.spark.SparkException"), _cause=None),
    )
    causes = failure_causes(failure)
    assert causes[1] == "org.apache.spark.SparkException"
    summary = error_summary("\n".join([str(failure), *causes]))
    assert summary == "FileNotFoundException/SparkException"
    assert failure_causes(Exception("no cause")) == []
