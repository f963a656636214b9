"""Keeps the streaming query running: restarts a failed one from its checkpoint, drains on stop.

A query that ends without being asked to (an exception in a batch, a stop from outside) is a
failure: it is raised as a technical alarm, counted, and restarted after the policy's backoff
from the same checkpoint, so no reading is skipped and a re-run batch writes the same alert ids.
When the policy gives up, ``tick`` returns False and the daemon exits non-zero for systemd.

A failure while a dependency fails (the broker does not answer, the checkpoint cannot be
written; ``dependencies`` says which) is not the query's: a new process would fail the same way,
so it is raised as a technical alarm naming the dependency, not counted toward giving up, and
the query restarts as soon as every dependency answers again. The daemon stays up (not ready)
meanwhile, and recovers without anyone restarting it.

Called from the supervisor loop only (one thread); Spark's query handle is thread-safe enough for
the ``/readyz`` handler to read ``isActive``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import structlog
from pyspark.sql.streaming.query import StreamingQuery

from vitalwatch.metrics import Metrics
from vitalwatch.service.health import Check
from vitalwatch.service.progress import ProgressTracker
from vitalwatch.service.restart import RestartPolicy
from vitalwatch.service.technical_alarm import TechnicalAlarm

log = structlog.get_logger(__name__)

StartQuery = Callable[[], StreamingQuery]

_ERROR_CLASS = re.compile(r"\[([A-Z][A-Z0-9_.]+)\]")
# An exception type at the start of a line (a traceback's last line), or qualified by its
# package anywhere (Spark's "... most recent failure: ... org.apache.spark.SparkException: ...").
_EXCEPTION_TYPE = re.compile(
    r"(?:^\s*(?:[\w.]+\.)?|\b(?:[a-z_]\w*\.)+)(\w+(?:Error|Exception))\b", re.MULTILINE
)


def error_summary(text: str) -> str:
    """Spark error classes and exception types only: a failure's message may quote data."""
    names = _ERROR_CLASS.findall(text) + _EXCEPTION_TYPE.findall(text)
    return "/".join(dict.fromkeys(names)) or "unknown"


def failure_causes(exception: BaseException, limit: int = 8) -> list[str]:
    """What PySpark keeps of the exceptions behind a query's failure, outermost first: each
    one's Java class, or its Java ``toString()``, which starts with it. The failure's own
    message may name no type (a read-only checkpoint: "<path> (Operation not permitted)").
    For ``error_summary`` only: a message may quote data."""
    texts: list[str] = []
    cause = getattr(exception, "_cause", None)
    while cause is not None and len(texts) < limit:
        origin = getattr(cause, "_origin", None)
        try:
            texts.append(
                str(origin.getClass().getName()) if origin is not None else str(cause._desc)
            )
        except Exception:  # the JVM is going away: what was read is enough
            break
        cause = getattr(cause, "_cause", None)
    return texts


class QuerySupervisor:
    def __init__(
        self,
        start: StartQuery,
        policy: RestartPolicy,
        progress: ProgressTracker,
        metrics: Metrics,
        alarm: TechnicalAlarm,
        clock: Callable[[], float] = time.monotonic,
        dependencies: Callable[[], list[Check]] = list,
    ) -> None:
        self._start = start
        self._policy = policy
        self._progress = progress
        self._metrics = metrics
        self._alarm = alarm
        self._clock = clock
        self._failing_dependencies = dependencies
        self._query: StreamingQuery | None = None
        self._restart_at: float | None = None
        self._waiting = False  # for a failing dependency, to restart when it answers

    def start(self) -> StreamingQuery:
        """First start: a failure here propagates (bad settings, no broker: nothing to retry)."""
        self._query = self._start()
        self._progress.started()
        return self._query

    def replace(self, start: StartQuery) -> None:
        """Run a new query (rules reloaded) from the same checkpoint."""
        if self._query is not None:
            self._query.stop()
        self._start = start
        self._restart_at = None
        self._waiting = False
        self.start()

    def running(self) -> bool:
        query = self._query
        waiting = self._waiting or self._restart_at is not None
        return query is not None and not waiting and bool(query.isActive)

    def tick(self) -> bool:
        """Notice a failed query, restart it when its backoff is over or the dependency it
        waits for answers; False: give up."""
        now = self._clock()
        if self._waiting:
            if self._failing_dependencies():
                return True
            self._waiting = False
            self._restart_at = now
        if self._restart_at is None:
            if self._query is None or self._query.isActive:
                return True
            return self._failed(self._describe(self._query))
        if now < self._restart_at:
            return True
        try:
            self._query = self._start()
        except Exception as exc:  # e.g. the broker is unreachable: same policy as a failure
            self._query = None
            return self._failed(error_summary(f"{type(exc).__name__}: {exc}"))
        self._restart_at = None
        self._progress.started()
        self._metrics.query_restarts.inc()
        log.info("query.restarted", failures_in_window=self._policy.recent_failures)
        return True

    def _describe(self, query: StreamingQuery) -> str:
        exception = query.exception()
        if exception is None:
            return "stopped without an error"
        return error_summary("\n".join([str(exception), *failure_causes(exception)]))

    def _failed(self, error: str) -> bool:
        self._metrics.query_up.set(0)
        failing = self._failing_dependencies()
        if failing:
            self._alarm.report(
                "query",
                "query.failed",
                error=error,
                waiting_for={check.name: check.detail for check in failing},
                hint="restarts from its checkpoint when they answer; not counted as a failure",
            )
            self._waiting = True
            self._restart_at = None
            return True
        wait = self._policy.failure(self._clock())
        if wait is None:
            self._alarm.report(
                "query",
                "query.gave_up",
                error=error,
                failures=self._policy.max_failures,
                window_s=self._policy.window_s,
                hint="the service manager restarts vitalwatch; it resumes from its checkpoint",
            )
            return False
        self._alarm.report("query", "query.failed", error=error, restart_in_s=wait)
        self._restart_at = self._clock() + wait
        return True

    def drain(self, timeout_s: float) -> float:
        """Let the running micro-batch finish (at most ``timeout_s``), then stop the query.

        Waits for the batch running now, not for the backlog: under load Spark starts the next
        batch at once, so "no trigger active" may never come. Returns the seconds spent. A batch
        the stop interrupts is re-run from the checkpoint by the next start.
        """
        started = time.monotonic()
        query = self._query
        if query is not None and query.isActive:
            completed = self._progress.batches_since_start
            while (
                time.monotonic() - started < timeout_s
                and query.status.get("isTriggerActive")
                and self._progress.batches_since_start == completed
            ):
                time.sleep(0.05)
            query.stop()
        return time.monotonic() - started
