"""What the streaming query last reported, for readiness, the watchdog and systemd's STATUS.

The listener calls ``progressed`` after each micro-batch and ``idle`` when a trigger found no
new data (Spark reports that every ``spark.sql.streaming.noDataProgressEventInterval``); the
supervisor calls ``started`` when it (re)starts the query. A query stuck inside a batch calls
none of them, so its ``age`` grows: readiness fails and the watchdog pings stop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Throughput:
    batch_id: int = -1
    input_rows_per_second: float = 0.0
    processed_rows_per_second: float = 0.0
    batch_seconds: float = 0.0


class ProgressTracker:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._last: float | None = None
        self._batches_since_start = 0
        self.throughput = Throughput()

    def started(self) -> None:
        with self._lock:
            self._last = self._clock()
            self._batches_since_start = 0

    def progressed(self, throughput: Throughput) -> None:
        with self._lock:
            self._last = self._clock()
            self._batches_since_start += 1
            self.throughput = throughput

    def idle(self) -> None:
        with self._lock:
            self._last = self._clock()

    def age(self) -> float | None:
        """Seconds since the query last reported or was started; None before it ever started."""
        with self._lock:
            return None if self._last is None else self._clock() - self._last

    @property
    def batches_since_start(self) -> int:
        return self._batches_since_start

    def status_line(self, firing: int, restarts: int) -> str:
        t = self.throughput
        return (
            f"{t.processed_rows_per_second:.1f} records/s processed "
            f"({t.input_rows_per_second:.1f}/s in), batch {t.batch_id} took "
            f"{t.batch_seconds:.2f} s; {firing} alerts firing; {restarts} query restarts"
        )
